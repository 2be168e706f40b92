//! The one error type of this crate: what went wrong ([`Kind`]) and which file it is about.
//!
//! Owns: the wording of errors. Must not touch: exit codes, which the binary decides in one
//! place.

use std::path::{Path, PathBuf};

/// What was wrong. Every verification failure has its own kind, so the binary (and a test) can
/// tell a changed file from a missing one without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A file or directory could not be read, listed or written.
    Io,
    /// The bundle directory does not exist or is not a directory.
    NotADirectory,
    /// The bundle holds something a manifest cannot describe: a symlink, a subdirectory, a
    /// special file, or a name that is not plain UTF-8 text.
    UnsupportedEntry,
    /// The bundle has no files to put in a manifest.
    EmptyBundle,
    /// A file this call would write already exists; nothing was overwritten.
    AlreadyExists,
    /// The private key file does not exist.
    KeyMissing,
    /// The key file is not an OpenSSH key.
    KeyInvalid,
    /// The key is not ed25519.
    KeyType,
    /// The private key is protected by a passphrase.
    KeyEncrypted,
    /// The private key lies inside the bundle it would sign.
    KeyInBundle,
    /// A caller-supplied value is unusable (an empty or spaced principal).
    InvalidInput,
    /// The allowed-signers file has a line this crate cannot use.
    AllowedSigners,
    /// A file named in `MANIFEST` is not in the bundle (or `MANIFEST`/`MANIFEST.sig` is absent).
    FileMissing,
    /// A file in the bundle is not named in `MANIFEST`.
    FileAdded,
    /// A file's sha256 differs from the one in `MANIFEST`.
    FileChanged,
    /// `MANIFEST` is signed but is not in the `sha256sum` format.
    ManifestMalformed,
    /// `MANIFEST.sig` is not an SSH signature exactly as `ssh-keygen -Y sign` writes one.
    SignatureMalformed,
    /// The signature was made by a key that is not in the allowed-signers file.
    UnknownSigner,
    /// The signature is for another namespace, or the signer may not sign this namespace.
    WrongNamespace,
    /// The signature does not match the bytes of `MANIFEST`: one of the two was changed.
    SignatureMismatch,
}

/// A bundle could not be written, signed or verified. The message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ReleaseError {
    kind: Kind,
    path: Option<PathBuf>,
    // Kept as text and shown in `Display`: a caller that prints only the top-level error must
    // still see why.
    detail: String,
}

impl ReleaseError {
    pub(crate) fn new(kind: Kind, detail: impl std::fmt::Display) -> Self {
        ReleaseError {
            kind,
            path: None,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    pub(crate) fn io(path: &Path, what: &str, err: &std::io::Error) -> Self {
        ReleaseError::new(Kind::Io, format!("{what}: {err}")).at(path)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The file the error is about: the changed, missing or added file, the key, the
    /// allowed-signers file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn render(&self) -> String {
        let what = match self.kind {
            Kind::Io => "i/o error",
            Kind::NotADirectory => "not a bundle directory",
            Kind::UnsupportedEntry => "unsupported bundle entry",
            Kind::EmptyBundle => "empty bundle",
            Kind::AlreadyExists => "refusing to overwrite",
            Kind::KeyMissing => "signing key not found",
            Kind::KeyInvalid => "not an OpenSSH key",
            Kind::KeyType => "unsupported key type",
            Kind::KeyEncrypted => "encrypted key",
            Kind::KeyInBundle => "signing key inside the bundle",
            Kind::InvalidInput => "invalid input",
            Kind::AllowedSigners => "bad allowed-signers file",
            Kind::FileMissing => "file missing",
            Kind::FileAdded => "file added",
            Kind::FileChanged => "file changed",
            Kind::ManifestMalformed => "malformed MANIFEST",
            Kind::SignatureMalformed => "malformed signature",
            Kind::UnknownSigner => "unknown signer",
            Kind::WrongNamespace => "wrong signature namespace",
            Kind::SignatureMismatch => "signature does not match",
        };
        match &self.path {
            Some(path) => format!("{what}: {}: {}", path.display(), self.detail),
            None => format!("{what}: {}", self.detail),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ReleaseError>;
