//! Finding files: what a failed exercise leaves behind for a human (and for a replay).
//!
//! Owns: the finding's JSON shape, its deduplication signature, and writing it (atomically)
//! into the findings directory as `exercise-<signature>.json`. Must not touch: HTTP, the
//! terminal.
//!
//! ```json
//! {
//!   "format": 1,
//!   "signature": "5c1e0e2f9a8b7c6d",
//!   "summary": "L4 at step 2 of `lock door.front; goodnight`: state differs from the model at door.front.locked",
//!   "hub": "http://127.0.0.1:20417",
//!   "seed": 42, "sequence": 17, "class": "composition",
//!   "failing_sequence": ["lock door.front", "toggle light.kitchen", "goodnight"],
//!   "reproduced": true, "repro_minimal": true, "shrink_tests": 5,
//!   "repro": ["lock door.front", "goodnight"],
//!   "requests": ["POST /admin/reset", "POST /actions {\"action\":\"lock\",\"entity\":\"door.front\"}", "POST /automations/goodnight {}"],
//!   "violation": {"layer": "L4", "step": 1, "message": "...",
//!                 "diff": [{"key": "door.front.locked", "expected": true, "observed": false}]}
//! }
//! ```
//!
//! `repro` is in the step text form ([`crate::Step`]'s `FromStr`), replayed from
//! `POST /admin/reset`; `requests` is the same as HTTP, for `curl`. The signature is FNV-1a
//! (64 bit) of the layer, the repro and the keys that differ: the same bug found again (by
//! another seed, another night) shrinks to the same repro and lands in the same file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::Violation;
use crate::generate::Class;
use crate::model::Step;
use crate::{Error, ErrorKind};

/// The layout version of finding files.
pub const FORMAT: u32 = 1;
/// Finding files are small; a larger one is not ours.
const MAX_FILE: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub format: u32,
    pub signature: String,
    pub summary: String,
    pub hub: String,
    pub seed: u64,
    /// The failing sequence's index in the seed's stream (0-based).
    pub sequence: u64,
    pub class: Class,
    pub failing_sequence: Vec<String>,
    /// False if the failing sequence passed when replayed from a reset: the hub is not
    /// deterministic, and `repro` is the unshrunk sequence.
    pub reproduced: bool,
    /// False if the shrinking budget ran out before the repro was shown 1-minimal.
    pub repro_minimal: bool,
    pub shrink_tests: usize,
    pub repro: Vec<String>,
    pub requests: Vec<String>,
    pub violation: Violation,
}

/// Where the failure came from, for [`Finding::new`].
pub struct Origin<'a> {
    pub hub: &'a str,
    pub seed: u64,
    pub sequence: u64,
    pub class: Class,
    pub failing: &'a [Step],
}

impl Finding {
    pub fn new(
        origin: &Origin<'_>,
        repro: &[Step],
        violation: Violation,
        reproduced: bool,
        shrink: (usize, bool),
    ) -> Finding {
        let text = |steps: &[Step]| steps.iter().map(ToString::to_string).collect::<Vec<_>>();
        let repro_text = text(repro);
        let keys: Vec<&str> = violation.diff.iter().map(|d| d.key.as_str()).collect();
        let signature = format!(
            "{:016x}",
            fnv1a(&format!(
                "{}|{}|{}",
                violation.layer,
                repro_text.join(";"),
                keys.join(",")
            ))
        );
        let summary = format!(
            "{} at step {} of `{}`: {}",
            violation.layer,
            violation.step + 1,
            repro_text.join("; "),
            violation.message
        );
        let requests = std::iter::once("POST /admin/reset".to_owned())
            .chain(repro.iter().map(|step| {
                let (path, body) = step.request();
                format!("POST {path} {body}")
            }))
            .collect();
        Finding {
            format: FORMAT,
            signature,
            summary,
            hub: origin.hub.to_owned(),
            seed: origin.seed,
            sequence: origin.sequence,
            class: origin.class,
            failing_sequence: text(origin.failing),
            reproduced,
            repro_minimal: shrink.1,
            shrink_tests: shrink.0,
            repro: repro_text,
            requests,
            violation,
        }
    }

    /// The repro as steps to replay.
    pub fn repro_steps(&self) -> Result<Vec<Step>, Error> {
        self.repro.iter().map(|s| s.parse()).collect()
    }

    /// Writes the finding to `<dir>/exercise-<signature>.json` (creating `dir`), replacing a
    /// finding of the same signature. Written to a temporary file and renamed, so a reader
    /// never sees half a finding.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, Error> {
        let fail = |what: &str, path: &Path, e: std::io::Error| {
            Error::with_source(
                ErrorKind::Finding,
                format!("cannot {what} {}: {e}", path.display()),
                e,
            )
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("create", dir, e))?;
        let path = dir.join(format!("exercise-{}.json", self.signature));
        let tmp = dir.join(format!(".exercise-{}.json.tmp", self.signature));
        let mut text = serde_json::to_string_pretty(self).map_err(|e| {
            Error::with_source(ErrorKind::Finding, "cannot serialize the finding", e)
        })?;
        text.push('\n');
        std::fs::write(&tmp, text).map_err(|e| fail("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| fail("rename into", &path, e))?;
        Ok(path)
    }

    pub fn read(path: &Path) -> Result<Finding, Error> {
        let fail =
            |why: String| Error::new(ErrorKind::Finding, format!("{}: {why}", path.display()));
        let size = std::fs::metadata(path)
            .map_err(|e| fail(format!("cannot read: {e}")))?
            .len();
        if size > MAX_FILE {
            return Err(fail(format!(
                "{size} bytes, more than a finding's {MAX_FILE}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let finding: Finding =
            serde_json::from_str(&text).map_err(|e| fail(format!("not a finding: {e}")))?;
        if finding.format != FORMAT {
            return Err(fail(format!(
                "format {}, this version reads format {FORMAT}",
                finding.format
            )));
        }
        Ok(finding)
    }
}

/// FNV-1a, 64 bit: stable across versions and platforms, which a signature must be
/// (`std`'s hashers promise neither).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Difference, Layer};
    use crate::model::Action;
    use serde_json::json;

    fn seam() -> (Vec<Step>, Vec<Step>, Violation) {
        let failing = vec![
            Step::act("door.front", Action::Lock),
            Step::act("light.kitchen", Action::Toggle),
            Step::Goodnight,
        ];
        let repro = vec![Step::act("door.front", Action::Lock), Step::Goodnight];
        let violation = Violation {
            layer: Layer::L4,
            step: 1,
            message: "state differs from the model at door.front.locked".into(),
            diff: vec![Difference {
                key: "door.front.locked".into(),
                expected: Some(json!(true)),
                observed: Some(json!(false)),
            }],
        };
        (failing, repro, violation)
    }

    fn finding() -> Finding {
        let (failing, repro, violation) = seam();
        let origin = Origin {
            hub: "http://127.0.0.1:20417",
            seed: 42,
            sequence: 17,
            class: Class::Composition,
            failing: &failing,
        };
        Finding::new(&origin, &repro, violation, true, (5, true))
    }

    #[test]
    fn a_finding_file_is_pinned_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let finding = finding();
        let path = finding
            .write(&dir.path().join("findings"))
            .expect("written");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(format!("exercise-{}.json", finding.signature).as_str())
        );
        let text = std::fs::read_to_string(&path).expect("readable");
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            value,
            json!({
                "format": 1,
                "signature": finding.signature,
                "summary": "L4 at step 2 of `lock door.front; goodnight`: state differs from the model at door.front.locked",
                "hub": "http://127.0.0.1:20417",
                "seed": 42,
                "sequence": 17,
                "class": "composition",
                "failing_sequence": ["lock door.front", "toggle light.kitchen", "goodnight"],
                "reproduced": true,
                "repro_minimal": true,
                "shrink_tests": 5,
                "repro": ["lock door.front", "goodnight"],
                "requests": [
                    "POST /admin/reset",
                    "POST /actions {\"action\":\"lock\",\"entity\":\"door.front\"}",
                    "POST /automations/goodnight {}",
                ],
                "violation": {
                    "layer": "L4",
                    "step": 1,
                    "message": "state differs from the model at door.front.locked",
                    "diff": [{ "key": "door.front.locked", "expected": true, "observed": false }],
                },
            })
        );
        let back = Finding::read(&path).expect("reads back");
        assert_eq!(back, finding);
        assert_eq!(back.repro_steps().expect("steps"), seam().1);
    }

    #[test]
    fn the_signature_depends_on_the_bug_not_on_where_it_was_found() {
        let a = finding();
        let (failing, repro, violation) = seam();
        let origin = Origin {
            hub: "http://127.0.0.1:9",
            seed: 7,
            sequence: 1000,
            class: Class::Edge,
            failing: &failing[..2],
        };
        let b = Finding::new(&origin, &repro, violation.clone(), true, (9, true));
        assert_eq!(a.signature, b.signature);
        let other = Finding::new(&origin, &repro[1..], violation, true, (9, true));
        assert_ne!(a.signature, other.signature);
        assert_eq!(a.signature.len(), 16);
    }

    #[test]
    fn unreadable_finding_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.json");
        let shown = path.display().to_string();
        let mut newer = serde_json::to_value(finding()).expect("value");
        newer["format"] = json!(2);
        let cases = [
            ("{".to_owned(), format!("finding file: {shown}: not a finding: EOF while parsing an object at line 1 column 1")),
            (newer.to_string(), format!("finding file: {shown}: format 2, this version reads format 1")),
        ];
        for (text, message) in cases {
            std::fs::write(&path, text).expect("write");
            let error = Finding::read(&path).expect_err(&message);
            assert_eq!(error.to_string(), message);
        }
        let missing = Finding::read(&dir.path().join("none.json")).expect_err("missing");
        assert_eq!(missing.kind, ErrorKind::Finding);
    }
}
