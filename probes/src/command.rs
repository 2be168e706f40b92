//! The `command` probe: run one program to completion and measure how it ended.
//!
//! Owns: spawning the program in its own process group (stdin null, output captured up to
//! [`OUTPUT_CAP`] per stream) and making sure nothing of it outlives the probe.
//! Must not touch: interpreting the output (conditions do) or any process it did not start.
//!
//! A probe command is a one-shot measurement: when it exits, or times out, or the probe is
//! dropped mid-run, its whole process group is killed with SIGKILL. A command that leaves a
//! background child behind would otherwise hold the output pipes open and leak a process
//! into every wall run.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use auditwall_spec::{CommandProbe, Observations, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use auditwall_spec::render_duration;

use crate::ProbeError;

/// Per stream: enough for any status output, not enough to fill memory with a log dump.
const OUTPUT_CAP: usize = 1024 * 1024;

pub(crate) async fn run(
    probe: &CommandProbe,
    timeout: Duration,
) -> Result<Observations, ProbeError> {
    let shown = std::iter::once(probe.program.as_str())
        .chain(probe.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = tokio::process::Command::new(&probe.program);
    command
        .args(&probe.args)
        .envs(&probe.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // If auditwall itself is killed (no drop runs), the kernel still ends the command.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    if let Some(cwd) = &probe.cwd {
        // spawn reports a missing cwd as NotFound too; check first so it is not blamed on the program.
        if !std::path::Path::new(cwd).is_dir() {
            return Err(ProbeError::detector(format!(
                "working directory not found: {cwd}"
            )));
        }
        command.current_dir(cwd);
    }

    let start = Instant::now();
    let deadline = start + timeout;
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            ProbeError::detector(format!("program not found: {}", probe.program))
        }
        std::io::ErrorKind::PermissionDenied => {
            ProbeError::detector(format!("permission denied executing {}", probe.program))
        }
        _ => ProbeError::detector(format!("cannot start {shown}: {e}")),
    })?;
    let pgid = child
        .id()
        .and_then(|pid| libc::pid_t::try_from(pid).ok())
        .ok_or_else(|| {
            ProbeError::detector(format!(
                "lost the process id of {shown} right after spawning it"
            ))
        })?;
    let group = ProcessGroup { pgid };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let finished = tokio::time::timeout_at(deadline, async {
        let waiting = async {
            let status = child.wait().await;
            let duration = start.elapsed();
            // The leader is gone; whatever it left in its group must go too, or it would
            // keep our pipes open until the deadline.
            group.kill();
            (status, duration)
        };
        tokio::join!(waiting, read_capped(stdout), read_capped(stderr))
    })
    .await;

    let ((status, duration), stdout, stderr) = match finished {
        Ok(done) => done,
        Err(_) => {
            group.kill();
            // SIGKILL cannot be caught; the short bound only guards against a wedged kernel.
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            return Err(ProbeError::target(format!(
                "command timed out after {} (process group killed): {shown}",
                render_duration(timeout)
            )));
        }
    };
    let status =
        status.map_err(|e| ProbeError::detector(format!("cannot wait for {shown}: {e}")))?;
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => {
            return Err(ProbeError::detector(format!(
                "{shown} ended without an exit code or signal"
            )))
        }
    };

    let mut obs = Observations::new();
    obs.set("exit", Value::Number(f64::from(exit)));
    obs.set("stdout", Value::Text(captured(stdout, "stdout", &shown)?));
    obs.set("stderr", Value::Text(captured(stderr, "stderr", &shown)?));
    obs.set("duration", Value::Duration(duration));
    Ok(obs)
}

/// SIGKILLs a process group when asked and again when dropped, so a probe future dropped
/// mid-run (the harness's own deadline) leaves nothing behind either.
struct ProcessGroup {
    pgid: libc::pid_t,
}

impl ProcessGroup {
    fn kill(&self) {
        // SAFETY: kill has no memory-safety preconditions; a group that is already gone
        // yields ESRCH, which is exactly the state we want.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
    error: Option<std::io::Error>,
}

/// Reads a stream to its end, keeping the first [`OUTPUT_CAP`] bytes and discarding the
/// rest: the child must never block on a full pipe because we stopped reading.
async fn read_capped<R: AsyncRead + Unpin>(stream: Option<R>) -> Captured {
    let mut captured = Captured {
        bytes: Vec::new(),
        truncated: false,
        error: None,
    };
    let Some(mut stream) = stream else {
        return captured;
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return captured,
            Ok(n) => {
                let room = OUTPUT_CAP - captured.bytes.len();
                captured.bytes.extend_from_slice(&buf[..n.min(room)]);
                captured.truncated |= n > room;
            }
            Err(e) => {
                captured.error = Some(e);
                return captured;
            }
        }
    }
}

fn captured(c: Captured, name: &str, shown: &str) -> Result<String, ProbeError> {
    if let Some(e) = c.error {
        return Err(ProbeError::detector(format!(
            "cannot read the {name} of {shown}: {e}"
        )));
    }
    let mut text = String::from_utf8_lossy(&c.bytes).into_owned();
    if c.truncated {
        text.push_str(&format!("\n[auditwall: {name} truncated at 1 MiB]"));
    }
    Ok(text)
}
