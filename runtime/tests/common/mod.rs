//! Shared helpers for the runtime's integration tests: free loopback ports, real Python and
//! shell services, a tiny HTTP client, bounded polling, and guards that kill what a test
//! started even when it panics.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use auditwall_runtime::{process_alive, Readiness, ServiceSpec};

/// A port nobody listens on right now, not handed out before by this process.
///
/// Picked below Linux's ephemeral range (32768+): there the kernel also assigns source ports
/// of outgoing connections and `bind(0)` results, so a port released by one test could be
/// taken by another test's connection before the service under test binds it.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().rotate_left(16);
    let mut x = seed | 1;
    for _ in 0..10_000 {
        // xorshift32: cheap, good enough to spread concurrent test processes apart.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let port = 20_000 + (x % 12_000) as u16;
        let mut taken = handed_out.lock().unwrap_or_else(|e| e.into_inner());
        if !taken.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            taken.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000");
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Serves the working directory over HTTP on 127.0.0.1:<argv[1]>.
pub const HTTP_SERVER: &str = "\
import http.server, sys
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
";

/// A Python service: `python3 -c <script> <args...>`, logging to `<dir>/<name>.log`.
pub fn python(name: &str, dir: &Path, script: &str, args: &[String]) -> ServiceSpec {
    let mut spec = ServiceSpec::new(name, "python3");
    spec.args = [vec!["-c".to_string(), script.to_string()], args.to_vec()].concat();
    spec.cwd = Some(dir.to_path_buf());
    spec.log = Some(dir.join(format!("{name}.log")));
    spec
}

/// A `sh -c <script>` service, logging to `<dir>/<name>.log`.
pub fn shell(name: &str, dir: &Path, script: &str) -> ServiceSpec {
    let mut spec = ServiceSpec::new(name, "sh");
    spec.args = vec!["-c".to_string(), script.to_string()];
    spec.cwd = Some(dir.to_path_buf());
    spec.log = Some(dir.join(format!("{name}.log")));
    spec
}

/// The HTTP file server on `port`, ready once the port accepts connections.
pub fn http_service(name: &str, dir: &Path, port: u16) -> ServiceSpec {
    let mut spec = python(name, dir, HTTP_SERVER, &[port.to_string()]);
    spec.ports = vec![port];
    spec.ready = Readiness::TcpConnect {
        addr: loopback(port),
    };
    spec
}

/// One `GET` on loopback; the status code, or the I/O error (e.g. a read timeout).
pub fn http_get(port: u16, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&loopback(port), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {text:?}")))
}

/// Poll `condition` every 10 ms until it holds or `timeout` passes; true if it held.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read pids written one per line by a service; waits (bounded) until `count` are there.
pub fn read_pids(path: &Path, count: usize) -> Vec<u32> {
    let mut pids = Vec::new();
    let complete = eventually(Duration::from_secs(10), || {
        pids = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.len() >= count
    });
    assert!(complete, "{} never listed {count} pids", path.display());
    pids
}

/// SIGKILLs the listed pids (and their groups, for group leaders) on drop, so a failing
/// test leaves nothing running. Only signals processes that are still alive.
#[derive(Default)]
pub struct KillOnDrop {
    pids: Vec<u32>,
    children: Vec<Child>,
}

impl KillOnDrop {
    pub fn pid(&mut self, pid: u32) {
        self.pids.push(pid);
    }

    pub fn child(&mut self, child: Child) -> &mut Child {
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for &pid in &self.pids {
            if pid > 1 && process_alive(pid) {
                // SAFETY: plain kill(2) on a pid this test started and that is still alive.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

/// The `auditwall-runtime-fixture` binary running as a separate supervisor process with one
/// service. Dropping it kills the fixture and whatever is left of the service's group.
pub struct Fixture {
    child: Child,
    pub pid: u32,
    pub service_pid: u32,
}

impl Fixture {
    /// Start the fixture in `dir` and wait (bounded) for its `ready <pid>` line.
    pub fn start(dir: &Path, state: &Path, name: &str, port: &str, command: &[&str]) -> Fixture {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_auditwall-runtime-fixture"))
            .arg(state)
            .arg(name)
            .arg(port)
            .args(command)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the fixture supervisor");
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut fixture = Fixture {
            child,
            pid,
            service_pid: 0,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("fixture never reported ready");
        fixture.service_pid = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("fixture said {line:?} instead of `ready <pid>`"));
        fixture
    }

    /// SIGKILL the supervisor process (it gets no chance to clean up) and reap it.
    pub fn kill_supervisor(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.kill_supervisor();
        if self.service_pid > 1 && !auditwall_runtime::group_members(self.service_pid).is_empty() {
            // SAFETY: kill(2) on the process group the fixture created for its service.
            unsafe { libc::kill(-(self.service_pid as libc::pid_t), libc::SIGKILL) };
        }
    }
}

/// One HTTP/1.1 answer, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// One request on loopback with `Connection: close` (a JSON body when given); the whole
/// answer, or the I/O error. Every read and write is bounded by `timeout`.
pub fn http_call(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&loopback(port), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = json.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = |what: &str| std::io::Error::other(format!("{what} in answer: {text:?}"));
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else {
        rest.to_string()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    // Each chunk consumes its size line, so this ends with the text.
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}
