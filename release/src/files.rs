//! The few file operations every step shares: hashing a file and writing a file that must not
//! exist yet.
//!
//! Owns: how bundle files are read and created. Must not touch: what goes into them.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Kind, ReleaseError, Result};

/// Lowercase hex sha256 of a file, read in chunks so a large report never sits in memory.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| ReleaseError::io(path, "cannot open", &e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReleaseError::io(path, "cannot read", &e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Creates `path` with `mode` and writes `bytes` to disk. Refuses an existing file (checked by
/// the create itself, so no race can slip one in), and removes a half-written file on failure
/// so a failed step leaves nothing that looks finished.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    // The mode is given to open(2): a private key is never readable by others, not even for
    // the moment a chmod after writing would take.
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(ReleaseError::new(Kind::AlreadyExists, "the file already exists").at(path))
        }
        Err(e) => return Err(ReleaseError::io(path, "cannot create", &e)),
    };
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        // The write error is the one worth reporting; a failed cleanup cannot be helped here.
        let _ = std::fs::remove_file(path);
        return Err(ReleaseError::io(path, "cannot write", &e));
    }
    Ok(())
}
