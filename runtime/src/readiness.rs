//! Single readiness attempts: "does this loopback port accept a connection" and "does this
//! loopback URL answer GET with 2xx", each bounded by a timeout.
//!
//! Owns: loopback URL parsing and a minimal blocking HTTP/1.1 GET over `std::net::TcpStream`
//! (status line only; the body is never read).
//! Must not touch: processes or retry policy; the supervisor polls these in a bounded loop.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed `http://<loopback>[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTarget {
    pub addr: SocketAddr,
    pub host_header: String,
    pub path: String,
}

/// Parse a readiness URL. Only plain HTTP to a loopback address is accepted, because the
/// supervisor only ever checks services on this machine.
pub(crate) fn parse_loopback_url(url: &str) -> Result<HttpTarget, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("readiness URL `{url}` must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "readiness URL `{url}` contains whitespace or control characters"
        ));
    }
    let addr = parse_authority(authority)
        .ok_or_else(|| format!("readiness URL `{url}` has no valid host[:port]"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "readiness URL `{url}` is not on loopback (127.0.0.0/8, ::1, localhost)"
        ));
    }
    Ok(HttpTarget {
        addr,
        host_header: authority.to_string(),
        path: path.to_string(),
    })
}

fn parse_authority(authority: &str) -> Option<SocketAddr> {
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse::<u16>().ok()?),
        _ => (authority, 80),
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?
    };
    Some(SocketAddr::new(ip, port))
}

/// One TCP connect attempt.
pub(crate) fn tcp_open(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout).is_ok()
}

/// One `GET`; returns the status code, or a short reason why there was none.
pub(crate) fn http_status(target: &HttpTarget, timeout: Duration) -> Result<u16, String> {
    let mut stream = TcpStream::connect_timeout(&target.addr, timeout).map_err(describe)?;
    stream.set_read_timeout(Some(timeout)).map_err(describe)?;
    stream.set_write_timeout(Some(timeout)).map_err(describe)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: auditwall-runtime\r\nConnection: close\r\n\r\n",
        target.path, target.host_header
    );
    stream.write_all(request.as_bytes()).map_err(describe)?;
    // Only the status line matters; cap what we read so a misbehaving server cannot make
    // us buffer without bound.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream.read(&mut buf).map_err(describe)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head)
}

/// `GET url` (loopback only): the status code, or a short reason why there was none.
pub fn get_status(url: &str, timeout: Duration) -> Result<u16, String> {
    http_status(&parse_loopback_url(url)?, timeout)
}

/// One small request with an optional JSON body; returns the status and the body (at most
/// 64 KiB). For control and admin calls on loopback, never for measuring anything.
pub(crate) fn http_request(
    target: &HttpTarget,
    method: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&target.addr, timeout).map_err(describe)?;
    stream.set_read_timeout(Some(timeout)).map_err(describe)?;
    stream.set_write_timeout(Some(timeout)).map_err(describe)?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: auditwall-runtime\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        target.path,
        target.host_header,
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(describe)?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while response.len() < 64 * 1024 {
        let n = stream.read(&mut buf).map_err(describe)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    let status = parse_status_line(&response)?;
    let text = String::from_utf8_lossy(&response);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn parse_status_line(head: &[u8]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") && code.len() == 3 => code
            .parse()
            .map_err(|_| format!("malformed status line `{line}`")),
        _ if line.is_empty() => Err("connection closed without a response".to_string()),
        _ => Err(format!("malformed status line `{line}`")),
    }
}

fn describe(err: std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".to_string(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_parse() {
        let t = parse_loopback_url("http://127.0.0.1:8080/health?deep=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.path, "/health?deep=1");
        assert_eq!(t.host_header, "127.0.0.1:8080");
        let t = parse_loopback_url("http://localhost:9").unwrap();
        assert_eq!(t.addr, "127.0.0.1:9".parse().unwrap());
        assert_eq!(t.path, "/");
        let t = parse_loopback_url("http://[::1]:7/x").unwrap();
        assert_eq!(t.addr, "[::1]:7".parse().unwrap());
        let t = parse_loopback_url("http://127.0.0.2").unwrap();
        assert_eq!(t.addr, "127.0.0.2:80".parse().unwrap());
    }

    #[test]
    fn bad_urls_are_named_in_the_error() {
        let cases = [
            (
                "https://127.0.0.1/",
                "readiness URL `https://127.0.0.1/` must start with http://",
            ),
            (
                "http://10.0.0.1:80/",
                "readiness URL `http://10.0.0.1:80/` is not on loopback (127.0.0.0/8, ::1, localhost)",
            ),
            (
                "http://example.com/",
                "readiness URL `http://example.com/` has no valid host[:port]",
            ),
            (
                "http://127.0.0.1:99999/",
                "readiness URL `http://127.0.0.1:99999/` has no valid host[:port]",
            ),
            (
                "http://127.0.0.1/a b",
                "readiness URL `http://127.0.0.1/a b` contains whitespace or control characters",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_loopback_url(url).unwrap_err(), expected, "{url}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r\n"), Ok(204));
        assert_eq!(parse_status_line(b"HTTP/1.0 503\r\n"), Ok(503));
        assert_eq!(
            parse_status_line(b""),
            Err("connection closed without a response".to_string())
        );
        assert_eq!(
            parse_status_line(b"SSH-2.0-OpenSSH\r\n"),
            Err("malformed status line `SSH-2.0-OpenSSH`".to_string())
        );
    }
}
