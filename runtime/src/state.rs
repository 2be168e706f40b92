//! The supervisor state file: the on-disk record that lets a *separate* process
//! (`auditwall status`, `auditwall down`) find and control running services.
//!
//! Owns: the JSON format (`format: 1`), reading it with clear errors, and atomic writes
//! (temp file in the same directory, fsync, rename), so a reader never sees half a file.
//! Must not touch: processes or signals; judging staleness is the supervisor's job.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::procfs;
use crate::{RuntimeError, RuntimeErrorKind};

const FORMAT: u32 = 1;
/// A state file lists a handful of services; anything larger is not ours.
const MAX_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    pub format: u32,
    pub supervisor: ProcessIdentity,
    pub services: Vec<ServiceRecord>,
}

/// A pid plus its start time in clock ticks since boot (`/proc/<pid>/stat` field 22), which
/// together identify one process even after its pid is reused. `start_ticks` is `None`
/// where `/proc` does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProcessIdentity {
    pub pid: u32,
    pub start_ticks: Option<u64>,
}

impl ProcessIdentity {
    pub fn of(pid: u32) -> Self {
        ProcessIdentity {
            pid,
            start_ticks: procfs::stat(pid).map(|s| s.start_ticks),
        }
    }

    /// The process is running and is the same process that was recorded.
    pub fn alive(&self) -> bool {
        match (procfs::stat(self.pid), self.start_ticks) {
            (Some(now), Some(then)) => now.start_ticks == then && procfs::process_alive(self.pid),
            _ => procfs::process_alive(self.pid),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceRecord {
    pub name: String,
    pub pid: u32,
    pub pgid: u32,
    pub start_ticks: Option<u64>,
    pub started_at_unix_ms: u64,
    pub ports: Vec<u16>,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
    pub stop_grace_ms: u64,
}

impl StateFile {
    pub fn new(supervisor: ProcessIdentity) -> Self {
        StateFile {
            format: FORMAT,
            supervisor,
            services: Vec::new(),
        }
    }
}

pub(crate) fn load(path: &Path) -> Result<StateFile, RuntimeError> {
    let corrupt = |why: String| {
        RuntimeError::new(
            RuntimeErrorKind::CorruptState,
            format!(
                "state file {} is not a supervisor state file: {why}",
                path.display()
            ),
        )
    };
    let len = fs::metadata(path)
        .map_err(|e| RuntimeError::io("read state file", path, &e))?
        .len();
    if len > MAX_BYTES {
        return Err(corrupt(format!("it is {len} bytes, more than {MAX_BYTES}")));
    }
    let text = fs::read(path).map_err(|e| RuntimeError::io("read state file", path, &e))?;
    let state: StateFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    if state.format != FORMAT {
        return Err(corrupt(format!(
            "format {} is not the supported format {FORMAT}",
            state.format
        )));
    }
    Ok(state)
}

pub(crate) fn write_atomic(path: &Path, state: &StateFile) -> Result<(), RuntimeError> {
    let file_name = path.file_name().ok_or_else(|| {
        RuntimeError::new(
            RuntimeErrorKind::Io,
            format!("state file path {} has no file name", path.display()),
        )
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let json = serde_json::to_vec_pretty(state).map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::Io,
            format!("cannot encode state for {}: {e}", path.display()),
        )
    })?;
    let written = fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(&json)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    written.map_err(|e| {
        // The temp file is ours alone (named by pid); removing it cannot hurt anyone.
        let _ = fs::remove_file(&tmp);
        RuntimeError::io("write state file", path, &e)
    })
}

pub(crate) fn remove(path: &Path) -> Result<(), RuntimeError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io("remove state file", path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = StateFile::new(ProcessIdentity::of(std::process::id()));
        write_atomic(&path, &state).unwrap();
        state.services.push(ServiceRecord {
            name: "hub".into(),
            pid: 10,
            pgid: 10,
            start_ticks: Some(5),
            started_at_unix_ms: 1,
            ports: vec![18082],
            program: "/bin/true".into(),
            args: vec!["x".into()],
            log: "/tmp/hub.log".into(),
            stop_grace_ms: 500,
        });
        write_atomic(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only state.json remains");
    }

    #[test]
    fn unreadable_state_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(
            &path,
            r#"{"format": 2, "supervisor": {"pid": 1, "start_ticks": null}, "services": []}"#,
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::CorruptState);
        assert_eq!(
            err.to_string(),
            format!(
                "state file {} is not a supervisor state file: format 2 is not the supported format 1",
                path.display()
            )
        );
        fs::write(&path, "{\"format\": 1, \"surprise\": true}").unwrap();
        let err = load(&path).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::CorruptState);
        assert!(
            err.to_string().contains("unknown field `surprise`"),
            "{err}"
        );
    }
}
