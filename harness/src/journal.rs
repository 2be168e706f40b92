//! The drill journal: every restore a drill still owes, written durably before its fault goes
//! in, so a harness that dies mid-drill (even by SIGKILL) leaves behind exactly what the next
//! run must undo.
//!
//! Owns: the file format (`{"format": 1, "entries": [...]}`), durable appends and removals
//! (temporary file, fsync, rename, directory fsync), and the concrete steps a restore runs.
//! Must not touch: the wall (entries are self-contained, so `auditwall recover` needs no wall)
//! or output.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use auditwall_probes::Prober;
use auditwall_spec::{CommandProbe, HttpBody, HttpProbe, Probe, Value};
use serde::{Deserialize, Serialize};

/// The format this version writes and the newest it reads.
pub const JOURNAL_FORMAT: u32 = 1;

/// Where the journal lives unless `AUDITWALL_JOURNAL` says otherwise: beside the reports, in
/// the directory auditwall runs in.
pub fn default_path() -> PathBuf {
    std::env::var_os("AUDITWALL_JOURNAL")
        .map_or_else(|| PathBuf::from(".auditwall/journal.json"), PathBuf::from)
}

/// A restore a drill owes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Unique within the file.
    pub id: u64,
    pub drill: String,
    /// The fault, as a person reads it (`stop model-primary`).
    pub fault: String,
    pub injected_unix_ms: u64,
    /// The auditwall process that injected it.
    pub pid: u32,
    /// The process that owns the system it targets, when auditwall knows it (a reference
    /// system's supervisor): once that process is gone, so is the fault, and the entry is moot.
    pub owner: Option<u32>,
    pub restore: Step,
}

/// One concrete thing to do, with everything it needs resolved (no wall, no profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// POST a JSON body; any 2xx is success.
    Post { url: String, body: String },
    /// Run a program; exit 0 is success.
    Command { argv: Vec<String> },
    /// Send a signal to a process.
    Signal { pid: i32, signal: i32, name: String },
    /// Write a file's whole content atomically (mode kept when it exists).
    Write { path: PathBuf, contents: Vec<u8> },
}

impl Step {
    pub fn describe(&self) -> String {
        match self {
            Step::Post { url, body } => format!("POST {url} {body}"),
            Step::Command { argv } => argv.join(" "),
            Step::Signal { pid, name, .. } => format!("{name} to pid {pid}"),
            Step::Write { path, contents } => {
                format!("write {} ({} bytes)", path.display(), contents.len())
            }
        }
    }

    /// Runs the step, bounded by `timeout`. `Ok` carries what the system answered.
    pub async fn run(&self, prober: &Prober, timeout: Duration) -> Result<String, String> {
        match self {
            Step::Post { url, body } => {
                let probe = Probe::Http(HttpProbe {
                    method: "POST".to_string(),
                    url: url.clone(),
                    headers: Default::default(),
                    body: Some(HttpBody::Text(body.clone())),
                    timeout: Some(timeout),
                });
                let obs = prober.run(&probe, timeout).await.map_err(|e| e.message)?;
                let status = match obs.get("status") {
                    Some(Value::Number(n)) => *n as u16,
                    _ => 0,
                };
                let text = match obs.get("body") {
                    Some(Value::Text(t)) => t.trim().to_string(),
                    _ => String::new(),
                };
                if (200..300).contains(&status) {
                    Ok(text)
                } else {
                    Err(format!("{url} answered {status}: {text}"))
                }
            }
            Step::Command { argv } => {
                let Some((program, args)) = argv.split_first() else {
                    return Err("empty command".to_string());
                };
                let probe = Probe::Command(CommandProbe {
                    program: program.clone(),
                    args: args.to_vec(),
                    env: Default::default(),
                    cwd: None,
                });
                let obs = prober.run(&probe, timeout).await.map_err(|e| e.message)?;
                let text = |name: &str| match obs.get(name) {
                    Some(Value::Text(t)) => t.trim().to_string(),
                    _ => String::new(),
                };
                match obs.get("exit") {
                    Some(Value::Number(n)) if *n == 0.0 => Ok(text("stdout")),
                    Some(Value::Number(n)) => Err(format!(
                        "`{}` exited {n}: {}",
                        argv.join(" "),
                        text("stderr")
                    )),
                    _ => Err(format!("`{}` did not exit normally", argv.join(" "))),
                }
            }
            Step::Signal { pid, signal, name } => {
                // SAFETY: kill(2) has no memory-safety preconditions.
                if unsafe { libc::kill(*pid, *signal) } == 0 {
                    Ok(format!("{name} sent to pid {pid}"))
                } else {
                    Err(format!(
                        "cannot send {name} to pid {pid}: {}",
                        std::io::Error::last_os_error()
                    ))
                }
            }
            Step::Write { path, contents } => {
                let path = path.clone();
                let contents = contents.clone();
                tokio::task::spawn_blocking(move || write_atomically(&path, &contents))
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|()| "written".to_string())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    format: u32,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Version {
    format: u32,
}

/// Every entry still pending, oldest first. A journal that cannot be read is an error: it may
/// hold a restore that must not be forgotten.
pub fn pending(path: &Path) -> Result<Vec<Entry>, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "cannot read the drill journal {}: {e}",
                path.display()
            ))
        }
    };
    let version: Version = serde_json::from_str(&text)
        .map_err(|e| format!("the drill journal {} is not valid: {e}", path.display()))?;
    if version.format > JOURNAL_FORMAT {
        return Err(format!(
            "the drill journal {} has format {}, newer than this auditwall reads ({JOURNAL_FORMAT})",
            path.display(),
            version.format
        ));
    }
    let journal: Journal = serde_json::from_str(&text)
        .map_err(|e| format!("the drill journal {} is not valid: {e}", path.display()))?;
    Ok(journal.entries)
}

/// Records a pending restore durably; returns its id.
pub fn append(
    path: &Path,
    drill: &str,
    fault: &str,
    owner: Option<u32>,
    restore: Step,
) -> Result<u64, String> {
    let mut entries = pending(path)?;
    let id = entries.iter().map(|e| e.id).max().map_or(1, |m| m + 1);
    entries.push(Entry {
        id,
        drill: drill.to_string(),
        fault: fault.to_string(),
        injected_unix_ms: crate::unix_ms(SystemTime::now()),
        pid: std::process::id(),
        owner,
        restore,
    });
    save(path, entries)?;
    Ok(id)
}

/// Forgets a restore that has been done.
pub fn remove(path: &Path, id: u64) -> Result<(), String> {
    let entries: Vec<Entry> = pending(path)?.into_iter().filter(|e| e.id != id).collect();
    save(path, entries)
}

fn save(path: &Path, entries: Vec<Entry>) -> Result<(), String> {
    if entries.is_empty() {
        return match fs::remove_file(path) {
            Ok(()) => sync_dir(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!(
                "cannot clear the drill journal {}: {e}",
                path.display()
            )),
        };
    }
    let journal = Journal {
        format: JOURNAL_FORMAT,
        entries,
    };
    let text = serde_json::to_vec_pretty(&journal).map_err(|e| e.to_string())?;
    write_atomically(path, &text)
}

/// What one restore of a pending entry did.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub entry: Entry,
    pub outcome: RecoverOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoverOutcome {
    Restored(String),
    /// The system it targeted is gone (its owner process exited), and the fault with it.
    Moot,
    /// Still owed; the entry stays.
    Failed(String),
}

/// Runs every pending restore, oldest first; each one that succeeds (or is moot) is removed,
/// each one that fails stays for the next attempt.
pub async fn recover(path: &Path, prober: &Prober) -> Result<Vec<Recovered>, String> {
    let mut done = Vec::new();
    for entry in pending(path)? {
        let outcome = if entry.owner.is_some_and(|pid| !alive(pid)) {
            RecoverOutcome::Moot
        } else {
            match entry.restore.run(prober, Duration::from_secs(30)).await {
                Ok(text) => RecoverOutcome::Restored(text),
                Err(e) => RecoverOutcome::Failed(e),
            }
        };
        if !matches!(outcome, RecoverOutcome::Failed(_)) {
            remove(path, entry.id)?;
        }
        done.push(Recovered { entry, outcome });
    }
    Ok(done)
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let sent = unsafe { libc::kill(pid, 0) } == 0;
    sent || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Temporary file in the same directory, fsync, rename, then fsync the directory: after a
/// crash the file is either the old or the new version, and the rename itself survives.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let error = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(error)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mode = fs::metadata(path).ok().map(|m| m.permissions());
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        if let Some(mode) = mode {
            file.set_permissions(mode)?;
        }
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(error)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir,
        None => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}
