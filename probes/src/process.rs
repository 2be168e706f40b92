//! The `process` probe: is the service's process running, and is it the binary on disk?
//!
//! Owns: selecting processes (pid file or command-line regex over `/proc/*/cmdline`) and
//! measuring the lowest matching pid: RSS, executable, uptime and whether the running image
//! is still the file at the configured path (a stale binary after an upgrade is a real defect).
//! Must not touch: starting, stopping or signalling processes (the runtime crate does that).
//!
//! Linux only: it reads `/proc`. The probing process never matches its own name regex, so
//! a wall run named like the service it guards cannot count itself.

use std::time::Duration;

use auditwall_spec::{Observations, ProcessProbe};

use crate::ProbeError;

pub(crate) async fn run(
    probe: &ProcessProbe,
    timeout: Duration,
) -> Result<Observations, ProbeError> {
    #[cfg(target_os = "linux")]
    {
        let probe = probe.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        crate::blocking(deadline, timeout, "reading /proc", move || {
            linux::measure(&probe)
        })
        .await
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (probe, timeout);
        Err(ProbeError::detector(
            "process probes are not supported on this OS: they read Linux /proc",
        ))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;

    use auditwall_spec::{Observations, ProcessProbe, ProcessSelector, Value};

    use crate::procfs;
    use crate::ProbeError;

    pub(super) fn measure(probe: &ProcessProbe) -> Result<Observations, ProbeError> {
        let pids = select(&probe.selector)?;
        let mut obs = Observations::new();
        obs.set("running", Value::Bool(!pids.is_empty()));
        obs.set("count", Value::Number(pids.len() as f64));
        let Some(&pid) = pids.first() else {
            return Ok(obs);
        };
        obs.set("pid", Value::Number(f64::from(pid)));
        if let Some(rss) = rss(pid)? {
            obs.set("rss", Value::Bytes(rss));
        }
        if let Some(uptime) = uptime(pid)? {
            obs.set("uptime", Value::Duration(uptime));
        }
        let link = format!("/proc/{pid}/exe");
        match std::fs::read_link(&link) {
            Ok(target) => obs.set("exe", Value::Text(target.to_string_lossy().into_owned())),
            Err(e) if procfs::gone(&e) => {}
            // Without ptrace rights the link is unreadable; that only matters if we must compare it.
            Err(e) if probe.exe.is_some() => {
                return Err(ProbeError::detector(format!("cannot read {link}: {e}")))
            }
            Err(_) => {}
        }
        if let Some(expected) = &probe.exe {
            if let Some(current) = exe_current(pid, expected, obs.get("exe"))? {
                obs.set("exe_current", Value::Bool(current));
            }
        }
        Ok(obs)
    }

    /// Matching pids, ascending.
    fn select(selector: &ProcessSelector) -> Result<Vec<u32>, ProbeError> {
        match selector {
            ProcessSelector::PidFile(path) => Ok(match procfs::read_pid_file(path)? {
                Some(pid) if running(pid)? => vec![pid],
                _ => Vec::new(),
            }),
            ProcessSelector::Name(pattern) => {
                let re = regex::Regex::new(pattern).map_err(|e| {
                    ProbeError::detector(format!("invalid process name regex {pattern:?}: {e}"))
                })?;
                let me = std::process::id();
                let mut found = Vec::new();
                for pid in procfs::pids()? {
                    if pid == me {
                        continue;
                    }
                    if let Some(cmdline) = procfs::cmdline(pid)? {
                        if re.is_match(&cmdline) {
                            found.push(pid);
                        }
                    }
                }
                Ok(found)
            }
        }
    }

    /// A zombie still has a /proc entry but is not running.
    fn running(pid: u32) -> Result<bool, ProbeError> {
        Ok(stat_fields(pid)?
            .is_some_and(|fields| !matches!(fields.first().map(String::as_str), Some("Z" | "X"))))
    }

    /// The fields of /proc/<pid>/stat after the command name, starting with field 3 (state).
    /// The name is skipped by its last `)` because it may itself contain spaces and parentheses.
    fn stat_fields(pid: u32) -> Result<Option<Vec<String>>, ProbeError> {
        let path = format!("/proc/{pid}/stat");
        let Some(raw) = procfs::read_if_alive(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&raw);
        let rest = text.rfind(')').map(|i| &text[i + 1..]).ok_or_else(|| {
            ProbeError::detector(format!(
                "cannot parse {path}: no ')' after the command name"
            ))
        })?;
        Ok(Some(rest.split_whitespace().map(str::to_string).collect()))
    }

    fn rss(pid: u32) -> Result<Option<u64>, ProbeError> {
        let path = format!("/proc/{pid}/status");
        let Some(raw) = procfs::read_if_alive(&path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&raw);
        // Kernel threads have no VmRSS line: no RSS to report.
        let Some(line) = text.lines().find(|l| l.starts_with("VmRSS:")) else {
            return Ok(None);
        };
        let kib = line
            .trim_start_matches("VmRSS:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .map_err(|_| ProbeError::detector(format!("cannot parse {path}: {line:?}")))?;
        Ok(Some(kib * 1024))
    }

    fn uptime(pid: u32) -> Result<Option<Duration>, ProbeError> {
        let Some(fields) = stat_fields(pid)? else {
            return Ok(None);
        };
        // starttime is field 22 of stat; `fields` starts at field 3.
        let start_ticks = fields
            .get(19)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| {
                ProbeError::detector(format!("cannot parse /proc/{pid}/stat: no start time"))
            })?;
        // SAFETY: sysconf only reads a configuration value; it has no memory-safety preconditions.
        let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks_per_sec <= 0 {
            return Err(ProbeError::detector(
                "cannot read the clock tick rate (sysconf _SC_CLK_TCK)",
            ));
        }
        let system = std::fs::read_to_string("/proc/uptime")
            .map_err(|e| ProbeError::detector(format!("cannot read /proc/uptime: {e}")))?;
        let system_secs = system
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| {
                ProbeError::detector(format!("cannot parse /proc/uptime: {:?}", system.trim()))
            })?;
        let started_secs = start_ticks as f64 / ticks_per_sec as f64;
        Ok(Some(Duration::from_secs_f64(
            (system_secs - started_secs).max(0.0),
        )))
    }

    /// `stat` on /proc/<pid>/exe follows the magic link to the inode actually mapped, even
    /// after the file was replaced; comparing (device, inode) with the path on disk is the
    /// only check that a rename-over upgrade cannot fool. `None` when the process vanished.
    fn exe_current(
        pid: u32,
        expected: &str,
        exe: Option<&Value>,
    ) -> Result<Option<bool>, ProbeError> {
        if let Some(Value::Text(link)) = exe {
            if link.ends_with(" (deleted)") {
                return Ok(Some(false));
            }
        }
        let running = match std::fs::metadata(format!("/proc/{pid}/exe")) {
            Ok(meta) => meta,
            Err(e) if procfs::gone(&e) => return Ok(None),
            Err(e) => {
                return Err(ProbeError::detector(format!(
                    "cannot stat /proc/{pid}/exe: {e}"
                )))
            }
        };
        let on_disk = match std::fs::metadata(expected) {
            Ok(meta) => meta,
            // Nothing at the expected path: whatever runs is not the file on disk.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(false)),
            Err(e) => return Err(ProbeError::detector(format!("cannot stat {expected}: {e}"))),
        };
        Ok(Some(
            (running.dev(), running.ino()) == (on_disk.dev(), on_disk.ino()),
        ))
    }
}
