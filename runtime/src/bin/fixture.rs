//! A minimal stand-alone supervisor for tests that must kill the supervisor *process* and
//! watch what happens to its services (which an in-process test cannot do).
//!
//! Usage: `auditwall-runtime-fixture <state-file> <name> <port|-> <program> [args...]`
//!
//! Starts one service (ready when `port` accepts connections; `-` for no port; its log is
//! `<name>.log` beside the state file), prints `ready <pid>` on stdout, then waits until
//! stdin closes (at most ten minutes) and stops it.
//! The service is spawned from the main thread, which lives as long as the process, as
//! `PR_SET_PDEATHSIG` requires. Not part of the library API.
//!
//! It also hosts reference services (see `system::serve_from_env`), so tests can start a
//! whole `ReferenceSystem` from this binary.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use auditwall_runtime::{Readiness, ServiceManager, ServiceSpec, Supervisor};

const USAGE: &str =
    "usage: auditwall-runtime-fixture <state-file> <name> <port|-> <program> [args...]";
const MAX_LIFETIME: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    if let Some(code) = auditwall_runtime::system::serve_from_env() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [state, name, port, program, rest @ ..] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let port: Option<u16> = match port.as_str() {
        "-" => None,
        p => match p.parse() {
            Ok(p) => Some(p),
            Err(_) => {
                eprintln!("port `{p}` is not a port number\n{USAGE}");
                return ExitCode::from(2);
            }
        },
    };
    let mut spec = ServiceSpec::new(name.as_str(), program.as_str());
    spec.args = rest.to_vec();
    // Beside the state file, so a test's temporary directory holds (and removes) it.
    spec.log = Some(std::path::Path::new(state).with_file_name(format!("{name}.log")));
    if let Some(port) = port {
        spec.ports = vec![port];
        spec.ready = Readiness::TcpConnect {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
    }
    let mut supervisor = match Supervisor::new(state.as_str()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let handle = match supervisor.start(spec) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    println!("ready {}", handle.pid);
    let _ = std::io::stdout().flush();

    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = done.send(());
    });
    // Either stdin closed or the lifetime ran out: both mean the test is finished with us.
    let _ = wait.recv_timeout(MAX_LIFETIME);
    drop(supervisor);
    ExitCode::SUCCESS
}
