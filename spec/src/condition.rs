//! The condition language shared by every probe kind: `<path> <op> [<literal>]`.
//!
//! Examples: `status == 200`, `json.choices[0].message.content contains '4'`,
//! `latency < 300ms`, `header.content-type contains 'json'`, `rss < 200MiB`, `json.error exists`.
//! Parsing is located (file, line, column of the offending token); evaluation is pure.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{did_you_mean, SpecError, SpecErrorKind};
use crate::model::Origin;
use crate::observe::{Observations, Value};
use crate::units::{parse_duration, parse_size, render_duration, render_size};

/// A parsed, validated condition.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The source text, exactly as written (used in reports).
    pub text: String,
    pub path: Path,
    pub op: Op,
    /// `None` only for the unary `exists` / `!exists`.
    pub expected: Option<Literal>,
    pub origin: Origin,
}

/// `root(.key | [index])*`, e.g. `json.choices[0].message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub root: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    Matches(regex::Regex),
    Exists,
    NotExists,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Duration(Duration),
    Bytes(u64),
}

/// The outcome of one condition against one set of observations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Judgement {
    /// The condition text as written.
    pub condition: String,
    pub passed: bool,
    /// The actual value rendered for humans (`"503"`, `"1.2s"`, `"<missing>"`), if any.
    pub actual: Option<String>,
    /// True when the condition is a budget (latency, duration, rss): failing it is `drift`.
    pub budget: bool,
    /// Why it failed, when `passed` is false (e.g. "expected 200, got 503").
    pub reason: Option<String>,
}

/// What the loader knows statically about a root's type, to reject `latency < 'abc'` early.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RootType {
    Duration,
    Size,
    Number,
    Bool,
    /// Text, JSON or a header map: checked at evaluation time.
    Dynamic,
}

impl RootType {
    fn of(root: &str) -> RootType {
        match root {
            "latency" | "duration" | "age" | "uptime" => RootType::Duration,
            "rss" | "size" => RootType::Size,
            "status" | "exit" | "pid" | "count" | "runs" | "passes" | "pass_rate" => {
                RootType::Number
            }
            "connected" | "running" | "listening" | "exists" | "exe_current" | "owner_matches" => {
                RootType::Bool
            }
            _ => RootType::Dynamic,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RootType::Duration => "a duration",
            RootType::Size => "a size",
            RootType::Number => "a number",
            RootType::Bool => "a boolean",
            RootType::Dynamic => "a value",
        }
    }
}

const OPS: &str = "==, !=, <, <=, >, >=, contains, !contains, matches, exists, !exists";

/// Parses and type-checks one condition for a probe kind. Errors are located at `origin`.
pub fn parse_condition(
    text: &str,
    probe_kind: &str,
    origin: Origin,
) -> Result<Condition, SpecError> {
    let fail = |reason: String, hint: Option<String>| {
        SpecError::at(
            SpecErrorKind::BadCondition,
            &origin,
            format!("bad condition `{text}`: {reason}"),
        )
        .with_key(text)
        .with_hint(hint)
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(fail("empty condition".to_string(), None));
    }
    let (path_text, rest) = split_token(trimmed);
    let path = parse_path(path_text).map_err(|r| fail(r, None))?;
    let names = crate::observe::names_for(probe_kind);
    if names.is_empty() {
        return Err(fail(format!("unknown probe kind `{probe_kind}`"), None));
    }
    if !names.contains(&path.root.as_str()) {
        let hint = did_you_mean(&path.root, names.iter().copied()).or_else(|| {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            Some(format!("{probe_kind} probes measure {}", list.join(", ")))
        });
        return Err(fail(
            format!("`{}` is not measured by {probe_kind} probes", path.root),
            hint,
        ));
    }
    let root_type = RootType::of(&path.root);
    if root_type != RootType::Dynamic && !path.segments.is_empty() {
        return Err(fail(format!("`{}` has no fields", path.root), None));
    }
    let path = if path.root == "header" {
        match path.segments.as_slice() {
            [] => path,
            [Segment::Key(name)] => Path {
                root: path.root,
                segments: vec![Segment::Key(name.to_ascii_lowercase())],
            },
            _ => {
                return Err(fail(
                    "`header` takes one name, e.g. `header.content-type`".to_string(),
                    None,
                ))
            }
        }
    } else {
        path
    };

    let (op_text, rest) = split_token(rest);
    // `None` is `matches`: its regex is compiled once the literal is known.
    let op = match op_text {
        "==" => Some(Op::Eq),
        "!=" => Some(Op::Ne),
        "<" => Some(Op::Lt),
        "<=" => Some(Op::Le),
        ">" => Some(Op::Gt),
        ">=" => Some(Op::Ge),
        "contains" => Some(Op::Contains),
        "!contains" => Some(Op::NotContains),
        "matches" => None,
        "exists" => Some(Op::Exists),
        "!exists" => Some(Op::NotExists),
        "" => {
            return Err(fail(
                "missing operator".to_string(),
                Some(format!("use one of {OPS}")),
            ))
        }
        other => {
            return Err(fail(
                format!("unknown operator `{other}`"),
                Some(format!("use one of {OPS}")),
            ))
        }
    };
    let rest = rest.trim();
    if let Some(op @ (Op::Exists | Op::NotExists)) = op {
        if !rest.is_empty() {
            return Err(fail(
                format!("`{op_text}` takes no value, found `{rest}`"),
                None,
            ));
        }
        return Ok(Condition {
            text: text.to_string(),
            path,
            op,
            expected: None,
            origin,
        });
    }
    if rest.is_empty() {
        return Err(fail(format!("missing value after `{op_text}`"), None));
    }
    let literal = parse_literal(rest).map_err(|r| fail(r, None))?;
    let op = match op {
        Some(op) => op,
        None => {
            let Literal::Text(pattern) = &literal else {
                return Err(fail(
                    format!("`matches` needs a quoted regex, found `{rest}`"),
                    None,
                ));
            };
            let re = regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or_default().trim().to_string();
                    fail(format!("bad regex `{pattern}`"), Some(last))
                })?;
            Op::Matches(re)
        }
    };
    type_check(root_type, &path.root, &op, op_text, &literal, rest).map_err(|(r, h)| fail(r, h))?;
    Ok(Condition {
        text: text.to_string(),
        path,
        op,
        expected: Some(literal),
        origin,
    })
}

fn split_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn parse_path(text: &str) -> Result<Path, String> {
    let is_key = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let root_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    if root_len == 0 {
        return Err(format!("expected a value name, found `{text}`"));
    }
    let mut path = Path {
        root: text[..root_len].to_string(),
        segments: Vec::new(),
    };
    let mut rest = &text[root_len..];
    // Every iteration consumes at least two bytes, so this ends.
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let len = after.find(|c: char| !is_key(c)).unwrap_or(after.len());
            if len == 0 {
                return Err(format!("bad path `{text}`: expected a key after `.`"));
            }
            path.segments.push(Segment::Key(after[..len].to_string()));
            rest = &after[len..];
        } else if let Some(quoted) = rest
            .strip_prefix("['")
            .map(|a| (a, '\''))
            .or_else(|| rest.strip_prefix("[\"").map(|a| (a, '"')))
        {
            // `['thermostat.main.target']`: a key that holds dots or other characters.
            let (after, quote) = quoted;
            let close = after
                .find(quote)
                .filter(|&i| after[i + 1..].starts_with(']'))
                .ok_or_else(|| {
                    format!("bad path `{text}`: a quoted key needs `{quote}]` after it")
                })?;
            path.segments.push(Segment::Key(after[..close].to_string()));
            rest = &after[close + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| format!("bad path `{text}`: missing `]`"))?;
            let index = after[..close].parse::<usize>().map_err(|_| {
                format!("bad path `{text}`: `[{}]` is not an index", &after[..close])
            })?;
            path.segments.push(Segment::Index(index));
            rest = &after[close + 1..];
        } else {
            return Err(format!(
                "bad path `{text}`: expected `.key` or `[index]` at `{rest}`"
            ));
        }
    }
    Ok(path)
}

fn parse_literal(text: &str) -> Result<Literal, String> {
    if let Some(quote) = text.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let mut out = String::new();
        let mut chars = text[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    let after = &text[1 + i + 1..];
                    if !after.trim().is_empty() {
                        return Err(format!(
                            "unexpected `{}` after the closing quote",
                            after.trim()
                        ));
                    }
                    return Ok(Literal::Text(out));
                }
                // Backslash escapes only in double quotes, as in YAML.
                '\\' if quote == '"' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err(format!("missing closing {quote} in `{text}`"));
    }
    match text {
        "true" => return Ok(Literal::Bool(true)),
        "false" => return Ok(Literal::Bool(false)),
        "null" => return Ok(Literal::Null),
        _ => {}
    }
    let starts_numeric = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit());
    if !starts_numeric {
        return Err(format!("bad value `{text}`: quote text, e.g. '{text}'"));
    }
    if let Ok(n) = text.parse::<f64>() {
        if n.is_finite() {
            return Ok(Literal::Number(n));
        }
    }
    if let Ok(d) = parse_duration(text) {
        return Ok(Literal::Duration(d));
    }
    if let Ok(b) = parse_size(text) {
        return Ok(Literal::Bytes(b));
    }
    Err(format!(
        "bad value `{text}`: not a number, a duration (e.g. 2s) or a size (e.g. 200MiB)"
    ))
}

fn literal_kind(l: &Literal) -> &'static str {
    match l {
        Literal::Null => "null",
        Literal::Bool(_) => "a boolean",
        Literal::Number(_) => "a number",
        Literal::Text(_) => "text",
        Literal::Duration(_) => "a duration",
        Literal::Bytes(_) => "a size",
    }
}

type Reason = (String, Option<String>);

fn type_check(
    root_type: RootType,
    root: &str,
    op: &Op,
    op_text: &str,
    literal: &Literal,
    written: &str,
) -> Result<(), Reason> {
    let ordering = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
    let textual = matches!(op, Op::Contains | Op::NotContains | Op::Matches(_));
    if root_type == RootType::Dynamic {
        if ordering && matches!(literal, Literal::Bool(_) | Literal::Null) {
            return Err((
                format!("`{op_text}` cannot order {}", literal_kind(literal)),
                None,
            ));
        }
        return Ok(());
    }
    if textual {
        return Err((
            format!(
                "`{op_text}` needs text, but `{root}` is {}",
                root_type.describe()
            ),
            None,
        ));
    }
    let fits = matches!(
        (root_type, literal),
        (RootType::Duration, Literal::Duration(_))
            | (RootType::Size, Literal::Bytes(_))
            | (RootType::Size, Literal::Number(_))
            | (RootType::Number, Literal::Number(_))
            | (RootType::Bool, Literal::Bool(_))
    );
    if !fits {
        let hint = match (root_type, literal) {
            (RootType::Duration, Literal::Number(_)) => {
                Some("durations need a unit, e.g. 5s".to_string())
            }
            _ => None,
        };
        return Err((
            format!(
                "`{root}` is {} but `{written}` is {}",
                root_type.describe(),
                literal_kind(literal)
            ),
            hint,
        ));
    }
    if root_type == RootType::Bool && ordering {
        return Err((
            format!("`{op_text}` cannot order booleans; use == or !="),
            None,
        ));
    }
    Ok(())
}

impl Op {
    pub fn as_str(&self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::NotContains => "!contains",
            Op::Matches(_) => "matches",
            Op::Exists => "exists",
            Op::NotExists => "!exists",
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.root)?;
        for s in &self.segments {
            match s {
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Number(n) => f.write_str(&render_number(*n)),
            Literal::Text(t) => write!(f, "'{t}'"),
            Literal::Duration(d) => f.write_str(&render_duration(*d)),
            Literal::Bytes(b) => f.write_str(&render_size(*b)),
        }
    }
}

/// The longest text shown in a judgement before it is cut with `…`.
const MAX_RENDERED_CHARS: usize = 200;

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_RENDERED_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_RENDERED_CHARS).collect();
    out.push('…');
    out
}

fn render_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Renders a measured value for humans: `503`, `1.2s`, `12.3MiB`, `"text"`, compact JSON.
pub fn render_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => render_number(*n),
        Value::Text(t) => format!("\"{}\"", truncate(t)),
        Value::Duration(d) => render_duration(*d),
        Value::Bytes(b) => render_size(*b),
        Value::Json(j) => truncate(&j.to_string()),
        Value::Map(m) => truncate(&serde_json::to_string(m).unwrap_or_default()),
    }
}

/// A resolved value, with JSON scalars flattened so they compare like measured ones.
enum Actual {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Duration(Duration),
    Bytes(u64),
    Array(Vec<serde_json::Value>),
    Object(serde_json::Map<String, serde_json::Value>),
    Map(BTreeMap<String, String>),
}

impl Actual {
    fn from_value(v: Value) -> Actual {
        match v {
            Value::Null => Actual::Null,
            Value::Bool(b) => Actual::Bool(b),
            Value::Number(n) => Actual::Number(n),
            Value::Text(t) => Actual::Text(t),
            Value::Duration(d) => Actual::Duration(d),
            Value::Bytes(b) => Actual::Bytes(b),
            Value::Map(m) => Actual::Map(m),
            Value::Json(j) => Actual::from_json(j),
        }
    }

    fn from_json(j: serde_json::Value) -> Actual {
        use serde_json::Value as J;
        match j {
            J::Null => Actual::Null,
            J::Bool(b) => Actual::Bool(b),
            J::Number(n) => Actual::Number(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Actual::Text(s),
            J::Array(a) => Actual::Array(a),
            J::Object(o) => Actual::Object(o),
        }
    }

    fn equals(&self, lit: &Literal) -> bool {
        match (self, lit) {
            (Actual::Null, Literal::Null) => true,
            (Actual::Bool(a), Literal::Bool(b)) => a == b,
            (Actual::Number(a), Literal::Number(b)) => a == b,
            (Actual::Text(a), Literal::Text(b)) => a == b,
            (Actual::Duration(a), Literal::Duration(b)) => a == b,
            (Actual::Bytes(a), Literal::Bytes(b)) => a == b,
            (Actual::Bytes(a), Literal::Number(b)) => (*a as f64) == *b,
            _ => false,
        }
    }

    fn order(&self, lit: &Literal) -> Option<std::cmp::Ordering> {
        match (self, lit) {
            (Actual::Number(a), Literal::Number(b)) => a.partial_cmp(b),
            (Actual::Text(a), Literal::Text(b)) => Some(a.as_str().cmp(b.as_str())),
            (Actual::Duration(a), Literal::Duration(b)) => Some(a.cmp(b)),
            (Actual::Bytes(a), Literal::Bytes(b)) => Some(a.cmp(b)),
            (Actual::Bytes(a), Literal::Number(b)) => (*a as f64).partial_cmp(b),
            _ => None,
        }
    }

    /// Substring for text, element for arrays, key for objects and header maps.
    fn contains(&self, lit: &Literal) -> Option<bool> {
        match (self, lit) {
            (Actual::Text(t), Literal::Text(s)) => Some(t.contains(s.as_str())),
            (Actual::Array(items), lit) => Some(
                items
                    .iter()
                    .any(|i| Actual::from_json(i.clone()).equals(lit)),
            ),
            (Actual::Object(o), Literal::Text(k)) => Some(o.contains_key(k)),
            (Actual::Map(m), Literal::Text(k)) => Some(m.contains_key(&k.to_ascii_lowercase())),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Actual::Null => "null",
            Actual::Bool(_) => "a boolean",
            Actual::Number(_) => "a number",
            Actual::Text(_) => "text",
            Actual::Duration(_) => "a duration",
            Actual::Bytes(_) => "a size",
            Actual::Array(_) => "a list",
            Actual::Object(_) => "an object",
            Actual::Map(_) => "a map",
        }
    }
}

impl Condition {
    /// True when the root is a budget (latency, duration, rss): failing it is `drift`.
    pub fn is_budget(&self) -> bool {
        crate::observe::BUDGET_NAMES.contains(&self.path.root.as_str())
    }

    fn resolve(&self, obs: &Observations) -> Option<Value> {
        let mut value = obs.get(&self.path.root)?.clone();
        for segment in &self.path.segments {
            value = match (value, segment) {
                (Value::Json(j), Segment::Key(k)) => Value::Json(j.get(k)?.clone()),
                (Value::Json(j), Segment::Index(i)) => Value::Json(j.get(*i)?.clone()),
                (Value::Map(m), Segment::Key(k)) => Value::Text(m.get(k)?.clone()),
                _ => return None,
            };
        }
        Some(value)
    }

    /// Judges the observations. Never panics; a missing value fails (except for `!exists`).
    pub fn evaluate(&self, obs: &Observations) -> Judgement {
        let expected = match &self.expected {
            Some(lit) => format!("{} {lit}", self.op.as_str()),
            None => self.op.as_str().to_string(),
        };
        let judge = |passed: bool, actual: String, reason: Option<String>| Judgement {
            condition: self.text.clone(),
            passed,
            reason: if passed { None } else { reason },
            actual: Some(actual),
            budget: self.is_budget(),
        };
        let Some(value) = self.resolve(obs) else {
            let passed = matches!(self.op, Op::NotExists);
            return judge(
                passed,
                "<missing>".to_string(),
                Some(format!(
                    "expected `{}` {expected}, but it is missing",
                    self.path
                )),
            );
        };
        let rendered = render_value(&value);
        let got = format!("expected {expected}, got {rendered}");
        let actual = Actual::from_value(value);
        let Some(lit) = &self.expected else {
            // Unary: the value is present.
            let passed = matches!(self.op, Op::Exists);
            return judge(
                passed,
                rendered.clone(),
                Some(format!(
                    "expected `{}` not to exist, got {rendered}",
                    self.path
                )),
            );
        };
        let mismatch = || {
            Some(format!(
                "{got} ({} cannot be compared with {})",
                actual.kind(),
                literal_kind(lit)
            ))
        };
        use std::cmp::Ordering::*;
        let (passed, reason) = match &self.op {
            Op::Eq => (actual.equals(lit), Some(got.clone())),
            Op::Ne => (!actual.equals(lit), Some(got.clone())),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match actual.order(lit) {
                Some(ord) => {
                    let passed = match self.op {
                        Op::Lt => ord == Less,
                        Op::Le => ord != Greater,
                        Op::Gt => ord == Greater,
                        _ => ord != Less,
                    };
                    (passed, Some(got.clone()))
                }
                None => (false, mismatch()),
            },
            Op::Contains | Op::NotContains => match actual.contains(lit) {
                Some(c) => (c == matches!(self.op, Op::Contains), Some(got.clone())),
                None => (false, mismatch()),
            },
            Op::Matches(re) => match &actual {
                Actual::Text(t) => (re.is_match(t), Some(got.clone())),
                _ => (false, mismatch()),
            },
            Op::Exists | Op::NotExists => (matches!(self.op, Op::Exists), Some(got.clone())),
        };
        judge(passed, rendered, reason)
    }
}
