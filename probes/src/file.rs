//! The `file` probe: does a path exist, and what is it now?
//!
//! Owns: reading a path's metadata (symlinks followed) and streaming a SHA-256 of regular
//! files up to [`HASH_CAP`].
//! Must not touch: the file's contents beyond hashing them, or anything it points to.
//!
//! A missing path is a measurement (`exists` false); a path the probe may not inspect is a
//! broken detector. Directories and files over the cap get every observation but `sha256`.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use auditwall_spec::{FileProbe, Observations, Value};
use sha2::{Digest, Sha256};

use crate::ProbeError;

/// Hashing is streamed, but a probe still must not read a disk image every minute.
const HASH_CAP: u64 = 256 * 1024 * 1024;

pub(crate) async fn run(probe: &FileProbe, timeout: Duration) -> Result<Observations, ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let path = probe.path.clone();
    // The hashing thread cannot be cancelled from outside; it checks this flag between reads
    // so a timed-out probe stops reading soon after instead of hashing on in the background.
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancelled);
    let what = format!("reading {}", probe.path);
    let result = crate::blocking(deadline, timeout, &what, move || measure(&path, &flag)).await;
    cancelled.store(true, Ordering::Relaxed);
    result
}

fn measure(path: &str, cancelled: &AtomicBool) -> Result<Observations, ProbeError> {
    let mut obs = Observations::new();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            obs.set("exists", Value::Bool(false));
            return Ok(obs);
        }
        Err(e) => return Err(ProbeError::detector(format!("cannot stat {path}: {e}"))),
    };
    obs.set("exists", Value::Bool(true));
    obs.set(
        "mode",
        Value::Text(format!("{:04o}", meta.permissions().mode() & 0o7777)),
    );
    obs.set("size", Value::Bytes(meta.len()));
    let modified = meta.modified().map_err(|e| {
        ProbeError::detector(format!("cannot read the modification time of {path}: {e}"))
    })?;
    // A clock that runs behind the file (future mtime) makes the file brand new, not an error.
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or(Duration::ZERO);
    obs.set("age", Value::Duration(age));
    if meta.is_file() && meta.len() <= HASH_CAP {
        if let Some(hex) = sha256(path, cancelled)? {
            obs.set("sha256", Value::Text(hex));
        }
    }
    Ok(obs)
}

/// `None` when the probe was cancelled mid-way (its result is discarded anyway).
fn sha256(path: &str, cancelled: &AtomicBool) -> Result<Option<String>, ProbeError> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| ProbeError::detector(format!("cannot open {path} to hash it: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Bounded by the cap: the file may grow while we read, we never read past HASH_CAP.
    let mut remaining = HASH_CAP + 1;
    while remaining > 0 {
        if cancelled.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ProbeError::detector(format!(
                    "cannot read {path} to hash it: {e}"
                )))
            }
        };
        hasher.update(&buf[..n]);
        remaining -= n as u64;
    }
    if remaining == 0 {
        // It grew past the cap while being hashed: a partial hash would be a wrong answer.
        return Ok(None);
    }
    let digest = hasher.finalize();
    Ok(Some(digest.iter().map(|b| format!("{b:02x}")).collect()))
}
