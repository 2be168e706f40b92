//! Triage: failures from a cycle's scenarios, exercise and canaries, deduplicated by what
//! failed into one finding file per signature.
//!
//! Owns: the signature, the finding-file format and its atomic update. Must not touch: how
//! failures are found or shrunk (the caller normalises what failed and gives repro steps), the
//! ledger, the clock (the time is passed in).
//!
//! The signature is the sha256 (hex) of the normalised [`SignatureInputs`]: the check id and
//! layer trimmed, the failed keys trimmed, sorted and deduplicated. Values that vary from run
//! to run (timestamps, seeds, observed values) are never part of it, so the same defect found
//! again lands in the same file. The file is `<first 16 hex digits>.json`:
//!
//! ```json
//! {
//!   "format": 1,
//!   "signature": "9f2c…(64 hex digits)",
//!   "check_id": "hub.goodnight",
//!   "layer": "L4",
//!   "failed_keys": ["door.front.locked"],
//!   "first_seen_ms": 1764230400000,
//!   "last_seen_ms": 1764316800000,
//!   "count": 3,
//!   "source": {"kind": "scenario", "id": "hub.goodnight"},
//!   "repro_steps": ["POST /admin/reset", "POST /automations/goodnight"],
//!   "detail": "door.front.locked: expected true, observed false"
//! }
//! ```
//!
//! `repro_steps` are those of the shortest occurrence so far (fewest steps, then fewest
//! characters; the earlier one on a tie), and `source` and `detail` are that occurrence's.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Kind, LoopError, Result};

/// The layout version of finding files this version writes and the newest it reads.
pub const FINDING_FORMAT: u32 = 1;
/// Finding files are small; a larger one is not ours and is not read.
const MAX_FILE: u64 = 1 << 20;
/// Hex digits of the signature in the file name: 64 bits, collisions are checked anyway.
const NAME_DIGITS: usize = 16;

/// Where a failure was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Source {
    Scenario { id: String },
    Exercise,
    Canary { id: String },
}

/// What failed, without anything that varies between runs of the same defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInputs {
    pub check_id: String,
    /// `L1`..`L4`, or empty for a failure without layers (a canary escape).
    pub layer: String,
    /// The keys whose check failed (state keys, contract fields), without their values.
    pub failed_keys: Vec<String>,
}

/// One failure handed to [`triage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub source: Source,
    pub signature_inputs: SignatureInputs,
    /// At least one step: a finding nobody can reproduce is not a finding.
    pub repro_steps: Vec<String>,
    pub detail: String,
}

/// The content of a finding file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub format: u32,
    pub signature: String,
    pub check_id: String,
    pub layer: String,
    pub failed_keys: Vec<String>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Occurrences over every triage so far.
    pub count: u64,
    pub source: Source,
    pub repro_steps: Vec<String>,
    pub detail: String,
}

/// A finding file as written by [`triage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingFile {
    pub path: PathBuf,
    /// `false` when the signature had been seen before and the file was updated.
    pub created: bool,
    pub finding: Finding,
}

/// Writes `failures` into `findings_dir` (created if missing): one file per signature,
/// created or updated atomically, and returns them in the order their signatures first appear
/// in `failures`. Every failure is validated before any file is written.
pub fn triage(
    findings_dir: &Path,
    failures: &[Failure],
    now_ms: u64,
) -> std::result::Result<Vec<FindingFile>, LoopError> {
    let mut groups: Vec<(Normalised, Vec<&Failure>)> = Vec::new();
    for (index, failure) in failures.iter().enumerate() {
        let normalised = normalise(failure).map_err(|problem| {
            LoopError::new(
                Kind::InvalidInput,
                format_args!("failure {index}: {problem}"),
            )
        })?;
        match groups
            .iter_mut()
            .find(|(n, _)| n.signature == normalised.signature)
        {
            Some((_, group)) => group.push(failure),
            None => groups.push((normalised, vec![failure])),
        }
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    fs::create_dir_all(findings_dir).map_err(|e| {
        LoopError::new(
            Kind::Finding,
            format_args!("cannot create the directory: {e}"),
        )
        .at(findings_dir)
    })?;
    groups
        .into_iter()
        .map(|(normalised, group)| update(findings_dir, normalised, &group, now_ms))
        .collect()
}

struct Normalised {
    signature: String,
    check_id: String,
    layer: String,
    failed_keys: Vec<String>,
}

fn normalise(failure: &Failure) -> std::result::Result<Normalised, String> {
    let inputs = &failure.signature_inputs;
    let check_id = inputs.check_id.trim().to_owned();
    if check_id.is_empty() {
        return Err("the check id is empty".to_owned());
    }
    if failure
        .repro_steps
        .iter()
        .all(|step| step.trim().is_empty())
    {
        return Err(format!("`{check_id}` has no repro steps"));
    }
    let layer = inputs.layer.trim().to_owned();
    let mut failed_keys: Vec<String> = inputs
        .failed_keys
        .iter()
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
        .collect();
    failed_keys.sort();
    failed_keys.dedup();
    // A JSON array, so no choice of separator can make two different inputs collide.
    let canonical = serde_json::json!(["auditwall-failure-1", check_id, layer, failed_keys]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    let signature = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Normalised {
        signature,
        check_id,
        layer,
        failed_keys,
    })
}

fn update(
    dir: &Path,
    normalised: Normalised,
    group: &[&Failure],
    now_ms: u64,
) -> Result<FindingFile> {
    let name = format!("{}.json", &normalised.signature[..NAME_DIGITS]);
    let path = dir.join(&name);
    let existing = read(&path)?;
    if let Some(existing) = &existing {
        if existing.signature != normalised.signature {
            return Err(LoopError::new(
                Kind::Finding,
                format_args!(
                    "holds signature {}, not {}: two signatures share a file name",
                    existing.signature, normalised.signature
                ),
            )
            .at(&path));
        }
    }
    let created = existing.is_none();
    let occurrences = u64::try_from(group.len()).unwrap_or(u64::MAX);
    let mut finding = match existing {
        Some(mut finding) => {
            finding.count = finding.count.saturating_add(occurrences);
            finding.last_seen_ms = finding.last_seen_ms.max(now_ms);
            finding
        }
        None => Finding {
            format: FINDING_FORMAT,
            signature: normalised.signature,
            check_id: normalised.check_id,
            layer: normalised.layer,
            failed_keys: normalised.failed_keys,
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            count: occurrences,
            source: group[0].source.clone(),
            repro_steps: group[0].repro_steps.clone(),
            detail: group[0].detail.clone(),
        },
    };
    for failure in group {
        if length(&failure.repro_steps) < length(&finding.repro_steps) {
            finding.source = failure.source.clone();
            finding.repro_steps = failure.repro_steps.clone();
            finding.detail = failure.detail.clone();
        }
    }
    write(dir, &name, &finding)?;
    Ok(FindingFile {
        path,
        created,
        finding,
    })
}

/// How long a repro is: steps first, then characters.
fn length(steps: &[String]) -> (usize, usize) {
    (steps.len(), steps.iter().map(String::len).sum())
}

fn read(path: &Path) -> Result<Option<Finding>> {
    let fail = |e: std::io::Error| {
        LoopError::new(Kind::Finding, format_args!("cannot read: {e}")).at(path)
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let mut text = String::new();
    // One byte over the cap tells a file at the cap from a larger one.
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(fail)?;
    if text.len() as u64 > MAX_FILE {
        return Err(LoopError::new(
            Kind::Finding,
            format_args!("larger than {MAX_FILE} bytes; not a finding file"),
        )
        .at(path));
    }
    let finding: Finding = serde_json::from_str(&text).map_err(|e| {
        LoopError::new(Kind::Finding, format_args!("not a finding file: {e}")).at(path)
    })?;
    if finding.format > FINDING_FORMAT {
        return Err(LoopError::new(
            Kind::Finding,
            format_args!(
                "format {} is newer than this auditwall writes ({FINDING_FORMAT}); left as it is",
                finding.format
            ),
        )
        .at(path));
    }
    Ok(Some(finding))
}

/// Written to a temporary file, synced and renamed, so a reader (or a crash) never sees half
/// a finding.
fn write(dir: &Path, name: &str, finding: &Finding) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let fail = |what: &str, e: std::io::Error| {
        LoopError::new(Kind::Finding, format_args!("cannot {what}: {e}")).at(&path)
    };
    let mut text = serde_json::to_string_pretty(finding).map_err(|e| {
        LoopError::new(Kind::Finding, format_args!("cannot serialise: {e}")).at(&path)
    })?;
    text.push('\n');
    let written = File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, &path));
    if let Err(e) = written {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    // The rename itself is durable only once the directory is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("sync the directory", e))
}
