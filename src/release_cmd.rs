//! `auditwall keygen`, `auditwall report verify` and `auditwall release`: the signed report
//! bundle (the `auditwall-release` crate does the manifest, signatures and verification).

use std::collections::BTreeMap;
use std::path::PathBuf;

use auditwall_harness::result::{ProofStatus, Verdict};
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

/// The release gates, in order; each failing one has its own exit code (`src/exit.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Doctor,
    Verify,
    Prove,
    Soak,
    Docs,
    Bundle,
}

impl Gate {
    pub fn name(self) -> &'static str {
        match self {
            Gate::Doctor => "doctor",
            Gate::Verify => "verify",
            Gate::Prove => "prove",
            Gate::Soak => "soak",
            Gate::Docs => "docs",
            Gate::Bundle => "bundle",
        }
    }
}

/// `auditwall release --version vX.Y.Z`: doctor → verify → prove → soak check → docs build,
/// stopping at the first red gate; then the bundle: report.json, junit.xml, release-notes.md,
/// MANIFEST (sha256 of each) and MANIFEST.sig (SSH signature).
pub fn release(args: crate::cli::ReleaseArgs) -> anyhow::Result<Outcome> {
    let version = args.version.trim();
    let valid = version
        .strip_prefix('v')
        .map(|v| v.split('.').collect::<Vec<_>>())
        .is_some_and(|parts| {
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        });
    if !valid {
        return Err(Error::spec(format!(
            "--version {version}: expected vMAJOR.MINOR.PATCH, e.g. v0.1.0"
        ))
        .into());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(".auditwall/releases"))
        .join(version);
    let key = args.key.clone().unwrap_or_else(default_key);
    let plan = [
        "doctor: the wall loads and its prerequisites hold".to_string(),
        format!(
            "verify: every suite{}",
            if args.allow_disruptive {
                ", drills included"
            } else {
                " (drills need --allow-disruptive)"
            }
        ),
        "prove: every check's negative control (when the wall has canaries)".to_string(),
        match &args.soak_policy {
            Some(p) => format!("soak: the exit gate under {}", p.display()),
            None => "soak: skipped (no --soak-policy)".to_string(),
        },
        match &args.docs_command {
            Some(c) => format!("docs: `{c}`"),
            None => "docs: skipped (no --docs-command)".to_string(),
        },
        format!("bundle: {} signed with {}", out.display(), key.display()),
    ];
    if args.dry_run {
        println!("release {version}, in order, stopping at the first red gate:");
        for (i, step) in plan.iter().enumerate() {
            println!("  {}. {step}", i + 1);
        }
        return Ok(Outcome::Done);
    }
    // Bad input before any gate runs: nothing to overwrite, a key to sign with, no bundle in
    // a source folder.
    if out.exists() {
        return Err(Error::spec(format!(
            "{}: already exists; a release bundle is never overwritten",
            out.display()
        ))
        .into());
    }
    if let Some(wall) = &args.wall.wall {
        let (wall, out_abs) = (std::path::absolute(wall)?, std::path::absolute(&out)?);
        if out_abs.starts_with(&wall) {
            return Err(Error::spec(format!(
                "{}: inside the wall directory {}; bundles never go into a source folder",
                out.display(),
                wall.display()
            ))
            .into());
        }
    }
    if !key.exists() {
        return Err(Error::spec(format!(
            "signing key not found: {} (make one with `auditwall keygen`)",
            key.display()
        ))
        .into());
    }
    let gate_failed = |gate: Gate, why: String| -> anyhow::Result<Outcome> {
        println!("release {version}: gate {} FAILED: {why}", gate.name());
        Ok(Outcome::Release { failed: Some(gate) })
    };
    // 1. doctor
    let (_, unresolved) = crate::commands::load_wall_with(&args.wall, Vec::new())?;
    let missing: Vec<String> = auditwall_harness::doctor::check(&unresolved.wall.prerequisites)
        .into_iter()
        .filter(|f| !f.ok)
        .map(|f| format!("{}: {}", f.subject, f.detail))
        .collect();
    if !missing.is_empty() {
        return gate_failed(Gate::Doctor, missing.join("; "));
    }
    println!("release {version}: gate doctor passed");
    // 2. verify
    crate::recover::before_run()?;
    let target = crate::quiet::Target::start(&args.wall)?;
    let (_, loaded) = crate::commands::load_wall_with(&args.wall, target.live_layers.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let prober = auditwall_probes::Prober::new()
        .map_err(|e| Error::harness(format!("cannot set up probes: {e}")))?;
    let mut suites = vec![
        auditwall_spec::Suite::Probes,
        auditwall_spec::Suite::Calibration,
        auditwall_spec::Suite::Scenarios,
    ];
    if args.allow_disruptive {
        suites.push(auditwall_spec::Suite::Drills);
    }
    let mut summary = runtime.block_on(crate::quiet::run_allowing(
        &loaded,
        suites,
        &prober,
        target.owner,
        args.allow_disruptive,
    ))?;
    summary.coverage = auditwall_harness::coverage::of_run(&loaded.wall, &summary.results);
    let red: Vec<String> = summary
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Drift | Verdict::Error))
        .map(|r| format!("{}::{} {}", r.suite, r.id, r.verdict))
        .collect();
    if !red.is_empty() {
        return gate_failed(Gate::Verify, red.join(", "));
    }
    println!(
        "release {version}: gate verify passed ({} checks)",
        summary.results.len()
    );
    // 3. prove
    let summary = if loaded.wall.checks.iter().any(|c| c.canary.is_some()) {
        let prover = auditwall_harness::prove::Prover::new(
            &loaded.wall,
            auditwall_harness::journal::default_path(),
            std::sync::Arc::new(auditwall_harness::calibrate::Calibrator::new(
                &loaded.wall.calibration,
            )),
        )
        .owned_by(target.owner);
        let (tx, _rx) = std::sync::mpsc::channel();
        let proved = runtime.block_on(prover.prove(summary, &prober, &tx));
        let bad: Vec<String> = proved
            .results
            .iter()
            .filter_map(|r| {
                let p = r.proof.as_ref()?;
                let fails = match p.status {
                    ProofStatus::Vacuous => r.severity == auditwall_spec::Severity::P0,
                    ProofStatus::Error => true,
                    _ => false,
                };
                fails.then(|| format!("{} {}: {}", r.id, p.status.as_str(), p.detail))
            })
            .collect();
        if !bad.is_empty() {
            return gate_failed(Gate::Prove, bad.join("; "));
        }
        println!("release {version}: gate prove passed");
        proved
    } else {
        println!("release {version}: gate prove skipped (no check declares a canary)");
        summary
    };
    // 4. soak
    let soak = match &args.soak_policy {
        Some(policy) => {
            let report = crate::soak_cmd::gate(&args.wall, Some(policy))?;
            if !report.passed {
                let why: Vec<String> = report
                    .failed()
                    .map(|c| format!("{}: {}", c.name, c.explanation))
                    .collect();
                return gate_failed(Gate::Soak, why.join("; "));
            }
            println!("release {version}: gate soak passed");
            Some(report)
        }
        None => None,
    };
    // 5. docs
    if let Some(command) = &args.docs_command {
        match std::process::Command::new("sh")
            .args(["-c", command])
            .output()
        {
            Ok(o) if o.status.success() => println!("release {version}: gate docs passed"),
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" / ");
                return gate_failed(
                    Gate::Docs,
                    format!("`{command}` exited {}: {err}", o.status),
                );
            }
            Err(e) => return gate_failed(Gate::Docs, format!("`{command}` could not start: {e}")),
        }
    }
    drop(target);
    // 6. bundle
    match bundle(&out, &key, version, &summary, soak.as_ref()) {
        Ok(()) => {
            println!("release {version}: bundle {} written and signed (verify: auditwall report verify {} --allowed-signers FILE)", out.display(), out.display());
            Ok(Outcome::Release { failed: None })
        }
        Err(e) => gate_failed(Gate::Bundle, e.to_string()),
    }
}

fn bundle(
    out: &std::path::Path,
    key: &std::path::Path,
    version: &str,
    summary: &auditwall_harness::result::RunSummary,
    soak: Option<&auditwall_soak::GateReport>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut json = Vec::new();
    auditwall_reports::write_json(summary, &mut json)?;
    std::fs::write(out.join("report.json"), &json)?;
    let mut junit = Vec::new();
    auditwall_reports::write_junit(summary, &mut junit)?;
    std::fs::write(out.join("junit.xml"), &junit)?;
    let previous = previous_report(out);
    std::fs::write(
        out.join("release-notes.md"),
        notes(version, summary, soak, previous.as_ref()),
    )?;
    auditwall_release::write_manifest(out)?;
    auditwall_release::sign_manifest(out, key)?;
    Ok(())
}

/// The newest other bundle's report beside this one, for "what changed".
fn previous_report(out: &std::path::Path) -> Option<(String, serde_json::Value)> {
    let parent = out.parent()?;
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .filter(|e| e.path() != out && e.path().join("report.json").is_file())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    candidates.sort();
    let (_, dir) = candidates.pop()?;
    let text = std::fs::read_to_string(dir.join("report.json")).ok()?;
    Some((
        dir.file_name()?.to_string_lossy().into_owned(),
        serde_json::from_str(&text).ok()?,
    ))
}

fn notes(
    version: &str,
    s: &auditwall_harness::result::RunSummary,
    soak: Option<&auditwall_soak::GateReport>,
    previous: Option<&(String, serde_json::Value)>,
) -> String {
    use std::fmt::Write as _;
    let mut md = format!("# Release {version}\n\n");
    let _ = writeln!(
        md,
        "Wall `{}` ({}), run `{}`, profile digest `{}`.\n",
        s.info.wall, s.info.wall_source, s.info.run_id, s.info.profile_digest
    );
    let _ = writeln!(
        md,
        "## What was checked\n\n| suite | checks | pass |\n|---|---:|---:|"
    );
    for suite in auditwall_spec::Suite::ALL {
        let of: Vec<_> = s.results.iter().filter(|r| r.suite == suite).collect();
        if !of.is_empty() {
            let pass = of.iter().filter(|r| r.verdict == Verdict::Pass).count();
            let _ = writeln!(md, "| {suite} | {} | {pass} |", of.len());
        }
    }
    let proofs: Vec<_> = s.results.iter().filter_map(|r| r.proof.as_ref()).collect();
    if !proofs.is_empty() {
        let proven = proofs
            .iter()
            .filter(|p| p.status == ProofStatus::Proven)
            .count();
        let _ = writeln!(
            md,
            "\nNegative controls: {proven} of {} proven.",
            proofs.iter().filter(|p| p.fault.is_some()).count()
        );
    }
    if let Some(c) = &s.coverage {
        let _ = writeln!(md, "\n{}", auditwall_reports::coverage_sentence(c));
    }
    let drills: Vec<_> = s.results.iter().filter(|r| r.timeline.is_some()).collect();
    if !drills.is_empty() {
        let _ = writeln!(
            md,
            "\n## Measured drill timelines\n\n| drill | phase | at | budget |\n|---|---|---:|---:|"
        );
        for r in drills {
            for e in &r
                .timeline
                .as_ref()
                .map(|t| t.events.clone())
                .unwrap_or_default()
            {
                let at =
                    e.at.map_or("never".to_string(), auditwall_spec::render_duration);
                let budget = e
                    .budget
                    .map_or(String::new(), auditwall_spec::render_duration);
                let _ = writeln!(md, "| {} | {} | {at} | {budget} |", r.id, e.phase);
            }
        }
    }
    match soak {
        Some(report) => {
            let _ = writeln!(md, "\n## Soak\n");
            for c in &report.conditions {
                let _ = writeln!(
                    md,
                    "- {} {}: {}",
                    if c.ok { "ok" } else { "FAILED" },
                    c.name,
                    c.explanation
                );
            }
        }
        None => {
            let _ = writeln!(
                md,
                "\n## Soak\n\nNot required for this release (no soak policy given)."
            );
        }
    }
    let _ = writeln!(md, "\n## Changes since the previous release\n");
    match previous {
        None => {
            let _ = writeln!(md, "No previous release bundle beside this one.");
        }
        Some((name, report)) => {
            let before: BTreeMap<String, String> = report["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some((
                        c["id"].as_str()?.to_string(),
                        c["verdict"].as_str()?.to_string(),
                    ))
                })
                .collect();
            let now: BTreeMap<String, String> = s
                .results
                .iter()
                .map(|r| (r.id.clone(), r.verdict.as_str().to_string()))
                .collect();
            let added: Vec<&String> = now.keys().filter(|k| !before.contains_key(*k)).collect();
            let removed: Vec<&String> = before.keys().filter(|k| !now.contains_key(*k)).collect();
            let changed: Vec<String> = now
                .iter()
                .filter_map(|(k, v)| {
                    before
                        .get(k)
                        .filter(|b| *b != v)
                        .map(|b| format!("{k}: {b} → {v}"))
                })
                .collect();
            let _ = writeln!(
                md,
                "Against `{name}`: {} checks added, {} removed, {} changed verdict.",
                added.len(),
                removed.len(),
                changed.len()
            );
            for a in added {
                let _ = writeln!(md, "- added `{a}`");
            }
            for r in removed {
                let _ = writeln!(md, "- removed `{r}`");
            }
            for c in changed {
                let _ = writeln!(md, "- {c}");
            }
        }
    }
    md
}
