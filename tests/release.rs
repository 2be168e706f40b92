//! The release gate run as a user runs it on the reference system: a signed bundle that
//! OpenSSH's `ssh-keygen -Y verify` and `sha256sum -c` accept, a one-byte change anywhere
//! caught by `report verify`, a red gate stopping with its own exit code, and bad input
//! refused before anything runs.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A release runs every suite and then every negative control, drills included (a few
/// minutes on the reference wall, more on a loaded machine); past this it has hung.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(900);

type System = common::UpSystem;

fn tool(program: &str, args: &[&str], dir: &Path, stdin: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    if let Some(file) = stdin {
        cmd.stdin(std::fs::File::open(file).expect("stdin file"));
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("{program} must be installed (OpenSSH, coreutils): {e}"))
}

#[test]
fn a_release_bundle_verifies_with_openssh_and_any_changed_byte_is_caught() {
    let system = System::up_bounded(RELEASE_TIMEOUT);
    system
        .run(&["keygen", "--out", "keys/release", "--principal", "ops@lab"])
        .assert_code(0);
    let public = std::fs::read_to_string(system.path("keys/release.pub")).expect("public key");
    let signers = system.path("allowed_signers");
    std::fs::write(
        &signers,
        format!("ops@lab namespaces=\"auditwall-release\" {public}"),
    )
    .expect("signers");

    let out = system.run(&["release", "--version", "v0.1.0", "--key", "keys/release"]);
    out.assert_code(0);
    let bundle = system.path(".auditwall/releases/v0.1.0");
    let mut files: Vec<String> = std::fs::read_dir(&bundle)
        .expect("bundle")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "MANIFEST",
            "MANIFEST.sig",
            "junit.xml",
            "release-notes.md",
            "report.json"
        ]
    );
    let notes = std::fs::read_to_string(bundle.join("release-notes.md")).expect("notes");
    assert!(
        notes.contains("Negative controls: 52 of 52 proven."),
        "{notes}"
    );
    assert!(notes.contains("Spec-surface coverage: "), "{notes}");

    let ssh = tool(
        "ssh-keygen",
        &[
            "-Y",
            "verify",
            "-f",
            signers.to_str().expect("utf-8"),
            "-I",
            "ops@lab",
            "-n",
            "auditwall-release",
            "-s",
            "MANIFEST.sig",
        ],
        &bundle,
        Some(&bundle.join("MANIFEST")),
    );
    assert!(
        ssh.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&ssh.stderr)
    );
    let sums = tool("sha256sum", &["-c", "MANIFEST"], &bundle, None);
    assert!(
        sums.status.success(),
        "sha256sum: {}",
        String::from_utf8_lossy(&sums.stdout)
    );
    system
        .run(&[
            "report",
            "verify",
            bundle.to_str().expect("utf-8"),
            "--allowed-signers",
            "allowed_signers",
        ])
        .assert_code(0);

    // One byte changed anywhere — in every file — is caught and named.
    for name in &files {
        let copy = system.path(&format!("tampered-{name}"));
        std::fs::create_dir_all(&copy).expect("copy dir");
        for f in &files {
            std::fs::copy(bundle.join(f), copy.join(f)).expect("copy");
        }
        let target = copy.join(name);
        let mut bytes = std::fs::read(&target).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&target, bytes).expect("write");
        let verdict = system.run(&[
            "report",
            "verify",
            copy.to_str().expect("utf-8"),
            "--allowed-signers",
            "allowed_signers",
        ]);
        verdict.assert_code(1);
        assert!(
            verdict.stderr.starts_with("FAILED: "),
            "{name}: {}",
            verdict.stderr
        );
        let named = if name.starts_with("MANIFEST") {
            "MANIFEST"
        } else {
            name.as_str()
        };
        assert!(verdict.stderr.contains(named), "{name}: {}", verdict.stderr);
    }

    // A bundle is never overwritten.
    let again = system.run(&["release", "--version", "v0.1.0", "--key", "keys/release"]);
    again.assert_code(2);
    assert!(
        again
            .stderr
            .contains("already exists; a release bundle is never overwritten"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_red_gate_stops_the_release_with_its_own_exit_code() {
    let system = System::up_bounded(RELEASE_TIMEOUT);
    system
        .run(&["keygen", "--out", "keys/release"])
        .assert_code(0);
    let missing = system.run(&["release", "--version", "v0.2.0", "--key", "keys/nope"]);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("signing key not found: keys/nope"),
        "{}",
        missing.stderr
    );
    let bad = system.run(&["release", "--version", "0.2", "--key", "keys/release"]);
    bad.assert_code(2);

    system.run(&["fault", "success-false"]).assert_code(0);
    let red = system.run(&["release", "--version", "v0.2.0", "--key", "keys/release"]);
    red.assert_code(11);
    assert!(
        red.stdout
            .contains("release v0.2.0: gate verify FAILED: probes::hub.action fail"),
        "{}",
        red.stdout
    );
    assert!(
        !system.path(".auditwall/releases/v0.2.0").exists(),
        "no bundle for a red release"
    );
    system.run(&["fault", "none"]).assert_code(0);

    let docs = system.run(&[
        "release",
        "--version",
        "v0.2.0",
        "--key",
        "keys/release",
        "--docs-command",
        "exit 3",
    ]);
    docs.assert_code(14);
    assert!(
        docs.stdout.contains("gate docs FAILED: `exit 3` exited"),
        "{}",
        docs.stdout
    );
}
