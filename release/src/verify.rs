//! Offline verification of a bundle: the signature over `MANIFEST`, then every file against it.
//!
//! Owns: reading allowed-signers files and deciding whether a bundle is intact. Must not
//! touch: anything on disk; verification only reads.
//!
//! Order matters: `MANIFEST` is trusted only after its signature checks out, so a forged
//! manifest can never decide which files are looked at. `MANIFEST.sig` must be byte for byte
//! the canonical armoring of the signature it holds (as `ssh-keygen -Y sign` and this crate
//! write it), so that no byte of any file in the bundle can change unnoticed — not even one a
//! lenient decoder would skip, such as a line break.

use std::fmt;
use std::io::{ErrorKind, Read};
use std::path::Path;

use ssh_key::{Algorithm, HashAlg, LineEnding, PublicKey, SshSig};

use crate::error::{Kind, ReleaseError, Result};
use crate::files::sha256_file;
use crate::manifest::{bundle_files, check_dir, check_regular, Manifest};
use crate::{MANIFEST_FILE, NAMESPACE, SIGNATURE_FILE};

// Far above any real file of its kind; a cap keeps a hostile bundle from exhausting memory.
const ALLOWED_SIGNERS_MAX: u64 = 1024 * 1024;
const MANIFEST_MAX: u64 = 16 * 1024 * 1024;
const SIGNATURE_MAX: u64 = 64 * 1024;

/// A bundle that verified: who signed it and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The principals field of the allowed-signers line whose key made the signature.
    pub principal: String,
    /// The signing key's fingerprint, `SHA256:...` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The verified manifest: every file of the bundle and its sha256.
    pub manifest: Manifest,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.manifest.entries().len();
        let files = if n == 1 { "file" } else { "files" };
        write!(
            f,
            "OK: {n} {files} match MANIFEST, signed by {} ({}) for {NAMESPACE}",
            self.principal, self.fingerprint
        )
    }
}

/// Verifies the bundle in `dir` against the keys in `allowed_signers` (the OpenSSH
/// allowed-signers format). Never modifies anything.
///
/// Fails on the first problem, naming the file: a malformed or non-ed25519 signature, a
/// signer not in the file, another namespace, a `MANIFEST` that does not match its
/// signature, and then per file (sorted by name) a missing, changed or added file.
pub fn verify(dir: &Path, allowed_signers: &Path) -> Result<Verified> {
    check_dir(dir)?;
    let signers = read_allowed_signers(allowed_signers)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let sig_path = dir.join(SIGNATURE_FILE);
    let manifest_bytes = read_capped(&manifest_path, MANIFEST_MAX)?;
    let sig_bytes = read_capped(&sig_path, SIGNATURE_MAX)?;

    let malformed =
        |detail: String| ReleaseError::new(Kind::SignatureMalformed, detail).at(&sig_path);
    let sig = SshSig::from_pem(&sig_bytes)
        .map_err(|e| malformed(format!("not an armored SSH signature: {e}")))?;
    let canonical = sig
        .to_pem(LineEnding::LF)
        .map_err(|e| malformed(format!("cannot re-encode the signature: {e}")))?;
    if canonical.as_bytes() != sig_bytes.as_slice() {
        return Err(malformed(
            "not byte for byte the signature ssh-keygen would write (was it edited?)".into(),
        ));
    }
    if sig.algorithm() != Algorithm::Ed25519 {
        return Err(ReleaseError::new(
            Kind::KeyType,
            format!(
                "signed with an {} key; release signatures are ed25519",
                sig.algorithm()
            ),
        )
        .at(&sig_path));
    }
    let sig_key = PublicKey::new(sig.public_key().clone(), "");
    let fingerprint = sig_key.fingerprint(HashAlg::Sha256).to_string();
    let same_key: Vec<&AllowedSigner> = signers
        .iter()
        .filter(|s| s.key.key_data() == sig.public_key())
        .collect();
    if same_key.is_empty() {
        return Err(ReleaseError::new(
            Kind::UnknownSigner,
            format!(
                "signed by {fingerprint}, which is not in the allowed signers {}",
                allowed_signers.display()
            ),
        )
        .at(&sig_path));
    }
    if sig.namespace() != NAMESPACE {
        return Err(ReleaseError::new(
            Kind::WrongNamespace,
            format!(
                "signed for namespace {:?}, expected {NAMESPACE:?}",
                sig.namespace()
            ),
        )
        .at(&sig_path));
    }
    let Some(signer) = same_key.into_iter().find(|s| s.allows(NAMESPACE)) else {
        return Err(ReleaseError::new(
            Kind::WrongNamespace,
            format!("{fingerprint} is not allowed to sign namespace {NAMESPACE:?} there"),
        )
        .at(allowed_signers));
    };
    if signer.key.verify(NAMESPACE, &manifest_bytes, &sig).is_err() {
        return Err(ReleaseError::new(
            Kind::SignatureMismatch,
            format!("{MANIFEST_FILE} does not match {SIGNATURE_FILE}: one of them was changed after signing"),
        )
        .at(&manifest_path));
    }

    let manifest = Manifest::parse(&manifest_bytes, &manifest_path)?;
    for entry in manifest.entries() {
        let path = dir.join(&entry.name);
        if let Err(e) = path.symlink_metadata() {
            if e.kind() == ErrorKind::NotFound {
                return Err(ReleaseError::new(
                    Kind::FileMissing,
                    "listed in MANIFEST but not in the bundle",
                )
                .at(&path));
            }
            return Err(ReleaseError::io(&path, "cannot read", &e));
        }
        check_regular(&path)?;
        let actual = sha256_file(&path)?;
        if actual != entry.sha256 {
            return Err(ReleaseError::new(
                Kind::FileChanged,
                format!("sha256 is {actual}, MANIFEST says {}", entry.sha256),
            )
            .at(&path));
        }
    }
    for name in bundle_files(dir)? {
        if manifest
            .entries()
            .binary_search_by(|e| e.name.cmp(&name))
            .is_err()
        {
            return Err(ReleaseError::new(
                Kind::FileAdded,
                "in the bundle but not listed in MANIFEST",
            )
            .at(&dir.join(name)));
        }
    }
    Ok(Verified {
        principal: signer.principals.clone(),
        fingerprint,
        manifest,
    })
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ReleaseError::new(Kind::FileMissing, "not in the bundle").at(path))
        }
        Err(e) => return Err(ReleaseError::io(path, "cannot open", &e)),
    };
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReleaseError::io(path, "cannot read", &e))?;
    if bytes.len() as u64 > max {
        return Err(ReleaseError::io(
            path,
            "cannot read",
            &std::io::Error::other(format!("larger than {max} bytes")),
        ));
    }
    Ok(bytes)
}

/// One usable line of an allowed-signers file.
#[derive(Debug)]
struct AllowedSigner {
    principals: String,
    /// `None`: any namespace, as OpenSSH reads a line without `namespaces=`.
    namespaces: Option<Vec<String>>,
    key: PublicKey,
}

impl AllowedSigner {
    fn allows(&self, namespace: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == namespace))
    }
}

fn read_allowed_signers(path: &Path) -> Result<Vec<AllowedSigner>> {
    let bad = |detail: String| ReleaseError::new(Kind::AllowedSigners, detail).at(path);
    let bytes = match read_capped(path, ALLOWED_SIGNERS_MAX) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == Kind::FileMissing => return Err(bad("no such file".into())),
        Err(e) => return Err(e),
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        bad(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut signers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        signers.push(parse_line(line).map_err(|why| bad(format!("line {}: {why}", i + 1)))?);
    }
    if signers.is_empty() {
        return Err(bad("no signer lines".into()));
    }
    Ok(signers)
}

/// `principals [options] keytype base64 [comment]`, the forms OpenSSH documents under
/// ALLOWED SIGNERS in ssh-keygen(1). Of the options only `namespaces="..."` is understood;
/// any other (`cert-authority`, `valid-after`, ...) is refused rather than ignored, because
/// ignoring a restriction would trust more than the file says.
fn parse_line(line: &str) -> std::result::Result<AllowedSigner, String> {
    let (principals, rest) = split_token(line)?;
    if rest.is_empty() {
        return Err("no key after the principals".into());
    }
    let (namespaces, key_text) = if looks_like_key_type(rest) {
        (None, rest)
    } else {
        let (options, rest) = split_token(rest)?;
        (parse_options(options)?, rest)
    };
    if key_text.is_empty() {
        return Err("no key after the principals".into());
    }
    let key = PublicKey::from_openssh(key_text).map_err(|e| format!("unreadable key: {e}"))?;
    Ok(AllowedSigner {
        principals: principals.trim_matches('"').to_string(),
        namespaces,
        key,
    })
}

fn looks_like_key_type(text: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|p| text.starts_with(p))
}

/// The first whitespace-separated token (a quoted part may hold spaces) and the rest.
fn split_token(text: &str) -> std::result::Result<(&str, &str), String> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((&text[..i], text[i..].trim_start())),
            _ => {}
        }
    }
    if quoted {
        Err(format!("unterminated quote in {text:?}"))
    } else {
        Ok((text, ""))
    }
}

fn parse_options(options: &str) -> std::result::Result<Option<Vec<String>>, String> {
    let mut namespaces = None;
    let mut quoted = false;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&options[start..]);
    for part in parts {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        if !name.eq_ignore_ascii_case("namespaces") {
            return Err(format!(
                "option {name:?} is not supported (only namespaces=\"...\")"
            ));
        }
        let Some(list) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
            return Err(format!("namespaces needs a quoted list, found {value:?}"));
        };
        namespaces = Some(list.split(',').map(str::to_string).collect());
    }
    Ok(namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILtSLPOSG3eN4bBJl8HKxtcHPKMixPWEfSHhbkP3Bq3v ed";

    #[test]
    fn the_allowed_signer_forms_this_crate_and_openssh_write_are_read() {
        let plain = parse_line(&format!("ops {KEY}")).unwrap();
        assert_eq!(plain.principals, "ops");
        assert_eq!(plain.namespaces, None);
        assert!(plain.allows("anything"));
        let listed = parse_line(&format!(
            "ops@lab,ci@lab NAMESPACES=\"git,auditwall-release\" {KEY}"
        ))
        .unwrap();
        assert_eq!(listed.principals, "ops@lab,ci@lab");
        assert!(listed.allows("auditwall-release"));
        assert!(!listed.allows("file"));
        let quoted = parse_line(&format!("\"ops lab\" namespaces=\"file\" {KEY}")).unwrap();
        assert_eq!(quoted.principals, "ops lab");
        assert!(!quoted.allows("auditwall-release"));
    }

    #[test]
    fn every_unusable_allowed_signer_line_says_why() {
        let cases = [
            (format!("ops cert-authority {KEY}"), "option \"cert-authority\" is not supported (only namespaces=\"...\")"),
            (format!("ops valid-after=\"20240101\",namespaces=\"x\" {KEY}"), "option \"valid-after\" is not supported (only namespaces=\"...\")"),
            (format!("ops namespaces=file {KEY}"), "namespaces needs a quoted list, found \"file\""),
            (format!("ops namespaces=\"file {KEY}"), "unterminated quote in \"namespaces=\\\"file ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILtSLPOSG3eN4bBJl8HKxtcHPKMixPWEfSHhbkP3Bq3v ed\""),
            ("ops".to_string(), "no key after the principals"),
            ("ops namespaces=\"x\"".to_string(), "no key after the principals"),
            ("ops ssh-ed25519 AAAA!!".to_string(), "unreadable key: "),
        ];
        for (line, why) in cases {
            let err = parse_line(&line).unwrap_err();
            assert!(err.starts_with(why), "{line:?}: {err}");
        }
    }

    #[test]
    fn an_allowed_signers_file_error_names_the_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("allowed_signers");
        std::fs::write(
            &path,
            format!("# keys\n\nops {KEY}\nci cert-authority {KEY}\n"),
        )
        .unwrap();
        let err = read_allowed_signers(&path).unwrap_err();
        assert_eq!(err.kind(), Kind::AllowedSigners);
        assert_eq!(
            err.to_string(),
            format!(
                "bad allowed-signers file: {}: line 4: option \"cert-authority\" is not supported \
                 (only namespaces=\"...\")",
                path.display()
            )
        );
        std::fs::write(&path, "# nothing yet\n").unwrap();
        assert_eq!(
            read_allowed_signers(&path).unwrap_err().to_string(),
            format!(
                "bad allowed-signers file: {}: no signer lines",
                path.display()
            )
        );
        let missing = tmp.path().join("nope");
        assert_eq!(
            read_allowed_signers(&missing).unwrap_err().to_string(),
            format!(
                "bad allowed-signers file: {}: no such file",
                missing.display()
            )
        );
    }
}
