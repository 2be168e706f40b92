//! Release bundles that anyone can verify offline, with tools every machine has.
//!
//! A bundle is a flat directory (the release gate writes `report.json`, `junit.xml` and
//! `release-notes.md` into it) plus two files this crate adds:
//!
//! - `MANIFEST`: one `<sha256 hex>  <name>` line per file, sorted — the `sha256sum` format,
//!   so `sha256sum -c MANIFEST` checks it ([`write_manifest`]);
//! - `MANIFEST.sig`: an SSH signature over the exact bytes of `MANIFEST` with namespace
//!   [`NAMESPACE`] (`auditwall-release`), made with an ed25519 key ([`sign_manifest`]), so
//!   `ssh-keygen -Y verify -f allowed_signers -I <principal> -n auditwall-release -s
//!   MANIFEST.sig < MANIFEST` checks it.
//!
//! [`keygen`] makes a release key (private key mode 0600, never inside a bundle) and
//! [`allowed_signers_line`] the line that trusts it; [`verify`] checks a bundle against an
//! allowed-signers file and names the file that fails.
//!
//! Owns: the bundle's integrity files and release keys. Must not touch: the reports inside a
//! bundle (the `reports` crate writes them), where bundles live, the terminal, or exit codes
//! (every error carries a [`Kind`] for the binary to map in one place). Unix only: key files
//! are created with their mode in one step.

pub mod error;
mod files;
mod keygen;
mod manifest;
mod sign;
mod verify;

pub use error::{Kind, ReleaseError};
pub use keygen::{allowed_signers_line, keygen, public_key_path};
pub use manifest::{write_manifest, Manifest, ManifestEntry};
pub use sign::sign_manifest;
pub use ssh_key::PublicKey;
pub use verify::{verify, Verified};

/// The SSHSIG namespace of release signatures: what `ssh-keygen -Y verify -n` must be given,
/// and what an allowed-signers line's `namespaces="..."` must allow.
pub const NAMESPACE: &str = "auditwall-release";

/// The manifest's file name inside a bundle.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// The signature's file name inside a bundle.
pub const SIGNATURE_FILE: &str = "MANIFEST.sig";
