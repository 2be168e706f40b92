//! `MANIFEST.sig`: an SSH signature (SSHSIG) over the exact bytes of `MANIFEST`.
//!
//! Owns: loading the signing key and writing the signature. Must not touch: the manifest or
//! any other bundle file; it signs what `write_manifest` wrote.
//!
//! The signature uses the namespace [`NAMESPACE`](crate::NAMESPACE) (`auditwall-release`) and
//! sha512, as `ssh-keygen -Y sign -n auditwall-release` would, so anyone can check it with
//! `ssh-keygen -Y verify -n auditwall-release`. Only unencrypted ed25519 keys sign: a
//! passphrase prompt has no place in an unattended release gate.

use std::io::ErrorKind;
use std::path::Path;

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

use crate::error::{Kind, ReleaseError, Result};
use crate::files::write_new;
use crate::manifest::check_dir;
use crate::{MANIFEST_FILE, NAMESPACE, SIGNATURE_FILE};

/// Signs `dir/MANIFEST` with the ed25519 private key at `key_path` and writes
/// `dir/MANIFEST.sig` (armored `-----BEGIN SSH SIGNATURE-----`).
///
/// Refuses, writing nothing: a missing `MANIFEST`, an existing `MANIFEST.sig`, a missing or
/// unreadable key, a key that is not ed25519, a passphrase-protected key, and a key inside
/// the bundle.
pub fn sign_manifest(dir: &Path, key_path: &Path) -> Result<()> {
    check_dir(dir)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = match std::fs::read(&manifest_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ReleaseError::new(
                Kind::FileMissing,
                "the bundle has no MANIFEST to sign; write the manifest first",
            )
            .at(&manifest_path))
        }
        Err(e) => return Err(ReleaseError::io(&manifest_path, "cannot read", &e)),
    };
    let key = load_key(key_path, dir)?;
    let signature = key
        .sign(NAMESPACE, HashAlg::Sha512, &manifest)
        .and_then(|sig| sig.to_pem(LineEnding::LF))
        .map_err(|e| {
            ReleaseError::new(Kind::KeyInvalid, format!("cannot sign: {e}")).at(key_path)
        })?;
    write_new(&dir.join(SIGNATURE_FILE), signature.as_bytes(), 0o644)
}

fn load_key(key_path: &Path, dir: &Path) -> Result<PrivateKey> {
    let text = match std::fs::read(key_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ReleaseError::new(
                Kind::KeyMissing,
                "no such file (make a release key with `auditwall keygen`)",
            )
            .at(key_path))
        }
        Err(e) => return Err(ReleaseError::io(key_path, "cannot read key", &e)),
    };
    // Both paths exist by now, so canonicalizing only fails on a race; then the check is moot.
    if let (Ok(key), Ok(bundle)) = (key_path.canonicalize(), dir.canonicalize()) {
        if key.starts_with(&bundle) {
            return Err(ReleaseError::new(
                Kind::KeyInBundle,
                "a private key must never be inside the bundle it signs; keep it elsewhere",
            )
            .at(key_path));
        }
    }
    let key = PrivateKey::from_openssh(&text).map_err(|e| {
        let detail = if text.starts_with(b"ssh-") || text.starts_with(b"ecdsa-") {
            "this is a public key; pass the private key (the file without .pub)".to_string()
        } else {
            format!("expected an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----): {e}")
        };
        ReleaseError::new(Kind::KeyInvalid, detail).at(key_path)
    })?;
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(ReleaseError::new(
            Kind::KeyType,
            format!(
                "{} keys are not supported; release keys are ed25519 (`auditwall keygen` makes one)",
                key.algorithm()
            ),
        )
        .at(key_path));
    }
    if key.is_encrypted() {
        return Err(ReleaseError::new(
            Kind::KeyEncrypted,
            "encrypted keys are not supported; use an unencrypted ed25519 key kept with mode 0600 \
             (`auditwall keygen` makes one)",
        )
        .at(key_path));
    }
    Ok(key)
}
