//! The `tcp` probe: can a connection be opened to `host:port`?
//!
//! Owns: resolving the address and one connect attempt per resolved address within the deadline.
//! Must not touch: anything sent over the connection (that is the http probe's job).
//!
//! A refused or timed-out connect is a measurement (`connected` false, no `latency`), not an
//! error, so a condition like `connected == false` can guard a port that must stay closed.
//! A host name that does not resolve is a [`ProbeErrorKind::Target`](crate::ProbeErrorKind) error.

use std::net::SocketAddr;
use std::time::Duration;

use auditwall_spec::{Observations, TcpProbe, Value};
use tokio::net::TcpStream;
use tokio::time::Instant;

use auditwall_spec::render_duration;

use crate::ProbeError;

pub(crate) async fn run(probe: &TcpProbe, timeout: Duration) -> Result<Observations, ProbeError> {
    let timeout = probe.timeout.map_or(timeout, |own| own.min(timeout));
    let start = Instant::now();
    let deadline = start + timeout;
    let addrs = resolve(&probe.address, timeout, deadline).await?;

    let mut obs = Observations::new();
    for addr in addrs {
        if let Ok(Ok(stream)) = tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            obs.set("connected", Value::Bool(true));
            obs.set("latency", Value::Duration(start.elapsed()));
            drop(stream);
            return Ok(obs);
        }
    }
    obs.set("connected", Value::Bool(false));
    Ok(obs)
}

/// Splits `host:port` (IPv6 hosts in brackets) and resolves it; shared with the port probe.
pub(crate) async fn resolve(
    address: &str,
    timeout: Duration,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, ProbeError> {
    let (host, port) = split_host_port(address)?;
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(ProbeError::target(format!(
            "timed out after {} resolving {host}",
            render_duration(timeout)
        ))),
        Ok(Err(e)) => Err(ProbeError::target(format!("cannot resolve {host}: {e}"))),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(ProbeError::target(format!(
                    "cannot resolve {host}: no addresses"
                )))
            } else {
                Ok(addrs)
            }
        }
    }
}

fn split_host_port(address: &str) -> Result<(&str, u16), ProbeError> {
    let invalid =
        || ProbeError::detector(format!("invalid address {address:?}: expected host:port"));
    let (host, port) = address.rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(invalid());
    }
    let port = port.parse::<u16>().map_err(|_| invalid())?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_host_port("127.0.0.1:80").ok(),
            Some(("127.0.0.1", 80))
        );
        assert_eq!(split_host_port("[::1]:8080").ok(), Some(("::1", 8080)));
        assert_eq!(split_host_port("localhost:1").ok(), Some(("localhost", 1)));
        for bad in ["127.0.0.1", ":80", "host:", "host:99999", "host:http"] {
            let err = split_host_port(bad).err();
            assert_eq!(
                err.map(|e| e.message),
                Some(format!("invalid address {bad:?}: expected host:port")),
                "{bad}"
            );
        }
    }
}
