//! One function per command. Each loads, plans, runs and hands results to reporters; the exit
//! code is decided in `exit::code`, never here.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::Context;
use auditwall_calibration::{append_ledger, DEFAULT_LEDGER_CAP};
use auditwall_harness::calibrate;
use auditwall_harness::engine::{self, RunOptions};
use auditwall_harness::journal;
use auditwall_harness::load::{self, LoadOptions, LoadedWall, WallSource};
use auditwall_harness::plan::{self, Filter, Partition, Plan};
use auditwall_harness::{doctor, Error};
use auditwall_probes::Prober;
use auditwall_reports::{TermStyle, Terminal};
use auditwall_runtime::daemon::{self, PrivateSystem};
use auditwall_spec::{parse_duration, Severity, Suite};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

use crate::cli::{
    ColorArg, Command, FilterArgs, ListArgs, LoopCommand, ProfileCommand, ReportCommand,
    SeverityArg, SuiteArg, VerifyArgs, WallArgs,
};
use crate::exit::Outcome;
use crate::system;

pub fn run(cli: crate::cli::Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Verify(args) => verify(args),
        Command::Calibrate(args) => crate::calibrate::calibrate(args),
        Command::Recover => crate::recover::recover(),
        Command::Keygen(args) => crate::release_cmd::keygen(args),
        Command::Release(args) => crate::release_cmd::release(args),
        Command::Soak(args) => crate::soak_cmd::soak(args),
        Command::Report {
            command: ReportCommand::Verify(args),
        } => crate::release_cmd::report_verify(args),
        Command::Loop {
            command: LoopCommand::Plan(args),
        } => crate::loop_cmd::plan(args),
        Command::Loop {
            command: LoopCommand::Validate(args),
        } => crate::loop_cmd::validate(args),
        Command::Loop {
            command: LoopCommand::Run(args),
        } => crate::loop_cmd::run(args),
        Command::Loop {
            command: LoopCommand::Resume(args),
        } => crate::loop_cmd::resume(args),
        Command::Loop {
            command: LoopCommand::Exercise(args),
        } => crate::exercise::exercise(&args.duration, args.seed, args.findings),
        Command::Doctor(args) => doctor(args),
        Command::List(args) => list(args),
        Command::Profile {
            command: ProfileCommand::Show(args),
        } => profile_show(args),
        Command::Up(args) => system::up(&args),
        Command::Status(args) => system::status(&args),
        Command::Down(args) => system::down(&args),
        Command::Fault(args) => system::fault(&args),
    }
}

fn source(args: &WallArgs) -> WallSource {
    match &args.wall {
        Some(dir) => WallSource::Dir(dir.clone()),
        None => WallSource::Embedded {
            name: "default",
            files: auditwall_scenarios::DEFAULT_WALL,
        },
    }
}

fn load_wall(args: &WallArgs) -> anyhow::Result<(WallSource, LoadedWall)> {
    load_wall_with(args, Vec::new())
}

pub(crate) fn load_wall_with(
    args: &WallArgs,
    live_layers: Vec<(String, String)>,
) -> anyhow::Result<(WallSource, LoadedWall)> {
    let source = source(args);
    if let WallSource::Dir(dir) = &source {
        if !dir.is_dir() {
            return Err(Error::spec(format!(
                "{}: not a directory (expected a wall directory containing wall.yaml)",
                dir.display()
            ))
            .into());
        }
    }
    let loaded = load::load(
        &source,
        &LoadOptions {
            overlays: args.profiles.clone(),
            live_layers,
        },
    )?;
    Ok((source, loaded))
}

pub(crate) fn filter(args: &FilterArgs) -> anyhow::Result<Filter> {
    let partition = args
        .partition
        .as_deref()
        .map(str::parse::<Partition>)
        .transpose()?;
    Ok(Filter {
        ids: args.ids.clone(),
        tags: args.tags.clone(),
        suites: args
            .suites
            .iter()
            .map(|s| match s {
                SuiteArg::Probes => Suite::Probes,
                SuiteArg::Calibration => Suite::Calibration,
                SuiteArg::Drills => Suite::Drills,
                SuiteArg::Scenarios => Suite::Scenarios,
            })
            .collect(),
        max_severity: args.severity.map(|s| match s {
            SeverityArg::P0 => Severity::P0,
            SeverityArg::P1 => Severity::P1,
            SeverityArg::P2 => Severity::P2,
            SeverityArg::P3 => Severity::P3,
        }),
        partition,
    })
}

fn duration_flag(flag: &str, value: &Option<String>) -> anyhow::Result<Option<Duration>> {
    let Some(v) = value.as_deref() else {
        return Ok(None);
    };
    match parse_duration(v) {
        Ok(d) if d.is_zero() => {
            Err(Error::spec(format!("--{flag} {v}: must be more than 0")).into())
        }
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(Error::spec(format!("--{flag} {v}: {e}")).into()),
    }
}

/// Run-time overrides from the command line, validated before anything starts.
struct Overrides {
    timeout: Option<Duration>,
    deadline: Option<Duration>,
    retries: Option<u32>,
}

impl Overrides {
    fn parse(args: &VerifyArgs) -> anyhow::Result<Overrides> {
        Ok(Overrides {
            timeout: duration_flag("timeout", &args.timeout)?,
            deadline: duration_flag("deadline", &args.deadline)?,
            retries: args.retries,
        })
    }
}

fn print_plan(plan: &Plan, overrides: &Overrides, out: &mut impl Write) -> std::io::Result<()> {
    for p in &plan.checks {
        let c = &p.check;
        let mut notes = Vec::new();
        if !c.needs.is_empty() {
            notes.push(format!("needs {}", c.needs.join(", ")));
        }
        if p.dependency_only {
            notes.push("dependency only".to_string());
        }
        if c.disruptive {
            notes.push("disruptive".to_string());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join("; "))
        };
        writeln!(
            out,
            "{:<48} {:<8} {}  timeout {}  retries {}{notes}",
            p.name(),
            c.kind_name(),
            c.severity,
            auditwall_spec::render_duration(overrides.timeout.unwrap_or(c.timeout)),
            overrides.retries.unwrap_or(c.retries)
        )?;
    }
    let n = plan.checks.len();
    writeln!(
        out,
        "{n} check{} planned, {} filtered out",
        if n == 1 { "" } else { "s" },
        plan.filtered_out
    )
}

fn list(args: ListArgs) -> anyhow::Result<Outcome> {
    let (_, loaded) = load_wall(&args.wall)?;
    let plan = plan::plan(&loaded.wall.checks, &filter(&args.filter)?)?;
    let mut out = std::io::stdout().lock();
    for p in &plan.checks {
        writeln!(out, "{}", p.name())?;
    }
    Ok(Outcome::Done)
}

pub(crate) fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    // Validate the flags, the wall and the filters before starting anything, so bad input
    // never starts the system.
    let overrides = Overrides::parse(&args)?;
    let filter = filter(&args.filter)?;
    let (_, unresolved) = load_wall(&args.wall)?;
    let dry_plan = plan::plan(&unresolved.wall.checks, &filter)?;
    if args.dry_run {
        print_plan(&dry_plan, &overrides, &mut std::io::stdout().lock())?;
        return Ok(Outcome::Done);
    }
    crate::recover::before_run()?;
    // Dropped (and so stopped) on every way out, errors included.
    let mut system = None;
    let mut live_layers = Vec::new();
    // The reference system's supervisor: a drill's journal entry is moot once it is gone.
    let mut owner = None;
    let shared_dir = std::env::var_os("AUDITWALL_REFERENCE_DIR")
        .map_or_else(|| PathBuf::from(".auditwall/reference"), PathBuf::from);
    let shared = if args.wall.wall.is_none() {
        daemon::read_info(&shared_dir).ok().flatten()
    } else {
        None
    };
    if let Some(info) = shared {
        eprintln!(
            "using the reference system running from {} (pid {})",
            shared_dir.display(),
            info.daemon_pid
        );
        live_layers.push(("reference".to_string(), info.profile_layer()));
        owner = Some(info.daemon_pid);
    } else if args.wall.wall.is_none() {
        let exe = std::env::current_exe().context("cannot find the auditwall executable")?;
        eprintln!("starting the reference system ...");
        let started = PrivateSystem::start(&exe)
            .map_err(|e| Error::harness(format!("cannot start the reference system: {e}")))?;
        live_layers.push(("reference".to_string(), started.profile_layer()));
        owner = Some(started.info.daemon_pid);
        system = Some(started);
    }
    // Load and plan again only when a live layer changes what the wall resolves to.
    let (loaded, plan) = if live_layers.is_empty() {
        (unresolved, dry_plan)
    } else {
        let loaded = load_wall_with(&args.wall, live_layers)?.1;
        let plan = plan::plan(&loaded.wall.checks, &filter)?;
        (loaded, plan)
    };
    let source = source(&args.wall);
    let settings = &loaded.wall.settings;
    let opts = RunOptions {
        jobs: args.jobs.unwrap_or(settings.jobs).max(1),
        deadline: overrides.deadline.unwrap_or(settings.deadline),
        timeout: overrides.timeout,
        retries: overrides.retries,
        allow_disruptive: args.allow_disruptive || args.prove || settings.allow_disruptive,
        interrupt: Some(Arc::new(Notify::new())),
        ..RunOptions::for_wall(&loaded.wall, owner)
    };
    let calibrator = opts.calibrator.clone();
    let wall_dir = match &source {
        WallSource::Dir(d) => Some(d.clone()),
        WallSource::Embedded { .. } => None,
    };
    let info = load::run_info(&loaded, wall_dir.as_deref());
    let report_dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".auditwall/reports").join(&info.run_id));

    let stdout = std::io::stdout();
    let is_tty = stdout.is_terminal();
    let color = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let mut style = TermStyle::for_tty(is_tty);
    style.color = color;
    style.verbose = args.verbose;

    // The engine runs on its own thread; this thread is the only one that writes to the terminal.
    let (tx, rx) = mpsc::channel();
    let secrets = loaded.wall.secrets.clone();
    let engine = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let prober =
                Prober::new().map_err(|e| Error::harness(format!("cannot set up probes: {e}")))?;
            Ok::<_, anyhow::Error>(runtime.block_on(async {
                // Ctrl-C or SIGTERM stops the run cleanly: checks cancelled, their processes
                // killed, partial reports written, the reference system stopped.
                let interrupt = opts.interrupt.clone();
                let signals = tokio::spawn(async move {
                    let mut term = signal(SignalKind::terminate()).ok();
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = async {
                            match term.as_mut() {
                                Some(t) => { t.recv().await; }
                                None => std::future::pending().await,
                            }
                        } => {}
                    }
                    if let Some(notify) = interrupt {
                        notify.notify_one();
                    }
                });
                let summary = engine::run(&plan, info, &secrets, &opts, &prober, &tx).await;
                signals.abort();
                summary
            }))
        })?;
    let mut terminal = Terminal::new(stdout.lock(), style);
    for event in rx {
        terminal.on_event(&event)?;
    }
    let summary = engine
        .join()
        .map_err(|_| Error::harness("the engine thread panicked"))??;
    let summary =
        crate::prove::after_run(&args, &loaded, &calibrator, owner, summary, &mut terminal)?;
    // An interrupted drill (Ctrl-C, SIGTERM, the deadline) owes its restore: pay it now,
    // while the system it broke is still there.
    let owed = crate::recover::run(&journal::default_path())?;
    // Spec-surface coverage, when the wall has a surface and the run had scenarios.
    let mut summary = summary;
    summary.coverage = auditwall_harness::coverage::of_run(&loaded.wall, &summary.results);
    if let Some(c) = &summary.coverage {
        terminal.coverage(c)?;
    }
    let paths = auditwall_reports::write_all(&summary, &report_dir)
        .with_context(|| format!("writing reports to {}", report_dir.display()))?;
    drop(terminal);
    println!("reports: {}", paths.dir.display());
    if let Some(entry) = calibrate::ledger_entry(&summary, &loaded.wall_digest) {
        // The soak and release gates read this later: failing to record it is not a detail.
        let ledger = calibrator.resolve(&loaded.wall.calibration.ledger);
        append_ledger(&ledger, entry, DEFAULT_LEDGER_CAP).map_err(|e| {
            Error::harness(format!(
                "cannot record the run in the calibration ledger: {e}"
            ))
        })?;
    }
    if let Some(Err(e)) = system.map(PrivateSystem::stop) {
        eprintln!("warning: stopping the reference system: {e}");
    }
    if owed > 0 {
        return Err(Error::harness(format!(
            "a drill's fault could not be undone and the system is still broken; its restore stays in {} (`auditwall recover` retries it)",
            journal::default_path().display()
        ))
        .into());
    }
    Ok(Outcome::Run(Box::new(summary)))
}

fn doctor(args: WallArgs) -> anyhow::Result<Outcome> {
    let (source, loaded) = load_wall(&args)?;
    let mut out = std::io::stdout().lock();
    let wall = &loaded.wall;
    writeln!(
        out,
        "ok    wall {} ({}): {} checks in {} spec files",
        wall.name,
        source.describe(),
        wall.checks.len(),
        loaded.spec_files
    )?;
    writeln!(
        out,
        "ok    profile {} (sha256 {})",
        loaded.profile_layers.join("+"),
        &loaded.profile_digest[..12]
    )?;
    let findings = doctor::check(&wall.prerequisites);
    for f in &findings {
        writeln!(
            out,
            "{}  {}: {}",
            if f.ok { "ok  " } else { "FAIL" },
            f.subject,
            f.detail
        )?;
    }
    let failed = findings.iter().filter(|f| !f.ok).count();
    writeln!(
        out,
        "{} prerequisites checked, {failed} missing",
        findings.len()
    )?;
    Ok(Outcome::Findings { failed })
}

fn profile_show(args: WallArgs) -> anyhow::Result<Outcome> {
    let (_, loaded) = load_wall(&args)?;
    let mut out = std::io::stdout().lock();
    let entries = loaded.profile.entries();
    let width = entries.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (key, value, layer) in entries {
        writeln!(out, "{key:<width$}  {value}  [{layer}]")?;
    }
    Ok(Outcome::Done)
}
