//! The reference system as a whole: render its canonical configs into a deployed directory,
//! start every service as a process of the current executable, and stop them all.
//!
//! Owns: the system's layout on disk (deployed configs, logs, state), port choice, the
//! service specs, the live profile layer that tells a wall where the system listens, and the
//! entry point a service process runs ([`serve_from_env`]).
//! Must not touch: checks, verdicts or output.
//!
//! A service process is this same executable started with `AUDITWALL_SERVE=<service>`,
//! `AUDITWALL_SERVE_CONFIG=<file>` and `AUDITWALL_SERVE_LISTEN=<addr>`: any binary that calls
//! [`serve_from_env`] first thing in `main` (the CLI and the suite test targets do) can host
//! the reference system without a second binary to find or build.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use auditwall_reference::{hub, model, router, templates};
use auditwall_spec::{parse_document, SourceFile};

use crate::{Readiness, RuntimeError, RuntimeErrorKind, ServiceManager, ServiceSpec, Supervisor};

/// The services of the reference system, in start order (backends before the router).
pub const SERVICES: [&str; 4] = ["model-primary", "model-fallback", "hub", "router"];

const ENV_SERVE: &str = "AUDITWALL_SERVE";
const ENV_CONFIG: &str = "AUDITWALL_SERVE_CONFIG";
const ENV_LISTEN: &str = "AUDITWALL_SERVE_LISTEN";

/// Where one running reference system keeps its files.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// Deployed configs, rendered from the canonical templates.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
}

/// The loopback port of each service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(pub BTreeMap<String, u16>);

impl Ports {
    /// Free ports chosen by the OS, so several systems (parallel tests) never collide.
    pub fn free() -> Result<Ports, RuntimeError> {
        let mut ports = BTreeMap::new();
        // Hold every listener until all are chosen so no two services get the same port.
        let mut held = Vec::new();
        for service in SERVICES {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| {
                RuntimeError::service(
                    RuntimeErrorKind::Io,
                    service,
                    format!("cannot pick a free port: {e}"),
                )
            })?;
            let port = listener
                .local_addr()
                .map_err(|e| {
                    RuntimeError::service(
                        RuntimeErrorKind::Io,
                        service,
                        format!("cannot pick a free port: {e}"),
                    )
                })?
                .port();
            ports.insert(service.to_string(), port);
            held.push(listener);
        }
        Ok(Ports(ports))
    }

    pub fn get(&self, service: &str) -> u16 {
        self.0.get(service).copied().unwrap_or(0)
    }

    /// Template and profile key for a service: `model-primary` → `model_primary`.
    fn key(service: &str) -> String {
        service.replace('-', "_")
    }
}

/// A started reference system. Dropping it does not stop it; call [`ReferenceSystem::stop`].
pub struct ReferenceSystem {
    supervisor: Supervisor,
    pub layout: Layout,
    pub ports: Ports,
    /// The layout lives in a private temporary directory that `stop` removes.
    temporary: bool,
}

impl ReferenceSystem {
    /// Renders configs, then starts every service and waits until each is ready. On any
    /// failure everything already started is stopped again.
    pub fn start(
        exe: &Path,
        layout: Layout,
        ports: Ports,
    ) -> Result<ReferenceSystem, RuntimeError> {
        std::fs::create_dir_all(layout.config_dir())
            .map_err(|e| RuntimeError::io("create", &layout.config_dir(), &e))?;
        std::fs::create_dir_all(layout.logs_dir())
            .map_err(|e| RuntimeError::io("create", &layout.logs_dir(), &e))?;
        render_configs(&layout, &ports)?;
        let mut supervisor = Supervisor::new(layout.state_file())?;
        for service in SERVICES {
            let spec = service_spec(exe, &layout, &ports, service);
            if let Err(e) = supervisor.start(spec) {
                let _ = supervisor.down();
                return Err(e);
            }
        }
        Ok(ReferenceSystem {
            supervisor,
            layout,
            ports,
            temporary: false,
        })
    }

    /// Starts a private system on free ports in a fresh temporary directory, for one run.
    pub fn start_private(exe: &Path) -> Result<ReferenceSystem, RuntimeError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root = std::env::temp_dir().join(format!(
            "auditwall-reference-{}-{nanos:08x}",
            std::process::id()
        ));
        let layout = Layout::new(root);
        let result = Self::start(exe, layout.clone(), Ports::free()?);
        match result {
            Ok(mut system) => {
                system.temporary = true;
                Ok(system)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&layout.root);
                Err(e)
            }
        }
    }

    /// The profile layer (YAML) that points a wall at this running system.
    pub fn profile_layer(&self) -> String {
        profile_layer(&self.ports, &self.layout)
    }

    pub fn supervisor(&mut self) -> &mut Supervisor {
        &mut self.supervisor
    }

    /// Stops every service and removes the state file.
    pub fn stop(mut self) -> Result<crate::DownReport, RuntimeError> {
        let report = self.supervisor.down();
        if self.temporary && report.is_ok() {
            let _ = std::fs::remove_dir_all(&self.layout.root);
        }
        report
    }
}

/// Writes each service's deployed config from its canonical template.
pub fn render_configs(layout: &Layout, ports: &Ports) -> Result<(), RuntimeError> {
    let values: BTreeMap<String, String> = ports
        .0
        .iter()
        .map(|(service, port)| (format!("ports.{}", Ports::key(service)), port.to_string()))
        .collect();
    for t in templates::TEMPLATES {
        let text = templates::render(t.text, &values).map_err(|e| {
            RuntimeError::service(
                RuntimeErrorKind::Io,
                t.service,
                format!("template {}: {e}", t.file_name),
            )
        })?;
        let path = layout.config_dir().join(t.file_name);
        std::fs::write(&path, text).map_err(|e| {
            RuntimeError::service(
                RuntimeErrorKind::Io,
                t.service,
                format!("{}: {e}", path.display()),
            )
        })?;
    }
    Ok(())
}

fn service_spec(exe: &Path, layout: &Layout, ports: &Ports, service: &str) -> ServiceSpec {
    let port = ports.get(service);
    let listen = format!("127.0.0.1:{port}");
    let mut spec = ServiceSpec::new(service, exe);
    spec.env = vec![
        (ENV_SERVE.to_string(), service.to_string()),
        (
            ENV_CONFIG.to_string(),
            layout
                .config_dir()
                .join(format!("{service}.yaml"))
                .display()
                .to_string(),
        ),
        (ENV_LISTEN.to_string(), listen.clone()),
    ];
    spec.ports = vec![port];
    spec.ready = Readiness::HttpOk {
        url: format!("http://{listen}/health"),
    };
    spec.ready_timeout = Duration::from_secs(10);
    spec.stop_grace = Duration::from_secs(3);
    spec.log = Some(layout.logs_dir().join(format!("{service}.log")));
    spec
}

/// The live profile layer: ports, endpoints and where the deployed configs are.
pub fn profile_layer(ports: &Ports, layout: &Layout) -> String {
    let mut yaml = String::from("ports:\n");
    for (service, port) in &ports.0 {
        yaml.push_str(&format!("  {}: {port}\n", Ports::key(service)));
    }
    yaml.push_str("endpoints:\n");
    for (service, port) in &ports.0 {
        yaml.push_str(&format!(
            "  {}: \"http://127.0.0.1:{port}\"\n",
            Ports::key(service)
        ));
    }
    yaml.push_str(&format!(
        "reference:\n  config_dir: {:?}\n",
        layout.config_dir().display().to_string()
    ));
    yaml
}

/// If this process was started as a reference service, serve it and return the process exit
/// code; otherwise return `None` at once. Call it first thing in `main`.
pub fn serve_from_env() -> Option<i32> {
    let service = std::env::var(ENV_SERVE).ok()?;
    Some(match serve(&service) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("auditwall reference service {service}: {message}");
            1
        }
    })
}

fn serve(service: &str) -> Result<i32, String> {
    let config_path = std::env::var(ENV_CONFIG).map_err(|_| format!("{ENV_CONFIG} is not set"))?;
    let listen: SocketAddr = std::env::var(ENV_LISTEN)
        .map_err(|_| format!("{ENV_LISTEN} is not set"))?
        .parse()
        .map_err(|e| format!("{ENV_LISTEN}: {e}"))?;
    let text = std::fs::read_to_string(&config_path).map_err(|e| format!("{config_path}: {e}"))?;
    let src = SourceFile {
        path: config_path.clone(),
        text,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        match service {
            "model-primary" | "model-fallback" => {
                let config: model::ModelConfig = parse_document(&src).map_err(|e| e.to_string())?;
                match model::serve(config, listener)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    model::ServeExit::Crash => Ok(1),
                }
            }
            "router" => {
                let config: router::RouterConfig =
                    parse_document(&src).map_err(|e| e.to_string())?;
                match router::serve(config, listener).await {
                    Ok(never) => match never {},
                    Err(e) => Err(e.to_string()),
                }
            }
            "hub" => {
                let config: hub::HubConfig = parse_document(&src).map_err(|e| e.to_string())?;
                match hub::serve(config, listener).await {
                    Ok(never) => match never {},
                    Err(e) => Err(e.to_string()),
                }
            }
            other => Err(format!(
                "unknown reference service `{other}` (known: {})",
                SERVICES.join(", ")
            )),
        }
    })
}
