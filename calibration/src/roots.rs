//! The allowed roots: the only places a deployed file may be read from or written to.
//!
//! Owns: normalising a deployed path (lexical `..`, then symlinks of the part that exists) and
//! deciding whether the result lies inside a root. Must not touch: file contents.

use std::path::{Component, Path, PathBuf};

use crate::error::{CalibrationError, Kind, Result};

/// Where a deployed path really points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    Inside(PathBuf),
    Outside(PathBuf),
}

#[derive(Debug)]
pub(crate) struct Roots {
    resolved: Vec<PathBuf>,
}

impl Roots {
    pub(crate) fn new(roots: &[PathBuf]) -> Result<Self> {
        let resolved = roots
            .iter()
            .map(|root| {
                require_absolute(root)?;
                Ok(resolve(root))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Roots { resolved })
    }

    pub(crate) fn place(&self, path: &Path) -> Placement {
        let real = resolve(path);
        if self.resolved.iter().any(|root| real.starts_with(root)) {
            Placement::Inside(real)
        } else {
            Placement::Outside(real)
        }
    }
}

pub(crate) fn require_absolute(path: &Path) -> Result<()> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(CalibrationError::new(
            Kind::RelativePath,
            "resolve it against the host profile first",
        )
        .at(path))
    }
}

/// Removes `.` and applies `..` without asking the file system; `..` at `/` stays at `/`.
pub(crate) fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Lexically normalises, then resolves symlinks in the longest prefix that exists. A dangling
/// symlink stays as a name: it is reported, never followed.
fn resolve(path: &Path) -> PathBuf {
    let normal = normalize_lexically(path);
    // `ancestors` is finite (one per component), so this search is bounded.
    for prefix in normal.ancestors() {
        if let Ok(real) = prefix.canonicalize() {
            return match normal.strip_prefix(prefix) {
                Ok(rest) if !rest.as_os_str().is_empty() => real.join(rest),
                _ => real,
            };
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_components_are_applied_lexically() {
        assert_eq!(
            normalize_lexically(Path::new("/srv/a/./b/../../etc/x")),
            PathBuf::from("/srv/etc/x")
        );
        assert_eq!(
            normalize_lexically(Path::new("/../../etc")),
            PathBuf::from("/etc")
        );
    }
}
