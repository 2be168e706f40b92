//! `--write`: puts canonical content (and modes) into place so that a following check is clean.
//!
//! Owns: atomic replacement (temporary file in the same directory, fsync, rename), backups of
//! every replaced file, creation of missing files and directories inside the roots, and the
//! refusal to touch files the caller does not manage. Must not touch: anything outside the
//! roots, and `Extra` files, which are reported and never deleted.
//!
//! Backups mirror the resolved deployed path under `<backup_dir>/<stamp_unix_ms>/`, so one run's
//! backups sit together and never appear inside a managed directory as new `Extra` files.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::compare::{compare, Canonical};
use crate::error::CalibrationError;
use crate::finding::{Finding, FindingKind};
use crate::model::{DirRule, Limits, Pair};
use crate::plan::{plan, Item};

/// Mode of a created file when the caller asks for none (the usual config-file mode).
const DEFAULT_MODE: u32 = 0o644;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Where replaced files are copied before being overwritten (created if needed).
    pub backup_dir: PathBuf,
    /// Names this run's backup folder; injected so the logic reads no clock.
    pub stamp_unix_ms: u64,
    /// Also write pairs and directory rules marked `managed: false`.
    pub adopt_unmanaged: bool,
}

/// What `write` did, one action per deployed path that had a finding, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteReport {
    pub actions: Vec<WriteAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteAction {
    pub path: PathBuf,
    #[serde(flatten)]
    pub outcome: WriteOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WriteOutcome {
    Created,
    Replaced {
        backup: PathBuf,
    },
    ModeSet {
        from: u32,
        to: u32,
    },
    RefusedUnmanaged,
    /// A finding that writing cannot or must not fix (an extra file, an unreadable file, a
    /// path outside the roots, a missing canonical source).
    Left {
        reason: String,
    },
    Failed {
        error: String,
    },
}

impl WriteReport {
    /// `true` when some finding is still there because writing failed or was refused; `Left`
    /// findings are not counted (the following check reports them).
    pub fn has_failures(&self) -> bool {
        self.actions.iter().any(|action| {
            matches!(
                action.outcome,
                WriteOutcome::Failed { .. } | WriteOutcome::RefusedUnmanaged
            )
        })
    }
}

impl WriteAction {
    pub fn message(&self) -> String {
        let path = self.path.display();
        match &self.outcome {
            WriteOutcome::Created => format!("{path}: created"),
            WriteOutcome::Replaced { backup } => format!(
                "{path}: replaced (previous content saved to {})",
                backup.display()
            ),
            WriteOutcome::ModeSet { from, to } => {
                format!("{path}: mode changed from {from:04o} to {to:04o}")
            }
            WriteOutcome::RefusedUnmanaged => format!(
                "{path}: not managed by auditwall; left as is (adopt unmanaged files to overwrite it)"
            ),
            WriteOutcome::Left { reason } => format!("{path}: left as is: {reason}"),
            WriteOutcome::Failed { error } => format!("{path}: write failed: {error}"),
        }
    }
}

/// Fixes what [`crate::check`] would report, inside `roots` only. `Err` is reserved for input
/// errors (as in `check`); per-file trouble is a [`WriteOutcome::Failed`].
pub fn write(
    pairs: &[Pair],
    dirs: &[DirRule],
    roots: &[PathBuf],
    limits: &Limits,
    opts: &WriteOptions,
) -> Result<WriteReport, CalibrationError> {
    let plan = plan(pairs, dirs, roots)?;
    let mut actions: Vec<WriteAction> = plan
        .findings
        .iter()
        .map(|finding| WriteAction {
            path: finding.path.clone(),
            outcome: WriteOutcome::Left {
                reason: left_reason(finding),
            },
        })
        .collect();
    for item in &plan.items {
        let kinds = compare(&item.canonical, &item.shown, &item.real, item.mode, limits);
        if let Some(outcome) = fix(item, &kinds, opts) {
            actions.push(WriteAction {
                path: item.shown.clone(),
                outcome,
            });
        }
    }
    actions.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(WriteReport { actions })
}

fn left_reason(finding: &Finding) -> String {
    match finding.kind {
        FindingKind::Extra { .. } => {
            "unmanaged file in a managed directory; reported, never deleted".to_string()
        }
        _ => finding.message(),
    }
}

fn fix(item: &Item<'_>, kinds: &[FindingKind], opts: &WriteOptions) -> Option<WriteOutcome> {
    if kinds.is_empty() {
        return None;
    }
    if let Some(kind) = kinds.iter().find(|kind| kind.tag().is_error()) {
        let finding = Finding {
            path: item.shown.clone(),
            kind: kind.clone(),
        };
        return Some(WriteOutcome::Left {
            reason: finding.message(),
        });
    }
    if !item.managed && !opts.adopt_unmanaged {
        return Some(WriteOutcome::RefusedUnmanaged);
    }
    let content_differs = kinds.iter().any(|kind| {
        matches!(
            kind,
            FindingKind::Missing { .. }
                | FindingKind::Differs { .. }
                | FindingKind::BinaryDiffers { .. }
                | FindingKind::TooLarge { .. }
        )
    });
    let result = if content_differs {
        replace(item, opts)
    } else {
        set_mode(item, kinds)
    };
    Some(result.unwrap_or_else(|error| WriteOutcome::Failed { error }))
}

fn set_mode(item: &Item<'_>, kinds: &[FindingKind]) -> Result<WriteOutcome, String> {
    let Some((from, to)) = kinds.iter().find_map(|kind| match kind {
        FindingKind::ModeDiffers { expected, actual } => Some((*actual, *expected)),
        _ => None,
    }) else {
        return Err("nothing this write knows how to fix".to_string());
    };
    fs::set_permissions(&item.real, fs::Permissions::from_mode(to))
        .map_err(|e| format!("cannot change mode of {}: {e}", item.real.display()))?;
    Ok(WriteOutcome::ModeSet { from, to })
}

fn replace(item: &Item<'_>, opts: &WriteOptions) -> Result<WriteOutcome, String> {
    let existing = match fs::metadata(&item.real) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", item.real.display())),
    };
    let backup = match &existing {
        Some(_) => Some(back_up(&item.real, opts)?),
        None => None,
    };
    let mode = item.mode.unwrap_or_else(|| {
        existing
            .as_ref()
            .map_or(DEFAULT_MODE, |meta| meta.permissions().mode() & 0o7777)
    });
    let owner = existing.as_ref().map(|meta| (meta.uid(), meta.gid()));
    install(&item.real, &item.canonical, mode, owner)?;
    Ok(match backup {
        Some(backup) => WriteOutcome::Replaced { backup },
        None => WriteOutcome::Created,
    })
}

fn back_up(real: &Path, opts: &WriteOptions) -> Result<PathBuf, String> {
    let relative = real.strip_prefix("/").unwrap_or(real);
    let backup = opts
        .backup_dir
        .join(opts.stamp_unix_ms.to_string())
        .join(relative);
    if let Some(parent) = backup.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create backup directory {}: {e}", parent.display()))?;
    }
    fs::copy(real, &backup).map_err(|e| format!("cannot back up to {}: {e}", backup.display()))?;
    Ok(backup)
}

/// Distinguishes temporary files of concurrent writers within one process; the pid
/// distinguishes processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn install(
    real: &Path,
    canonical: &Canonical<'_>,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), String> {
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(format!("{} has no parent directory", real.display()));
    };
    fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    let temp = dir.join(format!(
        ".{}.auditwall-tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = fill_and_rename(&temp, real, canonical, mode, owner);
    if result.is_err() {
        // Best effort: the error being returned matters more than a leftover temp file.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn fill_and_rename(
    temp: &Path,
    real: &Path,
    canonical: &Canonical<'_>,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), String> {
    let at_temp = |e: io::Error| format!("{}: {e}", temp.display());
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(at_temp)?;
    match canonical {
        Canonical::Text { text, .. } => file.write_all(text.as_bytes()).map_err(at_temp)?,
        Canonical::File(path) => {
            let mut source = File::open(path)
                .map_err(|e| format!("cannot read canonical {}: {e}", path.display()))?;
            io::copy(&mut source, &mut file).map_err(at_temp)?;
        }
    }
    // The service reading this file runs as its owner: a replacement owned by whoever ran
    // `--write` (often root) with mode 0600 would lock the service out.
    if let Some((uid, gid)) = owner {
        let meta = file.metadata().map_err(at_temp)?;
        if (meta.uid(), meta.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
                .map_err(|e| format!("cannot keep owner {uid}:{gid}: {e}"))?;
        }
    }
    // After chown, which clears set-id bits.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(at_temp)?;
    file.sync_all().map_err(at_temp)?;
    drop(file);
    fs::rename(temp, real)
        .map_err(|e| format!("cannot move {} into place: {e}", temp.display()))?;
    // Makes the rename itself durable. Best effort: the new content is already in place and
    // complete, which is what a following check sees.
    if let Some(dir) = real.parent() {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
