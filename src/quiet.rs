//! Running a wall once without a terminal (the loop's regress phase, soak ticks, the release
//! gate), and the reference system such a run targets.

use auditwall_harness::engine::{self, RunOptions};
use auditwall_harness::load::LoadedWall;
use auditwall_harness::plan::Filter;
use auditwall_harness::result::RunSummary;
use auditwall_harness::Error;
use auditwall_probes::Prober;
use auditwall_runtime::daemon::{self, PrivateSystem};
use auditwall_spec::Suite;

/// Runs the wall's checks of these suites (and what they need) once, with no terminal
/// output; disruptive checks are skipped.
pub async fn run(
    loaded: &LoadedWall,
    suites: Vec<Suite>,
    prober: &Prober,
    owner: Option<u32>,
) -> Result<RunSummary, Error> {
    run_allowing(loaded, suites, prober, owner, false).await
}

/// [`run`], with disruptive checks (drills) allowed or not.
pub async fn run_allowing(
    loaded: &LoadedWall,
    suites: Vec<Suite>,
    prober: &Prober,
    owner: Option<u32>,
    allow_disruptive: bool,
) -> Result<RunSummary, Error> {
    let filter = Filter {
        suites,
        ..Filter::default()
    };
    let plan = auditwall_harness::plan::plan(&loaded.wall.checks, &filter)?;
    let opts = RunOptions {
        allow_disruptive,
        ..RunOptions::for_wall(&loaded.wall, owner)
    };
    let info = auditwall_harness::load::run_info(loaded, None);
    let (tx, _rx) = std::sync::mpsc::channel();
    Ok(engine::run(&plan, info, &loaded.wall.secrets, &opts, prober, &tx).await)
}

/// The reference system the loop works on: the one `auditwall up` started, or a private one
/// for this run (stopped when this is dropped). A user wall brings its own system.
pub struct Target {
    pub live_layers: Vec<(String, String)>,
    pub owner: Option<u32>,
    pub hub: Option<String>,
    _private: Option<PrivateSystem>,
}

impl Target {
    pub fn start(wall: &crate::cli::WallArgs) -> anyhow::Result<Target> {
        if wall.wall.is_some() {
            return Ok(Target {
                live_layers: Vec::new(),
                owner: None,
                hub: None,
                _private: None,
            });
        }
        let dir = std::env::var_os("AUDITWALL_REFERENCE_DIR").map_or_else(
            || std::path::PathBuf::from(".auditwall/reference"),
            std::path::PathBuf::from,
        );
        if let Some(info) = daemon::read_info(&dir).ok().flatten() {
            eprintln!(
                "using the reference system running from {} (pid {})",
                dir.display(),
                info.daemon_pid
            );
            return Ok(Target {
                live_layers: vec![("reference".to_string(), info.profile_layer())],
                owner: Some(info.daemon_pid),
                hub: Some(info.endpoint("hub")),
                _private: None,
            });
        }
        let exe = std::env::current_exe()?;
        eprintln!("starting the reference system ...");
        let system = PrivateSystem::start(&exe)
            .map_err(|e| Error::harness(format!("cannot start the reference system: {e}")))?;
        Ok(Target {
            live_layers: vec![("reference".to_string(), system.profile_layer())],
            owner: Some(system.info.daemon_pid),
            hub: Some(system.info.endpoint("hub")),
            _private: Some(system),
        })
    }
}
