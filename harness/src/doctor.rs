//! `doctor`: checks a wall's declared prerequisites on this host (commands, ports, files,
//! memory). Returns findings; the binary prints them.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use auditwall_spec::Prerequisites;

/// One line of `doctor` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    /// What was checked, e.g. `command curl`.
    pub subject: String,
    /// What was found, e.g. `/usr/bin/curl` or `not found on PATH`.
    pub detail: String,
}

impl Finding {
    fn new(ok: bool, subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            ok,
            subject: subject.into(),
            detail: detail.into(),
        }
    }
}

/// Checks every prerequisite. Network checks only touch the addresses the wall names, each
/// bounded by a short timeout.
pub fn check(pre: &Prerequisites) -> Vec<Finding> {
    let mut out = Vec::new();
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    for cmd in &pre.commands {
        let subject = format!("command {cmd}");
        match find_on_path(cmd, &path_var) {
            Some(p) => out.push(Finding::new(true, subject, p)),
            None => out.push(Finding::new(false, subject, "not found on PATH")),
        }
    }
    for addr in &pre.ports_free {
        let subject = format!("port {addr} free");
        out.push(match resolve(addr) {
            Err(e) => Finding::new(false, subject, e),
            Ok(sa) => match TcpListener::bind(sa) {
                Ok(_) => Finding::new(true, subject, "free"),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    Finding::new(false, subject, "in use")
                }
                Err(e) => Finding::new(false, subject, format!("cannot bind: {e}")),
            },
        });
    }
    for addr in &pre.ports_used {
        let subject = format!("port {addr} listening");
        out.push(match resolve(addr) {
            Err(e) => Finding::new(false, subject, e),
            Ok(sa) => match TcpStream::connect_timeout(&sa, Duration::from_millis(300)) {
                Ok(_) => Finding::new(true, subject, "accepting connections"),
                Err(e) => Finding::new(false, subject, format!("not accepting connections: {e}")),
            },
        });
    }
    for file in &pre.files {
        let subject = format!("file {file}");
        out.push(match std::fs::metadata(file) {
            Ok(m) if m.is_dir() => Finding::new(true, subject, "exists (directory)"),
            Ok(_) => Finding::new(true, subject, "exists"),
            Err(e) => Finding::new(false, subject, format!("{e}")),
        });
    }
    if let Some(min) = pre.min_memory {
        let subject = format!("memory >= {}", mib(min));
        out.push(match available_memory() {
            Some(avail) if avail >= min => {
                Finding::new(true, subject, format!("{} available", mib(avail)))
            }
            Some(avail) => Finding::new(false, subject, format!("only {} available", mib(avail))),
            None => Finding::new(
                false,
                subject,
                "cannot read available memory (/proc/meminfo)",
            ),
        });
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{}MiB", bytes / (1024 * 1024))
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("bad address: {e}"))?
        .next()
        .ok_or_else(|| "address resolves to nothing".to_string())
}

fn find_on_path(cmd: &str, path_var: &std::ffi::OsStr) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if cmd.contains('/') {
        return is_exec(Path::new(cmd)).then(|| cmd.to_string());
    }
    std::env::split_paths(path_var)
        .map(|d| d.join(cmd))
        .find(|p| is_exec(p))
        .map(|p| p.display().to_string())
}

fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
