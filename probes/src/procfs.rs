//! Reading Linux `/proc`, shared by the process and port probes.
//!
//! Owns: listing processes, reading command lines and pid files, and the one rule for a
//! process that vanishes mid-scan (it is skipped: it is simply no longer running).
//! Must not touch: deciding what a match means; the probes do that.

use std::io::ErrorKind;
use std::path::Path;

use crate::ProbeError;

/// Every numeric entry of `/proc`, ascending.
pub(crate) fn pids() -> Result<Vec<u32>, ProbeError> {
    let entries = std::fs::read_dir("/proc")
        .map_err(|e| ProbeError::detector(format!("cannot list /proc: {e}")))?;
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// The command line with its NUL-separated arguments joined by spaces; `None` when the
/// process is gone or has no command line (kernel threads, zombies). Empty arguments are
/// dropped: programs that rewrite their title pad it with NULs.
pub(crate) fn cmdline(pid: u32) -> Result<Option<String>, ProbeError> {
    let Some(raw) = read_if_alive(&format!("/proc/{pid}/cmdline"))? else {
        return Ok(None);
    };
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    Ok(if args.is_empty() {
        None
    } else {
        Some(args.join(" "))
    })
}

/// Reads a /proc file, treating "the process is gone" as `None` and anything else
/// (typically permission denied) as a broken detector.
pub(crate) fn read_if_alive(path: &str) -> Result<Option<Vec<u8>>, ProbeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(ProbeError::detector(format!("cannot read {path}: {e}"))),
    }
}

/// ENOENT and ESRCH both mean the process exited between listing and reading.
pub(crate) fn gone(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// A missing pid file means the service is not running (a measurement); an unreadable one
/// is a broken detector; one that holds no pid is a wrong target.
pub(crate) fn read_pid_file(path: &str) -> Result<Option<u32>, ProbeError> {
    let text = match std::fs::read_to_string(Path::new(path)) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ProbeError::detector(format!(
                "cannot read pid file {path}: {e}"
            )))
        }
    };
    match text.trim().parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(Some(pid)),
        _ => Err(ProbeError::target(format!(
            "pid file {path} does not hold a pid: {:?}",
            text.trim().chars().take(40).collect::<String>()
        ))),
    }
}
