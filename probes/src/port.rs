//! The `port` probe: is something listening on `host:port`, and is it the right process?
//!
//! Owns: finding LISTEN sockets in `/proc/net/tcp` and `/proc/net/tcp6` that cover the
//! address (the address itself, or a wildcard), mapping their socket inodes to processes
//! through `/proc/*/fd`, and comparing the owner with the configured regex / pid file.
//! Must not touch: connecting to the port (the tcp probe does that) or the owning process.
//!
//! When several processes share the listening socket (a pre-forking server), `pid` and
//! `owner` describe the lowest pid, and `owner_matches` judges that same process.
//! Linux only: it reads `/proc`.

use std::time::Duration;

use auditwall_spec::{Observations, PortProbe};

use crate::ProbeError;

pub(crate) async fn run(probe: &PortProbe, timeout: Duration) -> Result<Observations, ProbeError> {
    #[cfg(target_os = "linux")]
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let targets = crate::tcp::resolve(&probe.address, timeout, deadline).await?;
        let probe = probe.clone();
        crate::blocking(deadline, timeout, "reading /proc", move || {
            linux::measure(&probe, &targets)
        })
        .await
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (probe, timeout);
        Err(ProbeError::detector(
            "port probes are not supported on this OS: they read Linux /proc",
        ))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeSet;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    use auditwall_spec::{Observations, PortProbe, Value};

    use crate::procfs;
    use crate::ProbeError;

    /// The kernel's TCP_LISTEN state as printed in /proc/net/tcp.
    const LISTEN: &str = "0A";

    pub(super) fn measure(
        probe: &PortProbe,
        targets: &[SocketAddr],
    ) -> Result<Observations, ProbeError> {
        let owner_re = match &probe.owner {
            Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| {
                ProbeError::detector(format!("invalid port owner regex {pattern:?}: {e}"))
            })?),
            None => None,
        };
        let judge_owner = owner_re.is_some() || probe.owner_pid_file.is_some();

        let mut inodes = BTreeSet::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            for socket in listening_sockets(table)? {
                if targets
                    .iter()
                    .any(|t| t.port() == socket.addr.port() && covers(socket.addr.ip(), t.ip()))
                {
                    inodes.insert(socket.inode);
                }
            }
        }

        let mut obs = Observations::new();
        obs.set("listening", Value::Bool(!inodes.is_empty()));
        if inodes.is_empty() {
            if judge_owner {
                obs.set("owner_matches", Value::Bool(false));
            }
            return Ok(obs);
        }

        let (owner, hidden) = lowest_owner(&inodes)?;
        let Some(pid) = owner else {
            if !judge_owner {
                return Ok(obs);
            }
            return Err(ProbeError::detector(format!(
                "{} is listening but no visible process owns it ({hidden} processes' file descriptors were unreadable)",
                probe.address
            )));
        };
        obs.set("pid", Value::Number(f64::from(pid)));
        let cmdline = procfs::cmdline(pid)?;
        if let Some(cmdline) = &cmdline {
            obs.set("owner", Value::Text(cmdline.clone()));
        }
        if judge_owner {
            let regex_ok =
                owner_re.is_none_or(|re| cmdline.as_deref().is_some_and(|c| re.is_match(c)));
            let pid_ok = match &probe.owner_pid_file {
                Some(path) => procfs::read_pid_file(path)? == Some(pid),
                None => true,
            };
            obs.set("owner_matches", Value::Bool(regex_ok && pid_ok));
        }
        Ok(obs)
    }

    struct Socket {
        addr: SocketAddr,
        inode: u64,
    }

    /// LISTEN sockets of one /proc/net table; a missing tcp6 table means IPv6 is off.
    fn listening_sockets(table: &str) -> Result<Vec<Socket>, ProbeError> {
        let text = match std::fs::read_to_string(table) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ProbeError::detector(format!("cannot read {table}: {e}"))),
        };
        let mut sockets = Vec::new();
        for (index, line) in text.lines().enumerate().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bad = || {
                ProbeError::detector(format!("cannot parse {table} line {}: {line:?}", index + 1))
            };
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                return Err(bad());
            };
            if *state != LISTEN {
                continue;
            }
            let addr = parse_socket_addr(local).ok_or_else(bad)?;
            let inode = inode.parse::<u64>().map_err(|_| bad())?;
            sockets.push(Socket { addr, inode });
        }
        Ok(sockets)
    }

    /// `0100007F:1F90` is 127.0.0.1:8080: the kernel prints each 32-bit word of the
    /// network-order address as a native-endian integer, so the bytes come back with
    /// `to_ne_bytes`.
    fn parse_socket_addr(text: &str) -> Option<SocketAddr> {
        let (ip_hex, port_hex) = text.split_once(':')?;
        let port = u16::from_str_radix(port_hex, 16).ok()?;
        let word = |i: usize| -> Option<[u8; 4]> {
            let hex = ip_hex.get(i * 8..i * 8 + 8)?;
            Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
        };
        let ip = match ip_hex.len() {
            8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
            32 => {
                let mut bytes = [0u8; 16];
                for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                    chunk.copy_from_slice(&word(i)?);
                }
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    }

    /// Whether a socket bound to `local` accepts connections to `target`. `::` covers IPv4
    /// too: Linux sockets are dual-stack unless IPV6_V6ONLY, which /proc does not show.
    /// An unspecified target (`0.0.0.0:80`) asks about the port on any address.
    fn covers(local: IpAddr, target: IpAddr) -> bool {
        let local = local.to_canonical();
        let target = target.to_canonical();
        local == target
            || target.is_unspecified()
            || match local {
                IpAddr::V4(l) => l.is_unspecified() && target.is_ipv4(),
                IpAddr::V6(l) => l.is_unspecified(),
            }
    }

    /// The lowest pid holding one of `inodes` open, and how many processes could not be
    /// inspected (their fds are private to their owner) — needed to explain a missing owner.
    fn lowest_owner(inodes: &BTreeSet<u64>) -> Result<(Option<u32>, usize), ProbeError> {
        let wanted: BTreeSet<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
        let mut hidden = 0;
        for pid in procfs::pids()? {
            let dir = format!("/proc/{pid}/fd");
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if procfs::gone(&e) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    hidden += 1;
                    continue;
                }
                Err(e) => return Err(ProbeError::detector(format!("cannot list {dir}: {e}"))),
            };
            for entry in entries.flatten() {
                // An fd closed mid-scan simply no longer points anywhere.
                if let Ok(target) = std::fs::read_link(entry.path()) {
                    if target.to_str().is_some_and(|t| wanted.contains(t)) {
                        return Ok((Some(pid), hidden));
                    }
                }
            }
        }
        Ok((None, hidden))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        #[cfg(target_endian = "little")]
        fn kernel_addresses_parse() {
            let v4 = parse_socket_addr("0100007F:1F90");
            assert_eq!(v4, Some("127.0.0.1:8080".parse().unwrap()));
            let v6 = parse_socket_addr("00000000000000000000000001000000:0050");
            assert_eq!(v6, Some("[::1]:80".parse().unwrap()));
            let mapped = parse_socket_addr("0000000000000000FFFF00000100007F:0050");
            assert_eq!(mapped, Some("[::ffff:127.0.0.1]:80".parse().unwrap()));
            assert_eq!(parse_socket_addr("0100007F"), None);
            assert_eq!(parse_socket_addr("XYZ0007F:0050"), None);
        }

        #[test]
        fn wildcards_cover_specific_addresses() {
            let ip = |s: &str| s.parse::<IpAddr>().unwrap();
            assert!(covers(ip("127.0.0.1"), ip("127.0.0.1")));
            assert!(covers(ip("0.0.0.0"), ip("127.0.0.1")));
            assert!(covers(ip("::"), ip("127.0.0.1")));
            assert!(covers(ip("::ffff:127.0.0.1"), ip("127.0.0.1")));
            assert!(covers(ip("127.0.0.2"), ip("0.0.0.0")));
            assert!(!covers(ip("127.0.0.2"), ip("127.0.0.1")));
            assert!(!covers(ip("0.0.0.0"), ip("::1")));
            assert!(!covers(ip("::1"), ip("127.0.0.1")));
        }
    }
}
