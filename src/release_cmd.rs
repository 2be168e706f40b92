//! `auditwall keygen`, `auditwall report verify` and `auditwall release`: the signed report
//! bundle (the `auditwall-release` crate does the manifest, signatures and verification).

use std::path::PathBuf;

use auditwall_harness::Error;
use auditwall_release::{allowed_signers_line, keygen as make_key, public_key_path, verify, Kind};

use crate::cli::{KeygenArgs, ReportVerifyArgs};
use crate::exit::Outcome;

/// Where `keygen` writes and `release` reads the signing key unless told otherwise: in the
/// user's config, never in a bundle or a source folder.
pub fn default_key() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("auditwall").join("release_ed25519")
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<Outcome> {
    let path = args.out.unwrap_or_else(default_key);
    let key = make_key(&path, &args.principal).map_err(|e| Error::spec(e.to_string()))?;
    let line =
        allowed_signers_line(&args.principal, &key).map_err(|e| Error::spec(e.to_string()))?;
    println!(
        "private key: {} (mode 0600; keep it out of bundles and repositories)",
        path.display()
    );
    println!("public key:  {}", public_key_path(&path).display());
    println!("allowed_signers line (give it to whoever verifies your releases):");
    println!("{line}");
    Ok(Outcome::Done)
}

pub fn report_verify(args: ReportVerifyArgs) -> anyhow::Result<Outcome> {
    match verify(&args.dir, &args.allowed_signers) {
        Ok(verified) => {
            println!("{verified}");
            Ok(Outcome::Done)
        }
        // A bundle that does not verify is a finding about the bundle (exit 1); bad input
        // (no such directory, a malformed allowed-signers file) is the caller's mistake (2).
        Err(e) => match e.kind() {
            Kind::AllowedSigners | Kind::NotADirectory | Kind::InvalidInput => {
                Err(Error::spec(e.to_string()).into())
            }
            _ => {
                eprintln!("FAILED: {e}");
                Ok(Outcome::Findings { failed: 1 })
            }
        },
    }
}
