//! `up`, `status`, `down` and `fault`: the reference system as a background service.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use auditwall_harness::Error;
use auditwall_runtime::daemon::{self, SpawnOptions, SystemInfo};
use auditwall_runtime::system::{Fault, Layout};
use auditwall_runtime::{get_status, ServiceManager, Supervisor};

use crate::cli::{FaultArgs, SystemArgs};
use crate::exit::Outcome;

fn running(args: &SystemArgs) -> anyhow::Result<SystemInfo> {
    daemon::read_info(&args.dir)
        .map_err(|e| Error::harness(e.to_string()))?
        .ok_or_else(|| {
            Error::harness(format!(
                "no reference system is running from {} (start one with `auditwall up`)",
                args.dir.display()
            ))
            .into()
        })
}

pub fn up(args: &SystemArgs) -> anyhow::Result<Outcome> {
    let exe = std::env::current_exe().context("cannot find the auditwall executable")?;
    let opts = SpawnOptions {
        detach: true,
        watch_pid: None,
        ready_timeout: Duration::from_secs(30),
        ephemeral: false,
    };
    let info = daemon::spawn(&exe, &args.dir, &opts)
        .map_err(|e| Error::harness(format!("cannot start the reference system: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "reference system up (supervisor pid {}, state in {})",
        info.daemon_pid,
        args.dir.display()
    )?;
    for service in info.ports.keys() {
        writeln!(out, "  {service:<15} {}", info.endpoint(service))?;
    }
    writeln!(
        out,
        "run `auditwall verify` to check it, `auditwall down` to stop it"
    )?;
    Ok(Outcome::Done)
}

pub fn status(args: &SystemArgs) -> anyhow::Result<Outcome> {
    let info = running(args)?;
    let supervisor = Supervisor::attach(Layout::new(&args.dir).state_file())
        .map_err(|e| Error::harness(e.to_string()))?;
    let now_ms = auditwall_harness::unix_ms(SystemTime::now());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<15} {:>7}  {:>5}  {:>8}  ready",
        "service", "pid", "port", "uptime"
    )?;
    let mut not_ready = 0;
    for s in supervisor.status() {
        let port = s.service.ports.first().copied().unwrap_or(0);
        let uptime = Duration::from_millis(now_ms.saturating_sub(s.service.started_at_unix_ms));
        let ready = if !s.alive {
            "no (not running)".to_string()
        } else if s.paused {
            "no (paused)".to_string()
        } else {
            match get_status(
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_secs(1),
            ) {
                Ok(200) => "yes".to_string(),
                Ok(code) => format!("no (health answered {code})"),
                Err(e) => format!("no ({e})"),
            }
        };
        if ready != "yes" {
            not_ready += 1;
        }
        writeln!(
            out,
            "{:<15} {:>7}  {:>5}  {:>8}  {ready}",
            s.service.name,
            s.service.pid,
            port,
            uptime_text(uptime)
        )?;
    }
    writeln!(out, "watchdog        {}/status", info.endpoint("watchdog"))?;
    Ok(Outcome::Findings { failed: not_ready })
}

pub fn down(args: &SystemArgs) -> anyhow::Result<Outcome> {
    let report = daemon::stop(&args.dir, Duration::from_secs(20))
        .map_err(|e| Error::harness(format!("cannot stop the reference system: {e}")))?;
    let mut out = std::io::stdout().lock();
    if report.graceful {
        writeln!(out, "reference system stopped")?;
    }
    if !report.cleaned_up.is_empty() {
        writeln!(
            out,
            "stopped leftover services from the state file: {}",
            report.cleaned_up.join(", ")
        )?;
    }
    if !report.graceful && report.cleaned_up.is_empty() {
        writeln!(
            out,
            "no reference system was running from {}",
            args.dir.display()
        )?;
    }
    Ok(Outcome::Done)
}

pub fn fault(args: &FaultArgs) -> anyhow::Result<Outcome> {
    let Some(mode) = Fault::parse(&args.mode) else {
        let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        return Err(Error::spec(format!(
            "unknown fault mode `{}` (known: {})",
            args.mode,
            known.join(", ")
        ))
        .into());
    };
    let info = running(&args.system)?;
    let answer = daemon::fault(&info, mode).map_err(|e| Error::harness(e.to_string()))?;
    println!("{answer}");
    Ok(Outcome::Done)
}

/// `42s`, `5m12s`, `2d3h`: whole seconds, never `0ms` for a service that just started.
fn uptime_text(uptime: Duration) -> String {
    match uptime.as_secs() {
        s if s < 60 => format!("{s}s"),
        s => auditwall_spec::render_duration(Duration::from_secs(s)),
    }
}
