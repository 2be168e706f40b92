//! Release keys: making an ed25519 key pair, and the allowed-signers line that trusts it.
//!
//! Owns: the key files `keygen` writes and their modes. Must not touch: bundles (a private
//! key never goes inside one) or any existing file.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey};

use crate::error::{Kind, ReleaseError, Result};
use crate::files::write_new;
use crate::NAMESPACE;

/// Writes a new unencrypted ed25519 private key to `path` (OpenSSH format, created with mode
/// 0600) and its public key to `<path>.pub`, and returns the public key.
///
/// Missing parent directories are created with mode 0700. Refuses, writing nothing, when
/// either file already exists, and refuses a comment with a control character (it would
/// break the one-line `.pub` file).
pub fn keygen(path: &Path, comment: &str) -> Result<PublicKey> {
    if comment.chars().any(char::is_control) {
        return Err(ReleaseError::new(
            Kind::InvalidInput,
            format!("key comment {comment:?} contains a control character"),
        ));
    }
    let pub_path = public_key_path(path);
    for existing in [path, pub_path.as_path()] {
        if existing.symlink_metadata().is_ok() {
            return Err(ReleaseError::new(
                Kind::AlreadyExists,
                "a key file is already there; choose another path or remove it yourself",
            )
            .at(existing));
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| ReleaseError::io(parent, "cannot create directory", &e))?;
    }
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(|e| {
        ReleaseError::new(Kind::Io, format!("cannot generate an ed25519 key: {e}")).at(path)
    })?;
    key.set_comment(comment);
    let encode_err =
        |e: ssh_key::Error| ReleaseError::new(Kind::Io, format!("cannot encode key: {e}")).at(path);
    let private_text = key.to_openssh(LineEnding::LF).map_err(encode_err)?;
    let public_text = key.public_key().to_openssh().map_err(encode_err)?;
    write_new(path, private_text.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pub_path, format!("{public_text}\n").as_bytes(), 0o644) {
        // Half a key pair is worse than none: the next keygen would refuse the leftover.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(key.public_key().clone())
}

/// `<path>.pub`, as `ssh-keygen` names it.
pub fn public_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}

/// One line for an allowed-signers file (no trailing newline) trusting `key` to sign releases
/// as `principal`: `<principal> namespaces="auditwall-release" ssh-ed25519 AAAA... [comment]`.
///
/// The principal is one name, as `ssh-keygen -Y verify -I` takes it: not empty, and without
/// whitespace, quotes, commas (which would make it a list) or a leading `#`.
pub fn allowed_signers_line(principal: &str, key: &PublicKey) -> Result<String> {
    let unusable = principal.is_empty()
        || principal.starts_with('#')
        || principal
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == ',');
    if unusable {
        return Err(ReleaseError::new(
            Kind::InvalidInput,
            format!(
                "principal {principal:?} must be one non-empty name without spaces, quotes, \
                 commas or a leading #"
            ),
        ));
    }
    let key_text = key
        .to_openssh()
        .map_err(|e| ReleaseError::new(Kind::InvalidInput, format!("cannot encode key: {e}")))?;
    Ok(format!("{principal} namespaces=\"{NAMESPACE}\" {key_text}"))
}
