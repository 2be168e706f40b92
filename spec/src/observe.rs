//! Measured observations: what a probe saw, by name, beside the verdict.
//!
//! Probes fill an [`Observations`]; conditions read it; reporters print it. The names each
//! probe kind produces are fixed here so the loader can reject a condition about a value a
//! probe never measures (with "did you mean").

use std::collections::BTreeMap;
use std::time::Duration;

/// One measured value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Duration(Duration),
    /// A size in bytes (RSS, file size).
    Bytes(u64),
    /// A parsed JSON document (http `json`).
    Json(serde_json::Value),
    /// A string map with lowercase keys (http `header`).
    Map(BTreeMap<String, String>),
}

/// Everything a probe measured, keyed by observation name (see [`names_for`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    pub values: BTreeMap<String, Value>,
}

impl Observations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_string(), value);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }
}

/// Observation names each probe kind produces. Conditions may only name these roots.
pub fn names_for(kind: &str) -> &'static [&'static str] {
    match kind {
        "http" => &["status", "latency", "header", "body", "json", "size"],
        "tcp" => &["connected", "latency"],
        "process" => &[
            "running",
            "pid",
            "count",
            "rss",
            "exe",
            "exe_current",
            "uptime",
        ],
        "port" => &["listening", "pid", "owner", "owner_matches"],
        "file" => &["exists", "mode", "size", "sha256", "age"],
        "command" => &["exit", "stdout", "stderr", "duration"],
        "model" => &[
            "runs",
            "passes",
            "pass_rate",
            "failures",
            "served_by",
            "latency",
            "status",
        ],
        _ => &[],
    }
}

/// Roots whose conditions are budgets: failing one is `drift`, not `fail`.
pub const BUDGET_NAMES: &[&str] = &["latency", "duration", "rss"];
