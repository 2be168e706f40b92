//! The calibration ledger: one small JSON file recording each run (when, which wall, what was
//! found), read later by the soak and release gates.
//!
//! Owns: the file format (`{"format": 1, "entries": [...]}`, oldest first), its strict reading
//! and its atomic, capped append. Must not touch: the findings' content (only path, kind and
//! whether waived are kept, so the file stays small) and the clock (time is passed in).
//!
//! Appends are read-modify-write: two runs appending to one ledger at the same moment can lose
//! one entry; one wall is calibrated by one run at a time.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{CalibrationError, Kind, Result};
use crate::finding::FindingTag;
use crate::waiver::{JudgedReport, Status};

/// The format this version writes and the newest it reads.
pub const LEDGER_FORMAT: u32 = 1;

/// Entries kept by default: a nightly run fills it in under three years.
pub const DEFAULT_LEDGER_CAP: usize = 1_000;

/// Refuses to read ledgers past this size rather than load something unbounded into memory.
const MAX_LEDGER_BYTES: u64 = 64 * 1024 * 1024;

/// Appends keep the file under this, dropping the oldest entries first.
const MAX_WRITTEN_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    pub format: u32,
    /// Oldest first.
    pub entries: Vec<LedgerEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub time_unix_ms: u64,
    /// Identifies the wall (spec files and profile) the run checked, as the caller computes it.
    pub wall_digest: String,
    pub checked: usize,
    pub findings: Vec<LedgerFinding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFinding {
    /// Lossy UTF-8, so that any path can be recorded in JSON.
    pub path: String,
    pub kind: FindingTag,
    /// `true` only under a waiver in force; an expired waiver is recorded as not waived.
    pub waived: bool,
}

impl LedgerEntry {
    pub fn new(report: &JudgedReport, time_unix_ms: u64, wall_digest: impl Into<String>) -> Self {
        LedgerEntry {
            time_unix_ms,
            wall_digest: wall_digest.into(),
            checked: report.checked,
            findings: report
                .findings
                .iter()
                .map(|judged| LedgerFinding {
                    path: judged.finding.path.to_string_lossy().into_owned(),
                    kind: judged.finding.kind.tag(),
                    waived: matches!(judged.waiver, Status::Waived { .. }),
                })
                .collect(),
        }
    }
}

/// Only the version, read first so a newer ledger gets a version error rather than a
/// confusing unknown-field error.
#[derive(Deserialize)]
struct Version {
    format: u32,
}

pub fn read_ledger(path: &Path) -> Result<Ledger> {
    let read_err = |e: io::Error| CalibrationError::new(Kind::LedgerRead, e).at(path);
    let mut text = String::new();
    File::open(path)
        .map_err(read_err)?
        .take(MAX_LEDGER_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_LEDGER_BYTES {
        return Err(CalibrationError::new(
            Kind::LedgerTooLarge,
            format!("larger than {MAX_LEDGER_BYTES} bytes"),
        )
        .at(path));
    }
    let parse_err = |e: serde_json::Error| CalibrationError::new(Kind::LedgerParse, e).at(path);
    let version: Version = serde_json::from_str(&text).map_err(parse_err)?;
    if version.format > LEDGER_FORMAT {
        return Err(CalibrationError::new(
            Kind::LedgerNewerFormat,
            format!(
                "format {} is newer than {LEDGER_FORMAT}, the newest this version reads; \
                 upgrade auditwall",
                version.format
            ),
        )
        .at(path));
    }
    serde_json::from_str(&text).map_err(parse_err)
}

/// Appends `entry`, keeping the `cap` most recent entries, by writing a whole new file and
/// renaming it over the old one: a reader sees the old ledger or the new, never half of one.
/// A ledger that does not exist yet is created (its directory too); one that cannot be read is an error and is
/// left untouched (a run must not erase the history the gates depend on).
pub fn append_ledger(path: &Path, entry: LedgerEntry, cap: usize) -> Result<()> {
    let mut ledger = match read_ledger(path) {
        Ok(ledger) => ledger,
        Err(e) if e.kind() == Kind::LedgerRead && !path.exists() => Ledger {
            format: LEDGER_FORMAT,
            entries: Vec::new(),
        },
        Err(e) => return Err(e),
    };
    ledger.format = LEDGER_FORMAT;
    ledger.entries.push(entry);
    let excess = ledger.entries.len().saturating_sub(cap);
    ledger.entries.drain(..excess);
    let serialize = |ledger: &Ledger| {
        serde_json::to_string_pretty(ledger)
            .map_err(|e| CalibrationError::new(Kind::LedgerWrite, e).at(path))
    };
    let mut text = serialize(&ledger)?;
    // Capped by size too, well under the read limit: runs with many findings must never
    // grow a ledger that the next run refuses to read. The newest entry always stays.
    while text.len() as u64 > MAX_WRITTEN_BYTES && ledger.entries.len() > 1 {
        let drop = (ledger.entries.len() / 4)
            .max(1)
            .min(ledger.entries.len() - 1);
        ledger.entries.drain(..drop);
        text = serialize(&ledger)?;
    }
    write_atomically(path, text.as_bytes())
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_err = |e: io::Error| CalibrationError::new(Kind::LedgerWrite, e).at(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let mut file = File::options().write(true).create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        // The gates trust this history across reboots, so it is made durable before it
        // becomes visible.
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        // Best effort: the error being returned matters more than a leftover temp file.
        let _ = fs::remove_file(&temp);
    }
    result.map_err(write_err)
}
