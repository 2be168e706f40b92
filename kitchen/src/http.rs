//! A minimal HTTP/1.1 client over one keep-alive loopback connection: just enough to send a
//! JSON request and read a `Content-Length` or chunked answer.
//!
//! Owns: the connection, request framing, response parsing, and the deadline of each
//! request (every blocking read and write gets the time that is left, so a request never
//! outlives its timeout, however slowly the server drips bytes). Must not touch: what
//! requests mean.
//!
//! Why not reqwest: the exerciser is strictly sequential (each action depends on the state
//! the previous one left), so an async client buys nothing, and this loop runs hundreds of
//! times a second; one blocking socket with `TCP_NODELAY` is the shortest path. Requests
//! are never retried: a POST that may have been applied must not be applied twice.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::{Error, ErrorKind};

/// The largest answer accepted; the hub's are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;
/// The longest status or header line accepted.
const MAX_LINE: usize = 8 << 10;

/// One answer: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A keep-alive connection to one loopback server, opened on first use and again after the
/// server closes it.
pub struct Connection {
    addr: SocketAddr,
    base: String,
    timeout: Duration,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    /// `base` is `http://127.0.0.1:<port>` (or `localhost`, or `[::1]`); nothing but
    /// loopback is accepted.
    pub fn new(base: &str, timeout: Duration) -> Result<Connection, Error> {
        let bad = |why: &str| Error::new(ErrorKind::Usage, format!("hub URL `{base}`: {why}"));
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| bad("must start with http://"))?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad("expected http://<host>:<port> with no path"));
        }
        let addr = authority
            .to_socket_addrs()
            .map_err(|_| bad("expected http://<host>:<port>"))?
            .find(|a| a.ip().is_loopback())
            .ok_or_else(|| bad("the exerciser only drives systems on loopback"))?;
        if timeout.is_zero() {
            return Err(bad("the request timeout must be more than 0"));
        }
        Ok(Connection {
            addr,
            base: format!("http://{authority}"),
            timeout,
            stream: None,
        })
    }

    /// The URL this connection talks to, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// One request, answered within the timeout, or an error naming it.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, Error> {
        let deadline = Instant::now() + self.timeout;
        let result = self.exchange(method, path, body, deadline);
        if result.is_err() {
            // The connection's framing is unknown after a failure: never reuse it.
            self.stream = None;
        }
        result.map_err(|e| {
            Error::with_source(
                ErrorKind::Hub,
                format!("{method} {}{path}: {e}", self.base),
                e,
            )
        })
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> std::io::Result<Reply> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
                stream.set_nodelay(true)?;
                self.stream.insert(BufReader::new(stream))
            }
        };
        let body = body.unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        stream.get_ref().set_write_timeout(Some(left(deadline)?))?;
        stream.get_mut().write_all(&request)?;

        let status_line = read_line(stream, deadline)?;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = status_line.starts_with("HTTP/1.0");
        loop {
            let line = read_line(stream, deadline)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid(format!("bad header line {line:?}")));
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    length = Some(
                        value
                            .parse::<usize>()
                            .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?,
                    )
                }
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let body = if chunked {
            read_chunked(stream, deadline)?
        } else {
            let length = length.ok_or_else(|| invalid("answer has no Content-Length".into()))?;
            read_exact(stream, length, deadline)?
        };
        if close {
            self.stream = None;
        }
        Ok(Reply { status, body })
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// The time left until `deadline`, or a timeout error once it has passed.
fn left(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no complete answer within the request timeout",
        ))
    } else {
        Ok(left)
    }
}

/// The next buffered bytes, waiting at most until `deadline`; empty at end of stream.
fn fill(stream: &mut BufReader<TcpStream>, deadline: Instant) -> std::io::Result<&[u8]> {
    if stream.buffer().is_empty() {
        stream.get_ref().set_read_timeout(Some(left(deadline)?))?;
    }
    stream.fill_buf()
}

fn read_line(stream: &mut BufReader<TcpStream>, deadline: Instant) -> std::io::Result<String> {
    let mut line = Vec::new();
    loop {
        let buf = fill(stream, deadline)?;
        if buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the answer was complete",
            ));
        }
        let (taken, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..taken]);
        stream.consume(taken);
        if line.len() > MAX_LINE {
            return Err(invalid(format!("a line longer than {MAX_LINE} bytes")));
        }
        if done {
            let text =
                String::from_utf8(line).map_err(|_| invalid("a line is not UTF-8".into()))?;
            return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
        }
    }
}

fn read_exact(
    stream: &mut BufReader<TcpStream>,
    length: usize,
    deadline: Instant,
) -> std::io::Result<Vec<u8>> {
    if length > MAX_BODY {
        return Err(invalid(format!(
            "answer of {length} bytes, more than {MAX_BODY}"
        )));
    }
    let mut body = Vec::with_capacity(length);
    while body.len() < length {
        let buf = fill(stream, deadline)?;
        if buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of the answer",
            ));
        }
        let taken = buf.len().min(length - body.len());
        body.extend_from_slice(&buf[..taken]);
        stream.consume(taken);
    }
    Ok(body)
}

fn read_chunked(stream: &mut BufReader<TcpStream>, deadline: Instant) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(stream, deadline)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            while !read_line(stream, deadline)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid(format!("answer of more than {MAX_BODY} bytes")));
        }
        body.extend(read_exact(stream, size, deadline)?);
        if !read_line(stream, deadline)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A one-connection server on loopback that answers each request with the next canned
    /// bytes; joined (bounded by the client's own timeouts) when the test ends.
    fn serve(answers: Vec<&'static [u8]>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let handle = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut seen = Vec::new();
            for answer in answers {
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).unwrap_or(0) == 0 {
                        return seen;
                    }
                    request.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&request).to_string();
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                socket.read_exact(&mut body).expect("body");
                seen.push(format!("{}{}", text, String::from_utf8_lossy(&body)));
                socket.write_all(answer).expect("answer");
            }
            seen
        });
        (base, handle)
    }

    #[test]
    fn keeps_one_connection_for_length_and_chunked_answers() {
        let (base, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        ]);
        let mut connection = Connection::new(&base, Duration::from_secs(5)).expect("loopback");
        let first = connection
            .request("POST", "/actions", Some(b"{\"a\":1}"))
            .expect("answered");
        assert_eq!((first.status, first.body.as_slice()), (200, &b"{}"[..]));
        let second = connection.request("GET", "/state", None).expect("answered");
        assert_eq!(
            (second.status, second.body.as_slice()),
            (404, &b"abcde"[..])
        );
        let seen = server.join().expect("server thread");
        let host = base.trim_start_matches("http://");
        assert_eq!(
            seen,
            [
                format!("POST /actions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{{\"a\":1}}"),
                format!("GET /state HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n"),
            ]
        );
    }

    #[test]
    fn a_server_that_never_answers_is_a_timeout_not_a_hang() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut connection = Connection::new(&base, Duration::from_millis(200)).expect("loopback");
        // The listener accepts (the kernel's backlog) but nobody ever answers.
        let error = connection
            .request("GET", "/state", None)
            .expect_err("no answer");
        assert_eq!(error.kind, ErrorKind::Hub);
        assert!(
            error.context.starts_with(&format!("GET {base}/state: ")),
            "{}",
            error.context
        );
        drop(listener);
    }

    #[test]
    fn garbage_and_truncated_answers_are_errors() {
        let (base, server) = serve(vec![b"SMTP ready\r\n\r\n"]);
        let mut connection = Connection::new(&base, Duration::from_secs(5)).expect("loopback");
        let error = connection.request("GET", "/state", None).expect_err("bad");
        assert_eq!(
            error.context,
            format!("GET {base}/state: bad status line \"SMTP ready\"")
        );
        server.join().expect("server thread");

        let (base, server) = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]);
        let mut connection = Connection::new(&base, Duration::from_secs(5)).expect("loopback");
        let handle = std::thread::spawn(move || connection.request("GET", "/state", None));
        server.join().expect("server thread");
        let error = handle
            .join()
            .expect("client thread")
            .expect_err("truncated");
        assert_eq!(
            error.context,
            format!("GET {base}/state: connection closed in the middle of the answer")
        );
    }

    #[test]
    fn only_loopback_urls_are_accepted() {
        let cases = [
            (
                "127.0.0.1:80",
                "hub URL `127.0.0.1:80`: must start with http://",
            ),
            (
                "http://10.0.0.1:80",
                "hub URL `http://10.0.0.1:80`: the exerciser only drives systems on loopback",
            ),
            (
                "http://127.0.0.1:80/state",
                "hub URL `http://127.0.0.1:80/state`: expected http://<host>:<port> with no path",
            ),
            (
                "http://127.0.0.1",
                "hub URL `http://127.0.0.1`: expected http://<host>:<port>",
            ),
        ];
        for (url, message) in cases {
            let error = Connection::new(url, Duration::from_secs(1)).err();
            assert_eq!(
                error.map(|e| (e.kind, e.context)),
                Some((ErrorKind::Usage, message.to_owned())),
                "{url}"
            );
        }
        let ok =
            Connection::new("http://localhost:8123/", Duration::from_secs(1)).expect("loopback");
        assert_eq!(ok.base(), "http://localhost:8123");
    }
}
