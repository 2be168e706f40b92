//! The TCP fault proxy against real loopback sockets: a tokio echo or blob upstream started
//! here, std blocking clients with short read timeouts, every wait bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditwall_runtime::proxy::{FaultProxy, Mode, ProxyStats};
use auditwall_runtime::RuntimeErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest any client operation in these tests may block.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits to conclude that no answer is coming.
const SILENCE: Duration = Duration::from_millis(300);

fn any_loopback_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A real upstream on its own runtime; dropping it shuts the runtime (and its sockets) down.
struct Upstream {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    /// Echoes every byte; half-closes after the client does.
    Echo,
    /// Sends this many pattern bytes at once, then reads until the client goes away.
    Blob(usize),
}

fn upstream(behaviour: Behaviour) -> Upstream {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("test runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(any_loopback_port()))
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    let received = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let (rx_count, conn_count) = (Arc::clone(&received), Arc::clone(&connections));
    runtime.spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            conn_count.fetch_add(1, Ordering::SeqCst);
            let received = Arc::clone(&rx_count);
            tokio::spawn(async move {
                if let Behaviour::Blob(n) = behaviour {
                    if stream.write_all(&pattern(n)).await.is_err() {
                        return;
                    }
                }
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    received.fetch_add(n as u64, Ordering::SeqCst);
                    if let Behaviour::Echo = behaviour {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    Upstream {
        addr,
        received,
        connections,
        runtime: Some(runtime),
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A blocking connect: `connect_timeout` would report a reset that arrives right after the
/// handshake as a connect error, and on loopback the handshake with a listening port takes
/// one round trip (the kernel's SYN retry limit bounds it otherwise).
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the proxy");
    stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(CLIENT_TIMEOUT))
        .expect("write timeout");
    stream
}

fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    stream.write_all(message).expect("write through the proxy");
    let mut answer = vec![0u8; message.len()];
    stream
        .read_exact(&mut answer)
        .expect("read the echo through the proxy");
    answer
}

/// Reads until EOF or an error; returns the bytes and how the stream ended.
fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, Result<(), ErrorKind>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Bounded: every read either returns data, ends the stream, or times out.
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (got, Err(e.kind())),
        }
    }
}

fn assert_silent(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(SILENCE))
        .expect("short timeout");
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected no answer, got {other:?}"),
    }
    stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .expect("restore timeout");
}

fn connect_error(addr: SocketAddr) -> ErrorKind {
    match TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT) {
        Ok(_) => panic!("connect to {addr} succeeded"),
        Err(e) => e.kind(),
    }
}

/// Polls `stats()` until `done` holds, for at most a few seconds.
fn stats_when(proxy: &FaultProxy, done: impl Fn(&ProxyStats) -> bool) -> ProxyStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = proxy.stats();
        if done(&stats) || Instant::now() >= deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_proxy_can_be_shared_with_the_thread_that_switches_modes() {
    fn shareable<T: Send + Sync>() {}
    shareable::<FaultProxy>();
}

#[test]
fn pass_forwards_megabytes_both_ways_byte_exact() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    assert_eq!(proxy.mode(), Mode::Pass);
    let data = pattern(4 * 1024 * 1024);
    let mut stream = connect(proxy.local_addr());
    let mut writer = stream.try_clone().expect("clone");
    let (echoed, end) = std::thread::scope(|s| {
        s.spawn(|| {
            writer.write_all(&data).expect("send 4 MiB");
            writer.shutdown(Shutdown::Write).expect("half-close");
        });
        read_to_end(&mut stream)
    });
    assert_eq!(
        end,
        Ok(()),
        "the echo ends with a clean EOF (half-close forwarded)"
    );
    assert!(echoed == data, "echo differs ({} bytes back)", echoed.len());
    let stats = stats_when(&proxy, |s| s.open == 0);
    assert_eq!(stats.bytes_up, data.len() as u64);
    assert_eq!(stats.bytes_down, data.len() as u64);
    assert_eq!(upstream.received.load(Ordering::SeqCst), data.len() as u64);
}

#[test]
fn refuse_closes_the_port_and_pass_reopens_the_same_one() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let addr = proxy.local_addr();
    proxy.set_mode(Mode::Refuse).expect("refuse");
    assert_eq!(proxy.mode(), Mode::Refuse);
    assert_eq!(connect_error(addr), ErrorKind::ConnectionRefused);

    proxy.set_mode(Mode::Pass).expect("back to pass");
    assert_eq!(proxy.local_addr(), addr);
    let mut stream = connect(addr);
    assert_eq!(round_trip(&mut stream, b"after refuse"), b"after refuse");
}

#[test]
fn refuse_resets_open_keep_alive_connections() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let mut stream = connect(proxy.local_addr());
    assert_eq!(round_trip(&mut stream, b"ping"), b"ping");

    proxy.set_mode(Mode::Refuse).expect("refuse");
    let (rest, end) = read_to_end(&mut stream);
    assert_eq!(rest, b"");
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    assert_eq!(stats_when(&proxy, |s| s.cut == 1).cut, 1);
}

#[test]
fn leaving_refuse_fails_clearly_when_the_port_was_taken() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let addr = proxy.local_addr();
    proxy.set_mode(Mode::Refuse).expect("refuse");
    let squatter = TcpListener::bind(addr).expect("take the closed port");

    let err = proxy.set_mode(Mode::Pass).expect_err("port is taken");
    assert_eq!(err.kind, RuntimeErrorKind::PortTaken);
    let prefix = format!("fault proxy: cannot leave refuse mode: cannot listen on {addr}: ");
    assert!(err.to_string().starts_with(&prefix), "{err}");
    assert_eq!(proxy.mode(), Mode::Refuse);

    drop(squatter);
    proxy
        .set_mode(Mode::Pass)
        .expect("pass once the port is free");
    let mut stream = connect(addr);
    assert_eq!(round_trip(&mut stream, b"restored"), b"restored");
}

#[test]
fn blackhole_holds_new_connections_without_reaching_the_upstream() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    proxy.set_mode(Mode::Blackhole).expect("blackhole");

    let mut stream = connect(proxy.local_addr());
    stream.write_all(b"anyone?").expect("write is accepted");
    assert_silent(&mut stream);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 0);
    assert_eq!(upstream.received.load(Ordering::SeqCst), 0);
    assert_eq!(proxy.stats().open, 1, "the connection is held open");

    // Lifting the blackhole lets the held connection carry on, as after a real packet drop.
    proxy.set_mode(Mode::Pass).expect("pass");
    let mut answer = [0u8; 7];
    stream
        .read_exact(&mut answer)
        .expect("answer after the blackhole");
    assert_eq!(&answer, b"anyone?");
}

#[test]
fn blackhole_freezes_open_keep_alive_connections_until_lifted() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let mut stream = connect(proxy.local_addr());
    assert_eq!(round_trip(&mut stream, b"first"), b"first");

    proxy.set_mode(Mode::Blackhole).expect("blackhole");
    stream.write_all(b"second").expect("write is accepted");
    assert_silent(&mut stream);
    assert_eq!(
        upstream.received.load(Ordering::SeqCst),
        5,
        "only `first` arrived"
    );

    proxy.set_mode(Mode::Pass).expect("pass");
    let mut answer = [0u8; 6];
    stream
        .read_exact(&mut answer)
        .expect("held bytes flow again");
    assert_eq!(&answer, b"second");
    assert_eq!(proxy.stats().cut, 0);
}

#[test]
fn latency_delays_each_direction_of_a_round_trip() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let mut stream = connect(proxy.local_addr());
    assert_eq!(round_trip(&mut stream, b"warm"), b"warm");

    let delay = Duration::from_millis(300);
    proxy.set_mode(Mode::Latency(delay)).expect("latency");
    let started = Instant::now();
    assert_eq!(round_trip(&mut stream, b"slow"), b"slow");
    let elapsed = started.elapsed();
    assert!(elapsed >= 2 * delay, "round trip took only {elapsed:?}");
}

#[test]
fn reset_after_delivers_exactly_n_bytes_then_resets() {
    let upstream = upstream(Behaviour::Blob(200_000));
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    proxy.set_mode(Mode::ResetAfter(1000)).expect("reset-after");

    let mut stream = connect(proxy.local_addr());
    let (got, end) = read_to_end(&mut stream);
    assert_eq!(got.len(), 1000);
    assert!(got == pattern(1000), "the first 1000 bytes, unchanged");
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    let stats = stats_when(&proxy, |s| s.open == 0);
    assert_eq!((stats.bytes_down, stats.cut), (1000, 1));
}

#[test]
fn reset_after_delivers_every_byte_of_a_large_budget_before_the_reset() {
    // Megabytes are still queued in the proxy's socket when the budget runs out; a reset
    // that did not wait for them would cut the client short.
    let n = 4 * 1024 * 1024;
    let upstream = upstream(Behaviour::Blob(2 * n));
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    proxy
        .set_mode(Mode::ResetAfter(n as u64))
        .expect("reset-after");

    let mut stream = connect(proxy.local_addr());
    let (got, end) = read_to_end(&mut stream);
    assert_eq!(got.len(), n);
    assert!(got == pattern(n), "the first {n} bytes, unchanged");
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
}

#[test]
fn reset_after_counts_from_the_switch_on_open_connections() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let mut stream = connect(proxy.local_addr());
    assert_eq!(round_trip(&mut stream, b"hello"), b"hello");

    proxy.set_mode(Mode::ResetAfter(3)).expect("reset-after");
    stream.write_all(b"abcdefgh").expect("write");
    let (got, end) = read_to_end(&mut stream);
    assert_eq!(got, b"abc");
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
}

#[test]
fn reset_after_zero_resets_open_connections_at_once() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let mut stream = connect(proxy.local_addr());
    assert_eq!(round_trip(&mut stream, b"idle next"), b"idle next");

    proxy.set_mode(Mode::ResetAfter(0)).expect("reset-after:0");
    let (got, end) = read_to_end(&mut stream);
    assert_eq!((got.len(), end), (0, Err(ErrorKind::ConnectionReset)));
}

#[test]
fn a_dead_upstream_resets_the_client_promptly() {
    // Held until the proxy is listening, so the kernel cannot give the proxy this port.
    let listener = TcpListener::bind(any_loopback_port()).expect("bind");
    let dead = listener.local_addr().expect("address");
    let proxy = FaultProxy::start(any_loopback_port(), dead).expect("start");
    drop(listener);
    // The reset can win the race with `connect_timeout`'s final SO_ERROR check; otherwise the
    // read timeout bounds "promptly", and a hang would surface as WouldBlock.
    let end = match TcpStream::connect_timeout(&proxy.local_addr(), CLIENT_TIMEOUT) {
        Err(e) => Err(e.kind()),
        Ok(mut stream) => {
            stream
                .set_read_timeout(Some(CLIENT_TIMEOUT))
                .expect("read timeout");
            let (got, end) = read_to_end(&mut stream);
            assert_eq!(got, b"");
            end
        }
    };
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    let stats = stats_when(&proxy, |s| s.open == 0);
    assert_eq!((stats.accepted, stats.refused, stats.open), (1, 1, 0));
}

#[test]
fn stats_count_connections_and_bytes() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    assert_eq!(proxy.stats(), ProxyStats::default());
    for message in [&b"one"[..], b"three", b"sevenchars"] {
        let mut stream = connect(proxy.local_addr());
        assert_eq!(round_trip(&mut stream, message), message);
    }
    let stats = stats_when(&proxy, |s| s.open == 0);
    assert_eq!(
        stats,
        ProxyStats {
            accepted: 3,
            refused: 0,
            cut: 0,
            bytes_up: 18,
            bytes_down: 18,
            open: 0,
        }
    );
}

/// What a drill does: traffic keeps flowing on fresh connections while the mode cycles
/// through every fault, then `pass` is restored and everything recovers.
#[test]
fn modes_switch_under_live_traffic_and_pass_always_restores() {
    use std::sync::atomic::AtomicBool;
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let addr = proxy.local_addr();
    let attempts = AtomicU64::new(0);
    let successes = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let one_attempt = || -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
        let mut answer = [0u8; 5];
        stream.write_all(b"drill").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"drill"
    };
    // Waits (bounded) until the traffic thread made a few more attempts under the new mode.
    let wait_for_attempts = |more: u64| {
        let target = attempts.load(Ordering::SeqCst) + more;
        let deadline = Instant::now() + Duration::from_secs(20);
        while attempts.load(Ordering::SeqCst) < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(attempts.load(Ordering::SeqCst) >= target, "traffic stalled");
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            // Bounded by the stop flag and by a generous attempt cap.
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if one_attempt() {
                    successes.fetch_add(1, Ordering::SeqCst);
                }
                attempts.fetch_add(1, Ordering::SeqCst);
            }
        });
        let faults = [
            Mode::Latency(Duration::from_millis(5)),
            Mode::Refuse,
            Mode::Blackhole,
            Mode::ResetAfter(2),
            Mode::Refuse,
            Mode::Blackhole,
        ];
        for fault in faults {
            proxy.set_mode(fault).expect("inject");
            wait_for_attempts(3);
            proxy.set_mode(Mode::Pass).expect("restore pass");
            let before = successes.load(Ordering::SeqCst);
            wait_for_attempts(3);
            assert!(
                successes.load(Ordering::SeqCst) > before,
                "no success after restoring pass from {fault}"
            );
        }
        stop.store(true, Ordering::SeqCst);
    });
    let mut stream = connect(addr);
    assert_eq!(
        round_trip(&mut stream, b"after the drill"),
        b"after the drill"
    );
    drop(stream);
    let stats = stats_when(&proxy, |s| s.open == 0);
    assert_eq!(stats.open, 0, "connections left open: {stats:?}");
    assert!(stats.cut > 0, "faults cut connections: {stats:?}");
}

fn proxy_thread_alive(port: u16) -> bool {
    let name = format!("aw-proxy-{port}");
    std::fs::read_dir("/proc/self/task")
        .expect("list threads")
        .filter_map(Result::ok)
        .any(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
}

#[test]
fn stop_closes_the_listener_and_every_connection_and_ends_the_thread() {
    let upstream = upstream(Behaviour::Echo);
    let mut proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let addr = proxy.local_addr();
    assert!(proxy_thread_alive(addr.port()));
    let mut stream = connect(addr);
    assert_eq!(round_trip(&mut stream, b"open"), b"open");

    proxy.stop().expect("stop");
    assert_eq!(read_to_end(&mut stream), (Vec::new(), Ok(())));
    assert_eq!(connect_error(addr), ErrorKind::ConnectionRefused);
    // The thread is joined; its /proc entry goes away a moment after it exits.
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy_thread_alive(addr.port()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !proxy_thread_alive(addr.port()),
        "proxy thread still running"
    );

    let err = proxy.set_mode(Mode::Pass).expect_err("stopped");
    assert_eq!(err.kind, RuntimeErrorKind::NotRunning);
    assert_eq!(err.to_string(), format!("fault proxy on {addr} is stopped"));
    proxy.stop().expect("stopping twice is a no-op");
}

#[test]
fn dropping_the_proxy_closes_its_port() {
    let upstream = upstream(Behaviour::Echo);
    let proxy = FaultProxy::start(any_loopback_port(), upstream.addr).expect("start");
    let addr = proxy.local_addr();
    proxy
        .set_mode(Mode::Latency(Duration::from_secs(60)))
        .expect("latency");
    let mut stream = connect(addr);
    stream.write_all(b"stuck in a delay").expect("write");
    drop(proxy);
    // A FIN if the proxy had already read the bytes, a RST if they were still unread in its
    // socket (Linux resets on close with unread data): closed promptly either way.
    let (got, end) = read_to_end(&mut stream);
    assert_eq!(got, b"");
    assert!(
        matches!(end, Ok(()) | Err(ErrorKind::ConnectionReset)),
        "{end:?}"
    );
    assert_eq!(connect_error(addr), ErrorKind::ConnectionRefused);
}

#[test]
fn bad_addresses_are_rejected_with_clear_errors() {
    let upstream: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let cases = [
        (
            "0.0.0.0:18080",
            "fault proxy: listen address 0.0.0.0:18080 is not loopback (use 127.0.0.1 or ::1); \
             the proxy must not be reachable from the network",
        ),
        (
            "192.0.2.7:18080",
            "fault proxy: listen address 192.0.2.7:18080 is not loopback (use 127.0.0.1 or \
             ::1); the proxy must not be reachable from the network",
        ),
        (
            "127.0.0.1:9",
            "fault proxy: listen address 127.0.0.1:9 is also the upstream; the proxy would \
             forward to itself",
        ),
    ];
    for (listen, message) in cases {
        let listen: SocketAddr = listen.parse().expect("address");
        let err = FaultProxy::start(listen, upstream).expect_err("rejected");
        assert_eq!(err.kind, RuntimeErrorKind::InvalidSpec, "{listen}");
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn a_taken_listen_port_is_reported_as_taken() {
    let squatter = TcpListener::bind(any_loopback_port()).expect("bind");
    let addr = squatter.local_addr().expect("address");
    let upstream: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let err = FaultProxy::start(addr, upstream).expect_err("port is taken");
    assert_eq!(err.kind, RuntimeErrorKind::PortTaken);
    let prefix = format!("fault proxy: cannot listen on {addr}: ");
    assert!(err.to_string().starts_with(&prefix), "{err}");
}

#[test]
fn modes_read_back_as_they_display() {
    let cases = [
        ("pass", Mode::Pass),
        ("refuse", Mode::Refuse),
        ("blackhole", Mode::Blackhole),
        ("latency:200ms", Mode::Latency(Duration::from_millis(200))),
        ("latency:1.5s", Mode::Latency(Duration::from_millis(1500))),
        ("latency:2s", Mode::Latency(Duration::from_secs(2))),
        ("reset-after:1024", Mode::ResetAfter(1024)),
        ("reset-after:0", Mode::ResetAfter(0)),
    ];
    for (text, mode) in cases {
        assert_eq!(text.parse::<Mode>(), Ok(mode), "{text}");
        assert_eq!(mode.to_string(), text);
    }
    // 1.25s would render as `1.2s`; it must still read back as itself.
    let odd = Mode::Latency(Duration::from_millis(1250));
    assert_eq!(odd.to_string(), "latency:1250ms");
    assert_eq!(odd.to_string().parse::<Mode>(), Ok(odd));
}

#[test]
fn bad_mode_names_say_why() {
    let cases = [
        (
            "drop",
            "fault proxy mode `drop`: unknown mode (use pass, refuse, blackhole, \
             latency:<duration> or reset-after:<bytes>)",
        ),
        (
            "Pass",
            "fault proxy mode `Pass`: unknown mode (use pass, refuse, blackhole, \
             latency:<duration> or reset-after:<bytes>)",
        ),
        (
            "latency:200",
            "fault proxy mode `latency:200`: durations need a unit, e.g. 5s",
        ),
        ("latency:", "fault proxy mode `latency:`: empty duration"),
        (
            "reset-after:1KiB",
            "fault proxy mode `reset-after:1KiB`: expected a whole number of bytes, e.g. \
             reset-after:1024",
        ),
        (
            "reset-after:-1",
            "fault proxy mode `reset-after:-1`: expected a whole number of bytes, e.g. \
             reset-after:1024",
        ),
    ];
    for (text, message) in cases {
        let err = text.parse::<Mode>().expect_err(text);
        assert_eq!(err.kind, RuntimeErrorKind::InvalidSpec, "{text}");
        assert_eq!(err.to_string(), message);
    }
}
