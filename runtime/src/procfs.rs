//! Read-only process facts from `/proc`: liveness, process trees, groups, start times,
//! resource samples and which process holds a listening port.
//!
//! Owns: parsing of `/proc/<pid>/{stat,status,cmdline,fd}` and `/proc/net/tcp{,6}`.
//! Must not touch: signals or any other write; policy about what the facts mean lives in
//! the supervisor. On systems without `/proc` every lookup answers "unknown" (`None`/empty),
//! except [`process_alive`], which falls back to `kill(pid, 0)`.

use std::fs;

/// A resource sample of one process, for reports that must explain themselves
/// (e.g. an inference probe timed out while the model server was deep in swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ResourceSample {
    pub rss_bytes: u64,
    pub swap_bytes: u64,
    pub open_fds: u64,
}

/// The fields of `/proc/<pid>/stat` the supervisor relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    /// Clock ticks since boot at which the process started: with the pid, a process identity
    /// that survives pid reuse.
    pub start_ticks: u64,
}

impl Stat {
    /// Zombies (`Z`) and dead tasks (`X`) have exited; only their parent's bookkeeping remains.
    fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

pub(crate) fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The command name in field 2 may itself contain spaces and parentheses, so fields are
/// counted from the *last* `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// True when `pid` names a process that has not exited. A zombie counts as gone: it runs no
/// code and holds no ports, it only waits for its parent to reap it.
pub fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        stat(pid).is_some_and(|s| !s.exited())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 performs only the existence and permission check.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// Every live process below `pid` in the process tree (children, grandchildren, ...),
/// found by scanning the parent pid of every process in `/proc`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let live: Vec<(u32, Stat)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, stat(p)?)))
        .filter(|(_, s)| !s.exited())
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    // Each round moves one generation down; a process can only be found once because the
    // tree has no cycles, so the loop ends after at most `live.len()` rounds.
    for _ in 0..=live.len() {
        let next: Vec<u32> = live
            .iter()
            .filter(|(p, s)| frontier.contains(&s.ppid) && !found.contains(p) && *p != pid)
            .map(|(p, _)| *p)
            .collect();
        if next.is_empty() {
            break;
        }
        found.extend_from_slice(&next);
        frontier = next;
    }
    found.sort_unstable();
    found
}

/// Every live process whose process group is `pgid`. Survives the group leader: orphaned
/// grandchildren keep their group even after being re-parented.
pub fn group_members(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| stat(*p).is_some_and(|s| s.pgrp == pgid && !s.exited()))
        .collect()
}

/// Resident and swapped memory from `/proc/<pid>/status` and the number of open file
/// descriptors; `None` if the process is gone (or a zombie) or cannot be read.
pub fn sample(pid: u32) -> Option<ResourceSample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
            .map(|v| v * 1024)
    };
    let rss_bytes = kib("VmRSS:")?;
    // Kernels without swap accounting omit VmSwap; that is zero swap, not an unknown process.
    let swap_bytes = kib("VmSwap:").unwrap_or(0);
    let open_fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(ResourceSample {
        rss_bytes,
        swap_bytes,
        open_fds,
    })
}

/// The command line of `pid` as one string, shortened for messages.
pub(crate) fn cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = raw
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    const MAX: usize = 160;
    if text.chars().count() > MAX {
        Some(format!("{}...", text.chars().take(MAX).collect::<String>()))
    } else {
        Some(text)
    }
}

/// A process found holding a listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortHolder {
    pub pid: u32,
    pub pgrp: Option<u32>,
    pub cmdline: Option<String>,
}

/// Which process holds the TCP listener on `port` (any local address, IPv4 or IPv6), if it
/// can be found: the socket inode from `/proc/net/tcp{,6}`, then the process whose fd
/// table links to `socket:[inode]`.
pub(crate) fn port_holder(port: u16) -> Option<PortHolder> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let targets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    all_pids().into_iter().find_map(|pid| {
        let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
        let holds = fds.filter_map(|e| e.ok()).any(|e| {
            fs::read_link(e.path())
                .ok()
                .and_then(|link| link.to_str().map(|l| targets.iter().any(|t| t == l)))
                .unwrap_or(false)
        });
        holds.then(|| PortHolder {
            pid,
            pgrp: stat(pid).map(|s| s.pgrp),
            cmdline: cmdline(pid),
        })
    })
}

/// Inodes of sockets in state LISTEN (`0A`) on `port` in one `/proc/net/tcp*` table.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            let inode = fields.get(9)?;
            (local_port == port && *fields.get(3)? == "0A" && *inode != "0")
                .then(|| inode.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                start_ticks: 987654
            })
        );
    }

    #[test]
    fn truncated_stat_is_unknown_not_a_panic() {
        assert_eq!(parse_stat("12 (x) S 1"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
    }

    #[test]
    fn listening_inodes_pick_only_listeners_on_the_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1\n\
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8080), vec!["111".to_string()]);
        assert_eq!(listening_inodes(table, 9), Vec::<String>::new());
    }
}
