//! The condition language shared by every probe kind: `<path> <op> [<literal>]`.
//!
//! Examples: `status == 200`, `json.choices[0].message.content contains '4'`,
//! `latency < 300ms`, `header.content-type contains 'json'`, `rss < 200MiB`, `json.error exists`.
//! Parsing is located (file, line, column of the offending token); evaluation is pure.

use std::time::Duration;

use crate::model::Origin;

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
