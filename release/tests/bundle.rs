//! Bundles end to end: keygen, manifest, sign, verify — and the same bundle checked by the real
//! `ssh-keygen -Y verify` and `sha256sum -c`, the tools a stranger would use.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use auditwall_release::{
    allowed_signers_line, keygen, public_key_path, sign_manifest, verify, write_manifest, Kind,
    ReleaseError, MANIFEST_FILE, SIGNATURE_FILE,
};

const PRINCIPAL: &str = "release@example.org";
const REPORT_JSON: &str = "{\"overall\":\"pass\",\"checks\":3}\n";
const JUNIT_XML: &str = "<testsuites tests=\"3\" failures=\"0\"/>\n";
const NOTES_MD: &str = "# v1.2.3\n\nAll suites green.\n";

/// A signed three-file bundle with its key and allowed-signers file, all in one temp dir.
struct Fixture {
    tmp: tempfile::TempDir,
    bundle: PathBuf,
    key: PathBuf,
    allowed: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("releases/v1.2.3");
        std::fs::create_dir_all(&bundle).unwrap();
        for (name, text) in [
            ("report.json", REPORT_JSON),
            ("junit.xml", JUNIT_XML),
            ("release-notes.md", NOTES_MD),
        ] {
            std::fs::write(bundle.join(name), text).unwrap();
        }
        let key = tmp.path().join("keys/release");
        let public = keygen(&key, "auditwall release").unwrap();
        let allowed = tmp.path().join("allowed_signers");
        let line = allowed_signers_line(PRINCIPAL, &public).unwrap();
        std::fs::write(&allowed, format!("# release keys\n{line}\n")).unwrap();
        write_manifest(&bundle).unwrap();
        sign_manifest(&bundle, &key).unwrap();
        Fixture {
            tmp,
            bundle,
            key,
            allowed,
        }
    }

    /// A fresh copy of the signed bundle, to damage.
    fn copy(&self, name: &str) -> PathBuf {
        let dst = self.tmp.path().join(name);
        std::fs::create_dir(&dst).unwrap();
        for entry in std::fs::read_dir(&self.bundle).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
        }
        dst
    }

    /// The message with the temp dir replaced, so it can be pinned exactly.
    fn message(&self, err: &ReleaseError) -> String {
        err.to_string()
            .replace(&self.tmp.path().display().to_string(), "<tmp>")
    }
}

/// Every file's bytes, to prove a call changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect()
}

fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Both tools, or a note saying which is missing (CI machines have both).
fn tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (on_path("ssh-keygen"), on_path("sha256sum")) {
        (Some(ssh), Some(sha)) => Some((ssh, sha)),
        _ => {
            eprintln!("SKIP {test}: ssh-keygen (OpenSSH) or sha256sum (coreutils) not on PATH");
            None
        }
    }
}

/// Kills the child if the test panics before it was reaped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs a tool with stdin from a file (or nothing), output into files (a pipe could fill up
/// while we poll), and a bounded wait. Returns the exit status, stdout and stderr.
fn run(mut cmd: Command, stdin: Option<&Path>, scratch: &Path) -> (ExitStatus, String, String) {
    let out = scratch.join("tool.out");
    let err = scratch.join("tool.err");
    cmd.stdin(match stdin {
        Some(p) => Stdio::from(File::open(p).unwrap()),
        None => Stdio::null(),
    })
    .stdout(File::create(&out).unwrap())
    .stderr(File::create(&err).unwrap());
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{cmd:?} did not exit within 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status, read(&out), read(&err))
}

fn ssh_verify(ssh: &Path, bundle: &Path, allowed: &Path, scratch: &Path) -> (bool, String) {
    let mut cmd = Command::new(ssh);
    cmd.args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", PRINCIPAL, "-n", "auditwall-release", "-s"])
        .arg(bundle.join(SIGNATURE_FILE));
    let (status, out, err) = run(cmd, Some(&bundle.join(MANIFEST_FILE)), scratch);
    (status.success(), format!("{out}{err}"))
}

fn sha256sum_check(sha: &Path, bundle: &Path, scratch: &Path) -> (bool, String) {
    let mut cmd = Command::new(sha);
    cmd.args(["-c", MANIFEST_FILE]).current_dir(bundle);
    let (status, out, err) = run(cmd, None, scratch);
    (status.success(), format!("{out}{err}"))
}

#[test]
fn a_signed_bundle_verifies_here_and_with_openssh_and_coreutils() {
    let fx = Fixture::new();
    let manifest = std::fs::read_to_string(fx.bundle.join(MANIFEST_FILE)).unwrap();
    // The sha256sum format, sorted by name; the digests are those `sha256sum` prints.
    assert_eq!(
        manifest,
        "660bbff83ad5034a0fb3b028e12ee0d764565b334f4b4084d40cadabcc1fb445  junit.xml\n\
         983e984c61e488b72ae91508e507d95fdcad49f5e811412d59b5d7b4997ab747  release-notes.md\n\
         88a79bd33b420934fe38bd76bdfbf95f7121e5435178b88b030e9f7eb10fe102  report.json\n"
    );
    let sig = std::fs::read_to_string(fx.bundle.join(SIGNATURE_FILE)).unwrap();
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----\n"), "{sig}");
    assert!(sig.ends_with("-----END SSH SIGNATURE-----\n"), "{sig}");

    let before = snapshot(&fx.bundle);
    let verified = verify(&fx.bundle, &fx.allowed).unwrap();
    assert_eq!(
        snapshot(&fx.bundle),
        before,
        "verify must not modify the bundle"
    );
    let names: Vec<&str> = verified
        .manifest
        .entries()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["junit.xml", "release-notes.md", "report.json"]);
    assert_eq!(
        verified.to_string(),
        format!(
            "OK: 3 files match MANIFEST, signed by {PRINCIPAL} ({}) for auditwall-release",
            verified.fingerprint
        )
    );

    let Some((ssh, sha)) = tools("a_signed_bundle_verifies_here_and_with_openssh_and_coreutils")
    else {
        return;
    };
    let scratch = fx.tmp.path();
    let (ok, out) = ssh_verify(&ssh, &fx.bundle, &fx.allowed, scratch);
    assert!(ok, "ssh-keygen -Y verify refused our bundle: {out}");
    assert!(
        out.contains(&format!(
            "Good \"auditwall-release\" signature for {PRINCIPAL}"
        )),
        "{out}"
    );
    let (ok, out) = sha256sum_check(&sha, &fx.bundle, scratch);
    assert!(ok, "sha256sum -c refused our manifest: {out}");
    assert_eq!(
        out,
        "junit.xml: OK\nrelease-notes.md: OK\nreport.json: OK\n"
    );
    // The fingerprint we report is the one OpenSSH computes for the key.
    let mut cmd = Command::new(&ssh);
    cmd.arg("-l").arg("-f").arg(public_key_path(&fx.key));
    let (status, out, _) = run(cmd, None, scratch);
    assert!(status.success());
    assert!(
        out.contains(&verified.fingerprint),
        "{out} vs {}",
        verified.fingerprint
    );
}

/// Which error a one-byte change to `name` must produce: a report file is "changed"; a change
/// to MANIFEST breaks the signature; a change to MANIFEST.sig is caught while reading it.
fn assert_names(name: &str, pos: usize, err: &ReleaseError, bundle: &Path) {
    let at = format!("{name} byte {pos}: {err}");
    match name {
        MANIFEST_FILE => {
            assert_eq!(err.kind(), Kind::SignatureMismatch, "{at}");
            assert_eq!(err.path(), Some(bundle.join(name).as_path()), "{at}");
        }
        SIGNATURE_FILE => {
            let expected = [
                Kind::SignatureMalformed,
                Kind::UnknownSigner,
                Kind::WrongNamespace,
                Kind::KeyType,
                Kind::SignatureMismatch,
            ];
            assert!(expected.contains(&err.kind()), "{at}");
            // A changed signature value cannot be told from a changed MANIFEST: that message
            // names both files.
            assert!(err.to_string().contains("MANIFEST.sig"), "{at}");
        }
        _ => {
            assert_eq!(err.kind(), Kind::FileChanged, "{at}");
            assert_eq!(err.path(), Some(bundle.join(name).as_path()), "{at}");
        }
    }
}

#[test]
fn every_single_byte_change_in_every_file_is_named() {
    let fx = Fixture::new();
    let copy = fx.copy("flipped");
    let names: Vec<String> = snapshot(&copy).into_keys().collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let mut checked = 0;
    for name in &names {
        let path = copy.join(name);
        let original = std::fs::read(&path).unwrap();
        // Every position, not a sample: the files are small and a gap (a line break a
        // lenient decoder skips, a padding bit) is exactly what a sample would miss.
        for pos in 0..original.len() {
            let mut bytes = original.clone();
            bytes[pos] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            match verify(&copy, &fx.allowed) {
                Ok(v) => panic!("{name} byte {pos} changed, yet verify said {v}"),
                Err(err) => assert_names(name, pos, &err, &copy),
            }
            checked += 1;
        }
        std::fs::write(&path, &original).unwrap();
    }
    assert!(checked > 500, "only {checked} positions");
    verify(&copy, &fx.allowed).expect("the restored copy verifies again");
}

#[test]
fn openssh_and_coreutils_catch_a_sample_of_the_same_changes() {
    let Some((ssh, sha)) = tools("openssh_and_coreutils_catch_a_sample_of_the_same_changes") else {
        return;
    };
    let fx = Fixture::new();
    let scratch = fx.tmp.path();
    for name in ["report.json", "junit.xml", "release-notes.md"] {
        let copy = fx.copy(&format!("sample-{name}"));
        let path = copy.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last / 2] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let (ok, out) = sha256sum_check(&sha, &copy, scratch);
        assert!(!ok, "sha256sum -c missed a change to {name}: {out}");
        assert!(out.contains(&format!("{name}: FAILED")), "{out}");
        assert_eq!(
            verify(&copy, &fx.allowed).unwrap_err().kind(),
            Kind::FileChanged
        );
    }
    for (name, pos) in [
        (MANIFEST_FILE, 0),
        (MANIFEST_FILE, 100),
        (SIGNATURE_FILE, 120),
    ] {
        let copy = fx.copy(&format!("sample-{name}-{pos}"));
        let path = copy.join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[pos] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let (ok, out) = ssh_verify(&ssh, &copy, &fx.allowed, scratch);
        assert!(
            !ok,
            "ssh-keygen -Y verify missed a change to {name} byte {pos}: {out}"
        );
        assert!(verify(&copy, &fx.allowed).is_err());
    }
}

/// Bundle copy name, what to do to it, and the error: kind, file, exact message.
type DamageCase = (&'static str, fn(&Path), Kind, &'static str, &'static str);

#[test]
fn missing_and_added_files_are_named_and_nothing_is_touched() {
    let fx = Fixture::new();
    let cases: [DamageCase; 6] = [
        (
            "missing-report",
            |d| std::fs::remove_file(d.join("junit.xml")).unwrap(),
            Kind::FileMissing,
            "junit.xml",
            "file missing: <tmp>/missing-report/junit.xml: listed in MANIFEST but not in the bundle",
        ),
        (
            "added-file",
            |d| std::fs::write(d.join("extra.txt"), "surprise\n").unwrap(),
            Kind::FileAdded,
            "extra.txt",
            "file added: <tmp>/added-file/extra.txt: in the bundle but not listed in MANIFEST",
        ),
        (
            "added-dir",
            |d| std::fs::create_dir(d.join("more")).unwrap(),
            Kind::UnsupportedEntry,
            "more",
            "unsupported bundle entry: <tmp>/added-dir/more: subdirectories are not allowed in a bundle (a bundle is flat)",
        ),
        (
            "swapped-for-symlink",
            |d| {
                std::fs::remove_file(d.join("report.json")).unwrap();
                std::os::unix::fs::symlink("junit.xml", d.join("report.json")).unwrap();
            },
            Kind::UnsupportedEntry,
            "report.json",
            "unsupported bundle entry: <tmp>/swapped-for-symlink/report.json: symlinks are not allowed in a bundle",
        ),
        (
            "no-signature",
            |d| std::fs::remove_file(d.join(SIGNATURE_FILE)).unwrap(),
            Kind::FileMissing,
            SIGNATURE_FILE,
            "file missing: <tmp>/no-signature/MANIFEST.sig: not in the bundle",
        ),
        (
            "no-manifest",
            |d| std::fs::remove_file(d.join(MANIFEST_FILE)).unwrap(),
            Kind::FileMissing,
            MANIFEST_FILE,
            "file missing: <tmp>/no-manifest/MANIFEST: not in the bundle",
        ),
    ];
    for (dir, damage, kind, name, message) in cases {
        let copy = fx.copy(dir);
        damage(&copy);
        let before = snapshot(&copy);
        let err = verify(&copy, &fx.allowed).unwrap_err();
        assert_eq!(err.kind(), kind, "{dir}: {err}");
        assert_eq!(err.path(), Some(copy.join(name).as_path()), "{dir}");
        assert_eq!(fx.message(&err), message, "{dir}");
        assert_eq!(snapshot(&copy), before, "{dir}: verify changed the bundle");
    }
    if let Some((_, sha)) = tools("missing_and_added_files_are_named_and_nothing_is_touched") {
        let copy = fx.copy("missing-for-sha256sum");
        std::fs::remove_file(copy.join("release-notes.md")).unwrap();
        let (ok, out) = sha256sum_check(&sha, &copy, fx.tmp.path());
        assert!(!ok, "sha256sum -c missed a missing file: {out}");
    }
}

#[test]
fn a_key_not_in_allowed_signers_is_refused_by_both_verifiers() {
    let fx = Fixture::new();
    let other = keygen(&fx.tmp.path().join("keys/other"), "other").unwrap();
    let stranger = fx.tmp.path().join("stranger_signers");
    let line = allowed_signers_line(PRINCIPAL, &other).unwrap();
    std::fs::write(&stranger, format!("{line}\n")).unwrap();
    let err = verify(&fx.bundle, &stranger).unwrap_err();
    assert_eq!(err.kind(), Kind::UnknownSigner);
    let fingerprint = verify(&fx.bundle, &fx.allowed).unwrap().fingerprint;
    assert_eq!(
        fx.message(&err),
        format!(
            "unknown signer: <tmp>/releases/v1.2.3/MANIFEST.sig: signed by {fingerprint}, \
             which is not in the allowed signers <tmp>/stranger_signers"
        )
    );
    if let Some((ssh, _)) = tools("a_key_not_in_allowed_signers_is_refused_by_both_verifiers") {
        let (ok, out) = ssh_verify(&ssh, &fx.bundle, &stranger, fx.tmp.path());
        assert!(
            !ok,
            "ssh-keygen accepted a stranger's allowed signers: {out}"
        );
    }
}

#[test]
fn namespaces_are_enforced_on_both_sides() {
    let fx = Fixture::new();
    let public =
        auditwall_release::PublicKey::read_openssh_file(&public_key_path(&fx.key)).unwrap();
    let key_text = public.to_openssh().unwrap();
    let git_only = fx.tmp.path().join("git_only");
    std::fs::write(
        &git_only,
        format!("{PRINCIPAL} namespaces=\"git,file\" {key_text}\n"),
    )
    .unwrap();
    let err = verify(&fx.bundle, &git_only).unwrap_err();
    assert_eq!(err.kind(), Kind::WrongNamespace);
    assert_eq!(err.path(), Some(git_only.as_path()));

    // A line without namespaces= allows every namespace, as in OpenSSH.
    let any = fx.tmp.path().join("any_namespace");
    std::fs::write(&any, format!("{PRINCIPAL} {key_text}\n")).unwrap();
    assert_eq!(verify(&fx.bundle, &any).unwrap().principal, PRINCIPAL);

    let Some((ssh, _)) = tools("namespaces_are_enforced_on_both_sides") else {
        return;
    };
    // Signatures made by OpenSSH itself: the right namespace verifies here (our canonical-form
    // check accepts what ssh-keygen writes), another one is refused naming the namespace.
    for (namespace, ok) in [("auditwall-release", true), ("file", false)] {
        let copy = fx.copy(&format!("ssh-signed-{namespace}"));
        std::fs::remove_file(copy.join(SIGNATURE_FILE)).unwrap();
        let mut cmd = Command::new(&ssh);
        cmd.args(["-Y", "sign", "-f"])
            .arg(&fx.key)
            .args(["-n", namespace]);
        let (status, out, err) = run(cmd, Some(&copy.join(MANIFEST_FILE)), fx.tmp.path());
        assert!(status.success(), "ssh-keygen -Y sign: {err}");
        std::fs::write(copy.join(SIGNATURE_FILE), out).unwrap();
        let result = verify(&copy, &fx.allowed);
        if ok {
            result.unwrap();
        } else {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), Kind::WrongNamespace);
            assert_eq!(
                fx.message(&err),
                "wrong signature namespace: <tmp>/ssh-signed-file/MANIFEST.sig: signed for \
                 namespace \"file\", expected \"auditwall-release\""
            );
        }
    }
}

#[test]
fn keygen_writes_a_0600_key_openssh_reads_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("new/dir/release");
    let public = keygen(&key, "ops@lab").unwrap();
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode {mode:o}");
    let dir_mode = std::fs::metadata(key.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode & 0o077, 0, "key directory mode {dir_mode:o}");
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    let pub_text = std::fs::read_to_string(public_key_path(&key)).unwrap();
    assert_eq!(pub_text, format!("{}\n", public.to_openssh().unwrap()));
    assert!(pub_text.starts_with("ssh-ed25519 AAAA") && pub_text.ends_with(" ops@lab\n"));
    let line = allowed_signers_line("ops", &public).unwrap();
    assert_eq!(
        line,
        format!(
            "ops namespaces=\"auditwall-release\" {}",
            pub_text.trim_end()
        )
    );

    // Neither file is replaced, and a refused keygen creates nothing.
    let err = keygen(&key, "again").unwrap_err();
    assert_eq!(err.kind(), Kind::AlreadyExists);
    assert_eq!(
        err.to_string()
            .replace(&tmp.path().display().to_string(), "<tmp>"),
        "refusing to overwrite: <tmp>/new/dir/release: a key file is already there; choose \
         another path or remove it yourself"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private);
    let lone_pub = tmp.path().join("lone");
    std::fs::write(public_key_path(&lone_pub), "ssh-ed25519 kept\n").unwrap();
    assert_eq!(
        keygen(&lone_pub, "x").unwrap_err().kind(),
        Kind::AlreadyExists
    );
    assert!(!lone_pub.exists(), "a refused keygen wrote the private key");
    assert_eq!(
        std::fs::read_to_string(public_key_path(&lone_pub)).unwrap(),
        "ssh-ed25519 kept\n"
    );

    let err = allowed_signers_line("two names", &public).unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid input: principal \"two names\" must be one non-empty name without spaces, \
         quotes, commas or a leading #"
    );

    if let Some((ssh, _)) = tools("keygen_writes_a_0600_key_openssh_reads_and_never_overwrites") {
        // OpenSSH derives the same public key from our private key file.
        let mut cmd = Command::new(ssh);
        cmd.args(["-y", "-f"]).arg(&key);
        let (status, out, err) = run(cmd, None, tmp.path());
        assert!(status.success(), "ssh-keygen -y: {err}");
        assert_eq!(out, pub_text);
    }
}

/// Makes a key with the real ssh-keygen; `args` choose the type and passphrase.
fn openssh_key(ssh: &Path, dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let key = dir.join(name);
    let mut cmd = Command::new(ssh);
    cmd.args(["-q", "-C", name, "-f"]).arg(&key).args(args);
    let (status, _, err) = run(cmd, None, dir);
    assert!(status.success(), "ssh-keygen {args:?}: {err}");
    key
}

#[test]
fn signing_refuses_bad_keys_with_a_clear_message_and_writes_nothing() {
    let fx = Fixture::new();
    let bundle = fx.copy("unsigned");
    std::fs::remove_file(bundle.join(SIGNATURE_FILE)).unwrap();
    let refuse = |key: &Path, kind: Kind, message: &str| {
        let before = snapshot(&bundle);
        let err = sign_manifest(&bundle, key).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(fx.message(&err), message);
        assert_eq!(
            snapshot(&bundle),
            before,
            "a refused signing changed the bundle"
        );
    };
    refuse(
        &fx.tmp.path().join("keys/nope"),
        Kind::KeyMissing,
        "signing key not found: <tmp>/keys/nope: no such file (make a release key with \
         `auditwall keygen`)",
    );
    refuse(
        &public_key_path(&fx.key),
        Kind::KeyInvalid,
        "not an OpenSSH key: <tmp>/keys/release.pub: this is a public key; pass the private key \
         (the file without .pub)",
    );
    let garbage = fx.tmp.path().join("garbage");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let err = sign_manifest(&bundle, &garbage).unwrap_err();
    assert_eq!(err.kind(), Kind::KeyInvalid);
    assert!(fx.message(&err).starts_with(
        "not an OpenSSH key: <tmp>/garbage: expected an OpenSSH private key \
         (-----BEGIN OPENSSH PRIVATE KEY-----): "
    ));
    let inside = bundle.join("release-key");
    std::fs::copy(&fx.key, &inside).unwrap();
    refuse(
        &inside,
        Kind::KeyInBundle,
        "signing key inside the bundle: <tmp>/unsigned/release-key: a private key must never be \
         inside the bundle it signs; keep it elsewhere",
    );
    std::fs::remove_file(&inside).unwrap();

    // An existing signature is never replaced.
    let signed = fx.copy("signed");
    let err = sign_manifest(&signed, &fx.key).unwrap_err();
    assert_eq!(err.kind(), Kind::AlreadyExists);
    assert_eq!(
        std::fs::read(signed.join(SIGNATURE_FILE)).unwrap(),
        std::fs::read(fx.bundle.join(SIGNATURE_FILE)).unwrap()
    );

    let Some((ssh, _)) = tools("signing_refuses_bad_keys_with_a_clear_message_and_writes_nothing")
    else {
        return;
    };
    let keys = fx.tmp.path().join("keys");
    let ecdsa = openssh_key(&ssh, &keys, "ecdsa", &["-t", "ecdsa", "-N", ""]);
    refuse(
        &ecdsa,
        Kind::KeyType,
        "unsupported key type: <tmp>/keys/ecdsa: ecdsa-sha2-nistp256 keys are not supported; \
         release keys are ed25519 (`auditwall keygen` makes one)",
    );
    let rsa = openssh_key(&ssh, &keys, "rsa", &["-t", "rsa", "-b", "2048", "-N", ""]);
    refuse(
        &rsa,
        Kind::KeyType,
        "unsupported key type: <tmp>/keys/rsa: ssh-rsa keys are not supported; release keys are \
         ed25519 (`auditwall keygen` makes one)",
    );
    let encrypted = openssh_key(
        &ssh,
        &keys,
        "encrypted",
        &["-t", "ed25519", "-N", "hunter42"],
    );
    refuse(
        &encrypted,
        Kind::KeyEncrypted,
        "encrypted key: <tmp>/keys/encrypted: encrypted keys are not supported; use an \
         unencrypted ed25519 key kept with mode 0600 (`auditwall keygen` makes one)",
    );
    // A plain ed25519 key made by OpenSSH signs fine.
    let openssh_ed = openssh_key(&ssh, &keys, "ed", &["-t", "ed25519", "-N", ""]);
    sign_manifest(&bundle, &openssh_ed).unwrap();
}

/// Bundle name, what to put in it, and the refusal: kind and exact message.
type RefusalCase = (&'static str, fn(&Path), Kind, &'static str);

#[test]
fn write_manifest_refuses_what_a_manifest_cannot_describe() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = |err: ReleaseError| {
        (
            err.kind(),
            err.to_string()
                .replace(&tmp.path().display().to_string(), "<tmp>"),
        )
    };
    let missing = tmp.path().join("missing");
    assert_eq!(
        msg(write_manifest(&missing).unwrap_err()),
        (
            Kind::NotADirectory,
            "not a bundle directory: <tmp>/missing: no such directory".into()
        )
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        msg(write_manifest(&empty).unwrap_err()),
        (
            Kind::EmptyBundle,
            "empty bundle: <tmp>/empty: no files to put in a manifest".into()
        )
    );

    let cases: [RefusalCase; 4] = [
        (
            "with-link",
            |d| std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap(),
            Kind::UnsupportedEntry,
            "unsupported bundle entry: <tmp>/with-link/link: symlinks are not allowed in a bundle",
        ),
        (
            "with-dir",
            |d| std::fs::create_dir(d.join("sub")).unwrap(),
            Kind::UnsupportedEntry,
            "unsupported bundle entry: <tmp>/with-dir/sub: subdirectories are not allowed in a \
             bundle (a bundle is flat)",
        ),
        (
            "with-backslash",
            |d| std::fs::write(d.join("a\\b"), "x").unwrap(),
            Kind::UnsupportedEntry,
            "unsupported bundle entry: <tmp>/with-backslash/a\\b: the name \"a\\\\b\" contains a \
             backslash or control character, which sha256sum would escape",
        ),
        (
            "with-manifest",
            |d| std::fs::write(d.join(MANIFEST_FILE), "old\n").unwrap(),
            Kind::AlreadyExists,
            "refusing to overwrite: <tmp>/with-manifest/MANIFEST: the bundle already has a \
             manifest or signature; write a fresh bundle instead",
        ),
    ];
    for (name, setup, kind, message) in cases {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("report.json"), "{}\n").unwrap();
        setup(&dir);
        let before = snapshot(&dir);
        assert_eq!(
            msg(write_manifest(&dir).unwrap_err()),
            (kind, message.to_string()),
            "{name}"
        );
        assert_eq!(
            snapshot(&dir),
            before,
            "{name}: a refused manifest changed the bundle"
        );
    }
}

#[test]
fn a_signed_manifest_that_is_not_sha256sum_format_is_refused() {
    let fx = Fixture::new();
    let bundle = fx.copy("forged");
    std::fs::remove_file(bundle.join(SIGNATURE_FILE)).unwrap();
    // Signed by a trusted key, so only the manifest's own rules can refuse it.
    let digest = "88a79bd33b420934fe38bd76bdfbf95f7121e5435178b88b030e9f7eb10fe102";
    std::fs::write(
        bundle.join(MANIFEST_FILE),
        format!("{digest}  ../report.json\n"),
    )
    .unwrap();
    sign_manifest(&bundle, &fx.key).unwrap();
    let err = verify(&bundle, &fx.allowed).unwrap_err();
    assert_eq!(err.kind(), Kind::ManifestMalformed);
    assert_eq!(
        fx.message(&err),
        "malformed MANIFEST: <tmp>/forged/MANIFEST: line 1: \"../report.json\" is not a plain \
         file name"
    );
}

#[test]
fn a_bundle_signed_with_another_key_type_is_refused_naming_it() {
    let Some((ssh, _)) = tools("a_bundle_signed_with_another_key_type_is_refused_naming_it") else {
        return;
    };
    let fx = Fixture::new();
    let ecdsa = openssh_key(
        &ssh,
        &fx.tmp.path().join("keys"),
        "ecdsa",
        &["-t", "ecdsa", "-N", ""],
    );
    let pub_text = std::fs::read_to_string(public_key_path(&ecdsa)).unwrap();
    let allowed = fx.tmp.path().join("ecdsa_signers");
    std::fs::write(&allowed, format!("{PRINCIPAL} {pub_text}")).unwrap();
    let copy = fx.copy("ecdsa-signed");
    let mut cmd = Command::new(&ssh);
    cmd.args(["-Y", "sign", "-f"])
        .arg(&ecdsa)
        .args(["-n", "auditwall-release"]);
    let (status, out, err) = run(cmd, Some(&copy.join(MANIFEST_FILE)), fx.tmp.path());
    assert!(status.success(), "ssh-keygen -Y sign: {err}");
    std::fs::write(copy.join(SIGNATURE_FILE), out).unwrap();
    let (ok, out) = ssh_verify(&ssh, &copy, &allowed, fx.tmp.path());
    assert!(ok, "OpenSSH itself accepts this signature: {out}");
    let err = verify(&copy, &allowed).unwrap_err();
    assert_eq!(err.kind(), Kind::KeyType);
    assert_eq!(
        fx.message(&err),
        "unsupported key type: <tmp>/ecdsa-signed/MANIFEST.sig: signed with an \
         ecdsa-sha2-nistp256 key; release signatures are ed25519"
    );
}
