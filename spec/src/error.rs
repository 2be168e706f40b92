//! The one error type of this crate and its one rendering.
//!
//! Owns: [`SpecError`], [`SpecErrorKind`], translation of serde-saphyr errors into located
//! messages, and "did you mean" suggestions. Must not touch: exit codes or terminal output
//! (the harness decides those); every message is rendered here and nowhere else.

use crate::model::Origin;

/// What went wrong, for callers that branch on it (messages are for humans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecErrorKind {
    /// The file exceeds [`crate::MAX_SOURCE_BYTES`].
    TooLarge,
    /// The file is not UTF-8.
    InvalidUtf8,
    /// Not valid YAML, or YAML we refuse (duplicate keys, tags, budget breaches, several documents).
    Yaml,
    UnknownKey,
    WrongType,
    MissingKey,
    DuplicateId,
    /// A `needs` entry names no check.
    UnknownReference,
    Cycle,
    BadDuration,
    BadSize,
    BadCondition,
    /// A `${...}` could not be resolved.
    Interpolation,
    /// A value of the right type that is not allowed (range, charset, exclusive keys).
    Invalid,
}

/// A located spec error. `line == 0` means the location is unknown (rendered explicitly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct SpecError {
    pub kind: SpecErrorKind,
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: u32,
    /// 1-based; 0 when unknown.
    pub column: u32,
    /// The offending key or value, when there is one.
    pub key: Option<String>,
    pub message: String,
    /// Rendered in parentheses after the message, e.g. "did you mean `expect`?".
    pub hint: Option<String>,
}

impl SpecError {
    pub fn at(kind: SpecErrorKind, origin: &Origin, message: impl Into<String>) -> Self {
        SpecError {
            kind,
            file: origin.file.clone(),
            line: origin.line,
            column: origin.column,
            key: None,
            message: message.into(),
            hint: None,
        }
    }

    /// An error about the whole file (size, encoding), where a line would be meaningless.
    pub(crate) fn whole_file(kind: SpecErrorKind, file: &str, message: impl Into<String>) -> Self {
        SpecError::at(
            kind,
            &Origin {
                file: file.to_string(),
                line: 0,
                column: 0,
            },
            message,
        )
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub(crate) fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    fn render(&self) -> String {
        let mut out = if self.line == 0 {
            format!("{} (location unknown): {}", self.file, self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        };
        if let Some(hint) = &self.hint {
            out.push_str(&format!(" ({hint})"));
        }
        out
    }
}

/// Sorts errors by file, line, column so output is stable whatever order checks ran in.
pub(crate) fn sort_errors(errors: &mut [SpecError]) {
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// "did you mean `x`?" for the closest candidate, if any is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(wrong, candidate);
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}
