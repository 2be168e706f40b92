//! What the caller asks to calibrate: canonical sources, the deployed files they must match,
//! managed directories, and the limits that keep one comparison cheap.
//!
//! Owns: the input types and their defaults. Must not touch: the file system (the types are
//! plain data, built by the spec layer from a wall and a host profile).

use std::path::PathBuf;
use std::time::Duration;

/// Where the canonical content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Content already rendered by the caller (a template with the host profile applied).
    /// `name` labels it in diffs and messages, e.g. the template's path in the wall.
    Text { name: String, text: String },
    /// A plain file, read as is. A relative path is relative to the process's working
    /// directory, so callers resolve it against the wall first.
    File(PathBuf),
}

impl Source {
    /// How the canonical side is named in diff headers and messages.
    pub fn label(&self) -> String {
        match self {
            Source::Text { name, .. } => name.clone(),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// One canonical source and the one deployed file that must match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub canonical: Source,
    /// Absolute path of the live file; it must resolve inside the allowed roots.
    pub deployed: PathBuf,
    /// Permission bits the deployed file must have (e.g. `0o600`); `None` leaves them unchecked.
    pub mode: Option<u32>,
    /// `false` for a file another tool owns: it is still checked, but `write` refuses to touch
    /// it unless [`crate::WriteOptions::adopt_unmanaged`] is set.
    pub managed: bool,
}

impl Pair {
    /// A managed pair with no mode requirement.
    pub fn new(canonical: Source, deployed: impl Into<PathBuf>) -> Self {
        Pair {
            canonical,
            deployed: deployed.into(),
            mode: None,
            managed: true,
        }
    }
}

/// A managed directory: every canonical file selected by the globs must be deployed at the
/// same relative path, and a selected deployed file with no canonical counterpart is `Extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRule {
    pub canonical: DirSource,
    /// Absolute; it must resolve inside the allowed roots.
    pub deployed_dir: PathBuf,
    /// Globs over the path relative to the directory, `/`-separated, where `*` never crosses
    /// a `/` (use `**`). Empty selects every file.
    pub include: Vec<String>,
    /// Globs like `include`; a file matching any of them is not managed by this rule.
    pub exclude: Vec<String>,
    pub mode: Option<u32>,
    pub managed: bool,
}

/// The canonical side of a managed directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirSource {
    /// A directory of plain files, read as is.
    Dir(PathBuf),
    /// Files the caller already has, as (path relative to the deployed directory, source):
    /// e.g. templates rendered with the host profile.
    Files(Vec<(PathBuf, Source)>),
}

impl DirRule {
    /// A managed rule over a canonical directory, selecting every file, with no mode
    /// requirement.
    pub fn new(canonical_dir: impl Into<PathBuf>, deployed_dir: impl Into<PathBuf>) -> Self {
        DirRule {
            canonical: DirSource::Dir(canonical_dir.into()),
            deployed_dir: deployed_dir.into(),
            include: Vec::new(),
            exclude: Vec::new(),
            mode: None,
            managed: true,
        }
    }
}

/// Caps that keep one comparison bounded in memory and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Files larger than this are compared by SHA-256 instead of diffed.
    pub max_file_bytes: u64,
    /// The diff algorithm stops refining after this long; the diff stays correct but may not
    /// be minimal, and is marked truncated.
    pub diff_timeout: Duration,
    /// Unchanged lines shown around each change.
    pub context_lines: usize,
    /// A rendered diff is cut at a hunk or line boundary once it passes this size.
    pub max_diff_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 8 * 1024 * 1024,
            diff_timeout: Duration::from_millis(500),
            context_lines: 3,
            max_diff_bytes: 256 * 1024,
        }
    }
}
