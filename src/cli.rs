//! Command-line arguments (clap derive). Parsing only: no I/O here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "auditwall",
    version,
    about = "A green wall means the system actually works."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a wall's checks and write JUnit, JSON and Markdown reports.
    Verify(VerifyArgs),
    /// Compare deployed files with their canonical sources (the calibration suite); with
    /// --write, put canonical content in place first (backups kept), then check.
    Calibrate(CalibrateArgs),
    /// Undo what an interrupted drill left behind (its restore is in the drill journal).
    Recover,
    /// The soak window: ticks over calendar days and the exit gate.
    Soak(SoakArgs),
    /// The release gate: doctor → verify → prove → soak check → docs build, then a signed
    /// report bundle; one exit code per failing gate.
    Release(ReleaseArgs),
    /// Make an ed25519 release signing key (private key mode 0600) and print its
    /// allowed_signers line.
    Keygen(KeygenArgs),
    /// Report bundle commands.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// The Kitchen Loop: the spec surface, its coverage, and the loop's commands.
    Loop {
        #[command(subcommand)]
        command: LoopCommand,
    },
    /// Validate a wall, resolve its profile and check its prerequisites on this host.
    Doctor(WallArgs),
    /// List the checks a wall would run (after filters), one per line.
    List(ListArgs),
    /// Host profile commands.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Start the reference system in the background; returns when every service is ready.
    Up(SystemArgs),
    /// Show each reference-system service: pid, port, uptime, readiness.
    Status(SystemArgs),
    /// Stop the reference system; nothing is left running.
    Down(SystemArgs),
    /// Switch a reference-system fault mode on (`none` clears every fault).
    Fault(FaultArgs),
}

#[derive(Debug, Args)]
pub struct SystemArgs {
    /// Where the running reference system keeps its state, configs and logs.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".auditwall/reference",
        env = "AUDITWALL_REFERENCE_DIR"
    )]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// none, hang-chat, wrong-answer, success-false, goodnight-no-lock, config-drift,
    /// crash-loop, port-hijack, stale-binary, silent-failover, seam-bug, lost-writes,
    /// crosstalk, primary-down, router-down, hub-down, fallback-down, hub-unrestartable,
    /// watchdog-never-gives-up, primary-single-slot
    pub mode: String,
    #[command(flatten)]
    pub system: SystemArgs,
}

#[derive(Debug, Args)]
pub struct SoakArgs {
    #[command(subcommand)]
    pub command: SoakCommand,
    /// The soak policy (YAML) [default: .auditwall/soak/policy.yaml if it exists, else the
    /// built-in defaults: 7 days, gaps up to 2h, RSS slope up to 1MiB/day, ...].
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The soak ledger (SQLite) [default: .auditwall/soak/ledger.sqlite].
    #[arg(long, global = true, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SoakCommand {
    /// Start a soak window (the policy's days, or --days).
    Start {
        #[arg(long)]
        days: Option<u32>,
    },
    /// Run the wall once (no disruptive checks) and record it as a tick; cron/timer friendly.
    Tick(WallArgs),
    /// Tick every --interval until SIGTERM or Ctrl-C (graceful: between ticks).
    Run {
        #[command(flatten)]
        wall: WallArgs,
        #[arg(long, value_name = "DURATION", default_value = "1h")]
        interval: String,
    },
    /// Elapsed calendar days, ticks, gaps, dirty ticks and trends.
    Status,
    /// The exit gate: every condition checked and explained; exit 1 if any fails.
    Check(WallArgs),
    /// Print a systemd timer+service, a launchd plist or a crontab line for the ticks.
    Install(SoakInstallArgs),
}

#[derive(Debug, Args)]
pub struct SoakInstallArgs {
    /// The wall directory the scheduler ticks.
    pub wall: Option<PathBuf>,
    /// systemd, launchd or cron.
    #[arg(long, default_value = "systemd")]
    pub kind: String,
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub interval: String,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub wall: WallArgs,
    /// The version being released, vMAJOR.MINOR.PATCH.
    #[arg(long)]
    pub version: String,
    /// The ed25519 signing key [default: $XDG_CONFIG_HOME/auditwall/release_ed25519].
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Where bundles go: <OUT>/<version>/ [default: .auditwall/releases].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Require the soak window's exit gate under this policy.
    #[arg(long, value_name = "FILE")]
    pub soak_policy: Option<PathBuf>,
    /// The command that builds the docs (run with sh -c); the gate fails if it does.
    #[arg(long, value_name = "COMMAND")]
    pub docs_command: Option<String>,
    /// Run the drills too.
    #[arg(long)]
    pub allow_disruptive: bool,
    /// Print the gates and the bundle path, run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where the private key goes (`.pub` beside it)
    /// [default: $XDG_CONFIG_HOME/auditwall/release_ed25519].
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The signer's name in the allowed_signers line (e.g. an email address).
    #[arg(long, default_value = "release@auditwall")]
    pub principal: String,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Check a release bundle offline: the SSH signature over MANIFEST and every file's
    /// sha256; names the file that fails.
    Verify(ReportVerifyArgs),
}

#[derive(Debug, Args)]
pub struct ReportVerifyArgs {
    /// The bundle directory (with MANIFEST and MANIFEST.sig).
    pub dir: PathBuf,
    /// An OpenSSH allowed_signers file naming who may sign releases.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum LoopCommand {
    /// Validate the wall's surface and scenarios and say what they hold.
    Validate(WallArgs),
    /// Print the coverage matrix: valid, covered (L4-green with --results), uncovered and
    /// blocked cells of the spec surface.
    Plan(LoopPlanArgs),
    /// Run loop cycles: backlog, exercise, execute, regress, canaries, triage, polish and
    /// drift control, each recorded in the ledger; a tripped gate pauses the loop.
    Run(LoopRunArgs),
    /// Lift a pause, saying why.
    Resume(LoopResumeArgs),
    /// Drive the reference hub as a synthetic power user: seeded random action sequences,
    /// every action checked at L3 and L4; a failure is shrunk and written as a finding.
    Exercise(ExerciseArgs),
}

#[derive(Debug, Args)]
pub struct LoopRunArgs {
    #[command(flatten)]
    pub wall: WallArgs,
    /// How many cycles to run (stopping early when a gate pauses the loop).
    #[arg(long, default_value_t = 1)]
    pub cycles: u32,
    /// How long each cycle's exercise phase drives the hub (0s skips it).
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub exercise: String,
    /// Also run the tiered canary fixtures (switches faults on the system, one at a time).
    #[arg(long)]
    pub canaries: bool,
    /// The command the `execute` phase runs (code changes); without one it is skipped.
    #[arg(long, value_name = "COMMAND")]
    pub execute_cmd: Option<String>,
    /// The command the `polish` phase runs; without one it is skipped.
    #[arg(long, value_name = "COMMAND")]
    pub polish_cmd: Option<String>,
    /// The loop's ledger (SQLite).
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".auditwall/loop/ledger.sqlite"
    )]
    pub ledger: PathBuf,
}

#[derive(Debug, Args)]
pub struct LoopResumeArgs {
    /// Why it is safe to go on (recorded in the ledger).
    #[arg(long)]
    pub reason: String,
    /// The loop's ledger (SQLite).
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".auditwall/loop/ledger.sqlite"
    )]
    pub ledger: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExerciseArgs {
    /// How long to exercise (e.g. 30s, 10m).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub duration: String,
    /// The seed: the same seed replays the same sequences (default: taken from the clock and
    /// printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where findings are written [default: .auditwall/findings].
    #[arg(long, value_name = "DIR")]
    pub findings: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoopPlanArgs {
    #[command(flatten)]
    pub wall: WallArgs,
    /// A run's report.json: cells count as covered only when a scenario claiming them passed.
    #[arg(long, value_name = "REPORT.json")]
    pub results: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print every resolved profile value with the layer that set it.
    Show(WallArgs),
}

/// Which wall, and which profile overlays.
#[derive(Debug, Args)]
pub struct WallArgs {
    /// Wall directory (containing wall.yaml). Default: the embedded default wall.
    pub wall: Option<PathBuf>,
    /// Profile overlay(s) applied over profiles/base.yaml, in order (profiles/<NAME>.yaml).
    #[arg(
        long = "profile",
        value_name = "NAME",
        env = "AUDITWALL_PROFILE",
        value_delimiter = ','
    )]
    pub profiles: Vec<String>,
}

/// Which checks.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only checks whose id or suite::id matches this glob (repeatable).
    #[arg(long = "id", value_name = "GLOB")]
    pub ids: Vec<String>,
    /// Only checks with this tag (repeatable; any matches).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only checks of this suite (repeatable).
    #[arg(long = "suite", value_enum)]
    pub suites: Vec<SuiteArg>,
    /// Only checks at least this severe (P0 most severe).
    #[arg(long, value_enum)]
    pub severity: Option<SeverityArg>,
    /// Run one shard: hash:K/N or count:K/N (K is 1-based), as in cargo nextest.
    #[arg(long, value_name = "KIND:K/N")]
    pub partition: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub wall: WallArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub wall: WallArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Checks running at once (default: the wall's settings.jobs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Per-check timeout, overriding the specs (e.g. 5s).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Whole-run deadline (default: the wall's settings.deadline).
    #[arg(long, value_name = "DURATION")]
    pub deadline: Option<String>,
    /// Retries per check, overriding the specs; a pass on retry is reported flaky.
    #[arg(long)]
    pub retries: Option<u32>,
    /// Allow disruptive checks (drills, fault canaries); they run one at a time.
    #[arg(long)]
    pub allow_disruptive: bool,
    /// Also run every check's negative control (its canary fault) and report it proven or
    /// vacuous; implies --allow-disruptive.
    #[arg(long)]
    pub prove: bool,
    /// Print the plan and exit without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write junit.xml, report.json and summary.md
    /// [default: .auditwall/reports/<run-id>].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Also print every observation of every check.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Colors and live progress: auto (only on a terminal, honouring NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub wall: WallArgs,
    /// Only the calibration checks whose id or suite::id matches this glob (repeatable).
    #[arg(long = "id", value_name = "GLOB")]
    pub ids: Vec<String>,
    /// Only report drift (the default): exit 1 when a deployed file drifted.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// Render canonical content into the deployed files atomically, keeping a backup of
    /// every file replaced, then check. Files marked `managed: false` are left alone.
    #[arg(long)]
    pub write: bool,
    /// With --write, also overwrite files marked `managed: false`.
    #[arg(long, requires = "write")]
    pub adopt_unmanaged: bool,
    /// Where to write junit.xml, report.json and summary.md
    /// [default: .auditwall/reports/<run-id>].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Also print every observation of every check.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Colors and live progress: auto (only on a terminal, honouring NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SuiteArg {
    Probes,
    Calibration,
    Drills,
    Scenarios,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    #[value(name = "P0")]
    P0,
    #[value(name = "P1")]
    P1,
    #[value(name = "P2")]
    P2,
    #[value(name = "P3")]
    P3,
}
