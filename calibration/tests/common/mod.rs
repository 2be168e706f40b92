//! Helpers shared by the calibration tests: a temporary world with a canonical tree and an
//! allowed deployed root.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use auditwall_calibration::{Pair, Source};

pub struct World {
    pub dir: tempfile::TempDir,
    /// Canonical files live here (outside the roots on purpose).
    pub canonical: PathBuf,
    /// The one allowed root.
    pub root: PathBuf,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("create tempdir");
        // Resolved once so that expected paths in assertions match what the library reports
        // even where the temp dir sits behind a symlink.
        let base = dir.path().canonicalize().expect("canonicalize tempdir");
        let canonical = base.join("canonical");
        let root = base.join("deployed");
        fs::create_dir_all(&canonical).expect("create canonical dir");
        fs::create_dir_all(&root).expect("create deployed root");
        World {
            dir,
            canonical,
            root,
        }
    }

    pub fn roots(&self) -> Vec<PathBuf> {
        vec![self.root.clone()]
    }

    pub fn base(&self) -> PathBuf {
        self.root.parent().expect("root has a parent").to_path_buf()
    }
}

pub fn put(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(path, bytes).expect("write file");
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

pub fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

pub fn text_pair(name: &str, text: &str, deployed: &Path) -> Pair {
    Pair::new(
        Source::Text {
            name: name.to_string(),
            text: text.to_string(),
        },
        deployed,
    )
}
