//! Triage against a real findings directory: the same defect found again (keys in another
//! order, other values, another source) updates one file; the shortest repro is kept; bad
//! input and foreign files are refused without writing anything.

use std::path::Path;

use auditwall_loop::{triage, Failure, Kind, SignatureInputs, Source};

/// sha256 of `["auditwall-failure-1","hub.goodnight","L4",["door.front.locked","light.kitchen.on"]]`,
/// computed outside Rust (python3 hashlib) so the signature is pinned independently.
const GOODNIGHT: &str = "0123b0cb6b946933211cfc807afd17fe3448e677c749266ef5bd5d53f00c9822";

fn goodnight(source: Source, keys: &[&str], steps: &[&str], detail: &str) -> Failure {
    Failure {
        source,
        signature_inputs: SignatureInputs {
            check_id: "hub.goodnight".to_owned(),
            layer: "L4".to_owned(),
            failed_keys: keys.iter().map(|k| k.to_string()).collect(),
        },
        repro_steps: steps.iter().map(|s| s.to_string()).collect(),
        detail: detail.to_owned(),
    }
}

fn scenario() -> Source {
    Source::Scenario {
        id: "hub.goodnight".to_owned(),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_same_defect_lands_in_one_file_with_its_shortest_repro() {
    let dir = tempfile::tempdir().expect("tempdir");
    let findings = dir.path().join("findings");
    let long = goodnight(
        Source::Exercise,
        &["light.kitchen.on", "door.front.locked"],
        &[
            "POST /admin/reset",
            "POST /actions lock door.front",
            "POST /automations/goodnight",
        ],
        "seed 42: door.front.locked expected true, observed false",
    );
    let short = goodnight(
        scenario(),
        &[
            " door.front.locked ",
            "light.kitchen.on",
            "door.front.locked",
        ],
        &["POST /admin/reset", "POST /automations/goodnight"],
        "door.front.locked expected true, observed false at 2026-11-27T10:00:00Z",
    );
    let other = Failure {
        source: Source::Canary {
            id: "router.chat.both-down".to_owned(),
        },
        signature_inputs: SignatureInputs {
            check_id: "router.chat".to_owned(),
            layer: String::new(),
            failed_keys: vec![],
        },
        repro_steps: vec!["stop model-primary and model-fallback".to_owned()],
        detail: "router.chat stayed green".to_owned(),
    };

    let written = triage(&findings, &[long.clone(), other, short.clone()], 1_000).expect("triage");
    assert_eq!(written.len(), 2, "two signatures: {written:?}");
    let first = &written[0];
    assert!(first.created);
    assert_eq!(
        first.path,
        findings.join(format!("{}.json", &GOODNIGHT[..16]))
    );
    assert_eq!(first.finding.signature, GOODNIGHT);
    assert_eq!(first.finding.count, 2);
    assert_eq!(first.finding.repro_steps, short.repro_steps);
    assert_eq!(first.finding.source, scenario());
    let mut expected = vec![
        format!("{}.json", &GOODNIGHT[..16]),
        format!("{}.json", &written[1].finding.signature[..16]),
    ];
    expected.sort();
    assert_eq!(
        files(&findings),
        expected,
        "one file per signature and no temporary files left"
    );

    // Found again, later, by the exerciser with a longer repro: counted, repro kept.
    let again = triage(&findings, &[long], 5_000).expect("triage again");
    assert_eq!(again.len(), 1);
    assert!(!again[0].created);
    let text = std::fs::read_to_string(&again[0].path).expect("read");
    assert_eq!(
        text,
        format!(
            r#"{{
  "format": 1,
  "signature": "{GOODNIGHT}",
  "check_id": "hub.goodnight",
  "layer": "L4",
  "failed_keys": [
    "door.front.locked",
    "light.kitchen.on"
  ],
  "first_seen_ms": 1000,
  "last_seen_ms": 5000,
  "count": 3,
  "source": {{
    "kind": "scenario",
    "id": "hub.goodnight"
  }},
  "repro_steps": [
    "POST /admin/reset",
    "POST /automations/goodnight"
  ],
  "detail": "door.front.locked expected true, observed false at 2026-11-27T10:00:00Z"
}}
"#
        )
    );

    // A one-step repro replaces the two-step one, with its source and detail.
    let shortest = goodnight(
        Source::Exercise,
        &["door.front.locked", "light.kitchen.on"],
        &["POST /automations/goodnight"],
        "from the default home",
    );
    let updated = triage(&findings, &[shortest], 6_000).expect("triage shortest");
    assert_eq!(updated[0].finding.count, 4);
    assert_eq!(updated[0].finding.first_seen_ms, 1_000);
    assert_eq!(
        updated[0].finding.repro_steps,
        ["POST /automations/goodnight"]
    );
    assert_eq!(updated[0].finding.source, Source::Exercise);
    assert_eq!(updated[0].finding.detail, "from the default home");
}

#[test]
fn bad_failures_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let findings = dir.path().join("findings");
    let good = goodnight(
        scenario(),
        &["door.front.locked"],
        &["POST /automations/goodnight"],
        "",
    );
    let no_repro = goodnight(scenario(), &["door.front.locked"], &["  "], "");
    let mut no_check = good.clone();
    no_check.signature_inputs.check_id = " ".to_owned();

    let err = triage(&findings, &[good.clone(), no_repro], 1).expect_err("no repro");
    assert_eq!(err.kind(), Kind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid input: failure 1: `hub.goodnight` has no repro steps"
    );
    let err = triage(&findings, &[no_check, good], 1).expect_err("no check id");
    assert_eq!(
        err.to_string(),
        "invalid input: failure 0: the check id is empty"
    );
    assert!(!findings.exists(), "nothing may be written for a bad batch");
    assert!(triage(&findings, &[], 1).expect("empty").is_empty());
    assert!(!findings.exists());
}

#[test]
fn a_file_that_is_not_our_finding_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let findings = dir.path().join("findings");
    std::fs::create_dir_all(&findings).expect("mkdir");
    let path = findings.join(format!("{}.json", &GOODNIGHT[..16]));
    let notes = "{\"note\": \"my own notes about goodnight\"}\n";
    std::fs::write(&path, notes).expect("write");
    let failure = goodnight(
        scenario(),
        &["door.front.locked", "light.kitchen.on"],
        &["POST /automations/goodnight"],
        "",
    );
    let err = triage(&findings, &[failure], 1).expect_err("foreign file");
    assert_eq!(err.kind(), Kind::Finding);
    assert_eq!(err.path(), Some(path.as_path()));
    assert!(
        err.to_string().starts_with(&format!(
            "cannot update finding: {}: not a finding file: unknown field `note`",
            path.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), notes);
}
