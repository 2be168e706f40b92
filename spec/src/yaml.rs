//! The one place YAML is parsed: hardened serde-saphyr options and error translation.
//!
//! Owns: parser options (strict booleans, tags rejected, duplicate keys rejected, budget) and
//! the mapping of serde-saphyr errors to [`SpecError`]s with our wording.
//! Must not touch: the meaning of any document; callers decide the shapes.

use serde::de::DeserializeOwned;
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

use crate::error::{did_you_mean, SpecError, SpecErrorKind};
use crate::model::Origin;
use crate::source::SourceFile;

fn options() -> serde_saphyr::Options {
    // Never disable the budget or raise max_depth: deep nesting can overflow a test thread's stack.
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_nodes: 100_000,
            max_aliases: 1_000,
            max_documents: 1,
            flow_nesting_limit: 32,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
        },
        strict_booleans: true,
        reject_unsupported_tags: true,
        reject_tagged_field_names: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    }
}

/// A located value from the YAML, converted to our [`Origin`].
pub(crate) fn origin(file: &str, loc: &serde_saphyr::Location) -> Origin {
    Origin {
        file: file.to_string(),
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
    }
}

pub(crate) fn span_origin<T>(file: &str, s: &serde_saphyr::Spanned<T>) -> Origin {
    origin(file, &s.referenced)
}

/// Parses one document. `context(line, column)` names the enclosing thing (e.g. "in check
/// `a`") for messages that would otherwise only say which key was wrong.
pub(crate) fn parse<T: DeserializeOwned>(
    src: &SourceFile,
    known_keys_hint: &[&str],
    context: &dyn Fn(u32, u32) -> String,
) -> Result<T, SpecError> {
    serde_saphyr::from_str_with_options(&src.text, options())
        .map_err(|e| translate(src, &e, known_keys_hint, context))
}

/// Parses for context lookups only; errors are irrelevant there.
pub(crate) fn parse_quietly<T: DeserializeOwned>(src: &SourceFile) -> Option<T> {
    serde_saphyr::from_str_with_options(&src.text, options()).ok()
}

fn innermost(err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    let mut err = err.without_snippet();
    // Aliases wrap the real error; the depth is bounded by the alias replay stack limit.
    for _ in 0..128 {
        match err {
            serde_saphyr::Error::AliasError { error, .. } => err = error.without_snippet(),
            _ => break,
        }
    }
    err
}

fn translate(
    src: &SourceFile,
    err: &serde_saphyr::Error,
    known_keys_hint: &[&str],
    context: &dyn Fn(u32, u32) -> String,
) -> SpecError {
    use serde_saphyr::Error as E;
    let err = innermost(err);
    let at = err
        .location()
        .map(|l| origin(&src.path, &l))
        .unwrap_or(Origin {
            file: src.path.clone(),
            line: 0,
            column: 0,
        });
    let ctx = context(at.line, at.column);
    let key = key_before(&src.text, at.line, at.column);
    let for_key = key
        .as_ref()
        .map(|k| format!(" for `{k}`"))
        .unwrap_or_default();
    let found = token_at(&src.text, at.line, at.column);
    let (kind, message, hint, key) = match err {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let mut candidates: Vec<&str> = expected.to_vec();
            candidates.extend(known_keys_hint);
            let hint = if known_keys_hint.contains(&field.as_str()) {
                Some(format!("`{field}` is not supported yet"))
            } else {
                did_you_mean(field, candidates)
            };
            (
                SpecErrorKind::UnknownKey,
                format!("unknown key `{field}`{ctx}"),
                hint,
                Some(field.clone()),
            )
        }
        E::SerdeMissingField { field, .. } => (
            SpecErrorKind::MissingKey,
            format!("missing key `{field}`{ctx}"),
            None,
            Some(field.to_string()),
        ),
        E::InvalidBooleanStrict { .. } => (
            SpecErrorKind::WrongType,
            format!("wrong type{for_key}{ctx}: expected `true` or `false`, found `{found}`"),
            None,
            key,
        ),
        E::InvalidScalar { ty, .. } => (
            SpecErrorKind::WrongType,
            format!(
                "wrong type{for_key}{ctx}: expected {}, found `{found}`",
                describe_type(ty)
            ),
            None,
            key,
        ),
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => (
            SpecErrorKind::WrongType,
            format!("wrong type{for_key}{ctx}: expected {expected}, found {unexpected}"),
            None,
            key,
        ),
        E::Unexpected { expected, .. } => (
            SpecErrorKind::WrongType,
            format!(
                "wrong type{for_key}{ctx}: expected {}, found `{found}`",
                describe_expected(expected)
            ),
            None,
            key,
        ),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let list: Vec<String> = expected.iter().map(|v| format!("`{v}`")).collect();
            (
                SpecErrorKind::Invalid,
                format!("unknown value `{variant}`{for_key}{ctx}"),
                did_you_mean(variant, expected.iter().copied())
                    .or_else(|| Some(format!("use one of {}", list.join(", ")))),
                key,
            )
        }
        E::NullIntoString { .. } => (
            SpecErrorKind::WrongType,
            format!("wrong type{for_key}{ctx}: expected a string, found nothing"),
            None,
            key,
        ),
        E::DuplicateMappingKey { key: dup, .. } => (
            SpecErrorKind::Yaml,
            match dup {
                Some(k) => format!("duplicate key `{k}`"),
                None => "duplicate key".to_string(),
            },
            None,
            dup.clone(),
        ),
        E::UnsupportedTag { tag, .. } | E::TaggedStructFieldName { tag, .. } => (
            SpecErrorKind::Yaml,
            format!("unsupported YAML tag `{tag}`"),
            Some("tags are not allowed in walls".to_string()),
            None,
        ),
        E::MultipleDocuments { .. } => (
            SpecErrorKind::Yaml,
            "more than one YAML document; a file holds exactly one".to_string(),
            None,
            None,
        ),
        E::Budget { breach, .. } => (SpecErrorKind::Yaml, budget_message(breach), None, None),
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => (
            SpecErrorKind::Yaml,
            "aliases expand to too much data (is this an alias bomb?)".to_string(),
            None,
            None,
        ),
        E::Message { msg, .. } => (SpecErrorKind::Invalid, format!("{msg}{ctx}"), None, key),
        other => {
            let detail = UserMessageFormatter.format_message(other);
            // The parser reports flow nesting past its limit in its own words.
            let message = if detail.contains("recursion limit exceeded") {
                budget_message(&serde_saphyr::budget::BudgetBreach::Depth { depth: 0 })
            } else {
                format!("invalid YAML: {detail}")
            };
            (SpecErrorKind::Yaml, message, None, None)
        }
    };
    let mut e = SpecError::at(kind, &at, message).with_hint(hint);
    e.key = key;
    e
}

fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Depth { .. } => "nesting is deeper than 32 levels".to_string(),
        B::Nodes { .. } => "more than 100000 YAML nodes".to_string(),
        B::Aliases { .. } | B::AliasAnchorRatio { .. } => {
            "too many aliases (is this an alias bomb?)".to_string()
        }
        B::Documents { .. } => "more than one YAML document; a file holds exactly one".to_string(),
        other => format!("input exceeds the parser budget ({other:?})"),
    }
}

fn describe_expected(expected: &str) -> &str {
    match expected {
        "sequence start" => "a list",
        "mapping start" => "a mapping",
        "string scalar" => "a string",
        other => other,
    }
}

fn describe_type(ty: &str) -> &str {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative whole number",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" => "`true` or `false`",
        other => other,
    }
}

fn line_text(text: &str, line: u32) -> Option<&str> {
    text.lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)
}

/// The scalar at a location, for "found `x`" (up to the end of a plain scalar).
fn token_at(text: &str, line: u32, column: u32) -> String {
    let Some(l) = line_text(text, line) else {
        return String::new();
    };
    let start = usize::try_from(column).unwrap_or(1).saturating_sub(1);
    let mut out = String::new();
    let mut depth = 0usize;
    // A flow collection is shown whole (`[a]`), a plain scalar up to its delimiter.
    for c in l.chars().skip(start).take(60) {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(c);
                    break;
                }
            }
            ',' | ']' | '}' | '#' if depth == 0 => break,
            _ => {}
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// The mapping key written just before a value's location (`retries: x` → `retries`).
/// serde does not say which field a type error belongs to; the source text does.
fn key_before(text: &str, line: u32, column: u32) -> Option<String> {
    let l = line_text(text, line)?;
    let start = usize::try_from(column).ok()?.checked_sub(1)?;
    let before: String = l.chars().take(start).collect();
    let before = before.trim_end().strip_suffix(':')?;
    let key: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Parses any document with the same hardened options and error wording as specs — for
/// other YAML auditwall reads (e.g. the reference system's deployed configs).
pub fn parse_document<T: DeserializeOwned>(src: &SourceFile) -> Result<T, SpecError> {
    parse(src, &[], &|_, _| String::new())
}
