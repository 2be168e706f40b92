//! What a check found: one [`Finding`] per problem with one deployed file (or directory), and
//! the human wording of each.
//!
//! Owns: the finding kinds, their stable names ([`FindingTag`]), which of them mean the check
//! could not run, and their messages. Must not touch: the file system, verdicts of other
//! suites, or terminal/JUnit formatting (reporters quote [`Finding::message`] as is).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The result of [`crate::check`]: problems in deterministic order (by path, then kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Deployed files compared (clean or not); files outside the roots are not counted.
    pub checked: usize,
    /// Of those, the ones with no finding.
    pub clean: usize,
    pub findings: Vec<Finding>,
}

/// One problem. `path` is the deployed path as the caller named it (lexically normalised),
/// or the deployed directory for directory-level problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: PathBuf,
    #[serde(flatten)]
    pub kind: FindingKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// The deployed file does not exist.
    Missing {
        canonical: String,
    },
    /// A file in a managed directory that no canonical file accounts for.
    Extra {
        dir: PathBuf,
    },
    /// Text content differs; `diff` is unified, canonical (`---`) against deployed (`+++`).
    Differs {
        diff: String,
        truncated: bool,
    },
    /// Content differs and at least one side is binary (a NUL byte in the first 8 KiB, or not
    /// UTF-8), so it is compared by hash.
    BinaryDiffers {
        canonical_sha256: String,
        deployed_sha256: String,
    },
    ModeDiffers {
        expected: u32,
        actual: u32,
    },
    /// A side is larger than the size cap, so it was compared by SHA-256 and the hashes differ
    /// (matching hashes are clean and produce no finding).
    TooLarge {
        bytes: u64,
        limit: u64,
        canonical_sha256: String,
        deployed_sha256: String,
    },
    /// `file` (canonical or deployed) exists but could not be read as a regular file.
    Unreadable {
        file: PathBuf,
        error: String,
    },
    /// The deployed path resolves outside every allowed root; it was neither read nor written.
    OutsideRoots {
        resolved: PathBuf,
    },
    CanonicalMissing {
        canonical: PathBuf,
    },
}

/// The stable name of a finding kind: used by waivers, the ledger and the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingTag {
    Missing,
    Extra,
    Differs,
    BinaryDiffers,
    ModeDiffers,
    TooLarge,
    Unreadable,
    OutsideRoots,
    CanonicalMissing,
}

const TAGS: [(FindingTag, &str); 9] = [
    (FindingTag::Missing, "missing"),
    (FindingTag::Extra, "extra"),
    (FindingTag::Differs, "differs"),
    (FindingTag::BinaryDiffers, "binary_differs"),
    (FindingTag::ModeDiffers, "mode_differs"),
    (FindingTag::TooLarge, "too_large"),
    (FindingTag::Unreadable, "unreadable"),
    (FindingTag::OutsideRoots, "outside_roots"),
    (FindingTag::CanonicalMissing, "canonical_missing"),
];

impl FindingTag {
    pub fn name(self) -> &'static str {
        TAGS.iter()
            .find(|(tag, _)| *tag == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// `true` when the check could not run (verdict `error`: a broken detector is not a
    /// drifted system); `false` for drift.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            FindingTag::Unreadable | FindingTag::OutsideRoots | FindingTag::CanonicalMissing
        )
    }
}

impl fmt::Display for FindingTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The reason names every accepted value, so a spec error can quote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding kind {0:?}; expected one of: {list}", list = TAGS.map(|(_, n)| n).join(", "))]
pub struct UnknownTag(pub String);

impl FromStr for FindingTag {
    type Err = UnknownTag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TAGS.iter()
            .find(|(_, name)| *name == s)
            .map(|(tag, _)| *tag)
            .ok_or_else(|| UnknownTag(s.to_string()))
    }
}

impl FindingKind {
    pub fn tag(&self) -> FindingTag {
        match self {
            FindingKind::Missing { .. } => FindingTag::Missing,
            FindingKind::Extra { .. } => FindingTag::Extra,
            FindingKind::Differs { .. } => FindingTag::Differs,
            FindingKind::BinaryDiffers { .. } => FindingTag::BinaryDiffers,
            FindingKind::ModeDiffers { .. } => FindingTag::ModeDiffers,
            FindingKind::TooLarge { .. } => FindingTag::TooLarge,
            FindingKind::Unreadable { .. } => FindingTag::Unreadable,
            FindingKind::OutsideRoots { .. } => FindingTag::OutsideRoots,
            FindingKind::CanonicalMissing { .. } => FindingTag::CanonicalMissing,
        }
    }
}

impl Finding {
    /// The text a person reads in the terminal, the JSON report and a JUnit failure. A
    /// `Differs` message ends with the whole diff.
    pub fn message(&self) -> String {
        let path = self.path.display();
        match &self.kind {
            FindingKind::Differs { diff, .. } => format!("{path}: {}\n{diff}", self.summary()),
            _ => format!("{path}: {}", self.summary()),
        }
    }

    /// What is wrong with the path, in one line: no path, no diff (reports show those apart).
    pub fn summary(&self) -> String {
        match &self.kind {
            FindingKind::Missing { canonical } => format!("missing (canonical: {canonical})"),
            FindingKind::Extra { dir } => {
                format!("unmanaged file in managed directory {}", dir.display())
            }
            FindingKind::Differs { .. } => "content differs from canonical".to_string(),
            FindingKind::BinaryDiffers {
                canonical_sha256,
                deployed_sha256,
            } => format!(
                "binary content differs from canonical \
                 (sha256 canonical {canonical_sha256}, deployed {deployed_sha256})"
            ),
            FindingKind::ModeDiffers { expected, actual } => {
                format!("mode is {actual:04o}, expected {expected:04o}")
            }
            FindingKind::TooLarge {
                bytes,
                limit,
                canonical_sha256,
                deployed_sha256,
            } => format!(
                "too large to diff ({bytes} bytes, limit {limit}); compared by sha256: \
                 differs (canonical {canonical_sha256}, deployed {deployed_sha256})"
            ),
            FindingKind::Unreadable { file, error } => {
                format!("cannot read {}: {error}", file.display())
            }
            FindingKind::OutsideRoots { resolved } => format!(
                "resolves to {}, outside the allowed roots; not read or written",
                resolved.display()
            ),
            FindingKind::CanonicalMissing { canonical } => {
                format!("canonical source {} does not exist", canonical.display())
            }
        }
    }

    /// The unified diff, for `Differs`.
    pub fn diff(&self) -> Option<&str> {
        match &self.kind {
            FindingKind::Differs { diff, .. } => Some(diff),
            _ => None,
        }
    }
}
