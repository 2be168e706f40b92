//! A TCP fault proxy: listens on loopback, forwards to one upstream, and can be switched at
//! run time into a network fault, so drills and canaries can break the path between two
//! services without touching either of them.
//!
//! Owns: the proxy's listener, its connections, its thread and tokio runtime, and the
//! [`Mode`] names (`pass`, `refuse`, `blackhole`, `latency:200ms`, `reset-after:1024`).
//! Must not touch: the services on either side, drill budgets, verdicts or output.
//!
//! # Fault proxy
//!
//! [`FaultProxy::start`] binds a loopback address (anything else is refused), spawns one
//! thread running a current-thread tokio runtime that the proxy owns, and returns once the
//! port is listening. The proxy starts in [`Mode::Pass`]. [`FaultProxy::set_mode`] returns
//! once the listener reflects the new mode; every connection, new or already open, sees it
//! from its next step on. Modes:
//!
//! - **`pass`**: forwards bytes both ways unchanged. The upstream connect has a timeout
//!   ([`UPSTREAM_CONNECT_TIMEOUT`]); if the upstream is down or unreachable the client's
//!   connection is reset at once, as a real network path to a dead backend would fail
//!   rather than hang.
//! - **`refuse`**: the listener is *closed*, so new connects get `ECONNREFUSED`, exactly
//!   what a client sees when the service is down (accept-then-reset would read as "reset by
//!   peer" instead). Every open connection is reset too, so a keep-alive client notices at
//!   its next request and not only at its next connect. Leaving `refuse` re-binds the same
//!   port (with `SO_REUSEADDR`); if another process took the port meanwhile, `set_mode`
//!   fails with [`RuntimeErrorKind::PortTaken`] and the proxy stays in `refuse`. Ports in the
//!   kernel's ephemeral range can be taken by unrelated outgoing connections, so drills
//!   should give the proxy a fixed port below it.
//! - **`blackhole`**: new connections are accepted but never connected upstream; open
//!   connections are frozen: the next chunk in either direction is held and nothing more is
//!   read, so the peer's writes back up in the kernel. Nobody gets an answer, and nothing is
//!   closed. Like lifting a real packet drop, leaving `blackhole` lets held connections carry
//!   on (new ones connect upstream then). A connection is held at most
//!   [`BLACKHOLE_MAX_HOLD`] per freeze and is then reset.
//! - **`latency:<d>`**: each chunk, in each direction, is held for `d` after it is read, and
//!   the next chunk of that direction is read only after it was written. A request/response
//!   round trip therefore gains at least `2 × d`, and bulk transfers slow down as on a link
//!   with a small window. The TCP handshake with the proxy itself is not delayed.
//! - **`reset-after:<n>`**: forwards at most `n` more bytes from the upstream to the client
//!   (client-to-upstream bytes are not counted, they flow freely), then resets both sides.
//!   The budget starts when the mode is set for open connections and at accept for new ones;
//!   every `set_mode` starts a new budget. Before the reset, the proxy waits (bounded, see
//!   [`DRAIN_TIMEOUT`]) until the client's kernel has acknowledged those bytes, so the client
//!   reads exactly `n` bytes and then `ECONNRESET`. `reset-after:0` resets at once.
//!
//! Resets are real RSTs (`SO_LINGER` 0), sent once the client has acknowledged what was
//! already forwarded to it (bounded by [`DRAIN_TIMEOUT`]). When one side closes cleanly, the
//! proxy half-closes the other; when one side resets or errors, it resets the other.
//!
//! **Bounds.** At most [`MAX_OPEN`] connections are open at once; beyond that a new one is
//! reset on accept and counted as refused; a held connection whose client gave up still
//! counts until the blackhole lifts or its hold runs out. Every wait the proxy adds has a
//! timeout (an idle connection in `pass` may stay open, as on a real network): upstream connect,
//! blackhole holds, the drain before a reset, `set_mode` acknowledgement ([`CONTROL_TIMEOUT`])
//! and [`FaultProxy::stop`] ([`STOP_TIMEOUT`]). Stopping (or dropping) the proxy ends its
//! runtime, which closes the listener and every connection, and joins its thread.
//!
//! `start`, `set_mode` and `stop` block the calling thread briefly; they are safe to call
//! from inside another tokio runtime, since the proxy never runs on the caller's runtime.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use auditwall_spec::{parse_duration, render_duration};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc as tokio_mpsc, watch};

use crate::{RuntimeError, RuntimeErrorKind};

/// How long the proxy waits for the upstream to accept a connection before resetting the
/// client's.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one connection is held in `blackhole` before it is reset.
pub const BLACKHOLE_MAX_HOLD: Duration = Duration::from_secs(600);
/// The most connections open at once (held ones included).
pub const MAX_OPEN: u64 = 256;
/// The longest a reset waits for bytes already forwarded to reach the client.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest `set_mode` and `start` wait for the proxy's thread to answer.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `stop` waits for the proxy's thread to finish.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

const CHUNK: usize = 64 * 1024;
// A persistent accept error (e.g. out of file descriptors) must not spin the thread.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// What the proxy does to traffic. Parses from and displays as `pass`, `refuse`,
/// `blackhole`, `latency:200ms`, `reset-after:1024`; see the module docs for semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    Blackhole,
    /// Added to every chunk in each direction. Displayed to the whole millisecond.
    Latency(Duration),
    /// Upstream-to-client bytes forwarded before both sides are reset.
    ResetAfter(u64),
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Pass => f.write_str("pass"),
            Mode::Refuse => f.write_str("refuse"),
            Mode::Blackhole => f.write_str("blackhole"),
            Mode::Latency(d) => write!(f, "latency:{}", render_latency(*d)),
            Mode::ResetAfter(n) => write!(f, "reset-after:{n}"),
        }
    }
}

/// `render_duration` rounds (1.25s shows as 1.2s); a mode must read back as itself, so fall
/// back to whole milliseconds when the short form would not.
fn render_latency(d: Duration) -> String {
    let short = render_duration(d);
    if parse_duration(&short) == Ok(d) {
        short
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl FromStr for Mode {
    type Err = RuntimeError;

    fn from_str(text: &str) -> Result<Mode, RuntimeError> {
        let invalid = |reason: String| {
            RuntimeError::new(
                RuntimeErrorKind::InvalidSpec,
                format!("fault proxy mode `{text}`: {reason}"),
            )
        };
        match text {
            "pass" => return Ok(Mode::Pass),
            "refuse" => return Ok(Mode::Refuse),
            "blackhole" => return Ok(Mode::Blackhole),
            _ => {}
        }
        if let Some(value) = text.strip_prefix("latency:") {
            return parse_duration(value).map(Mode::Latency).map_err(invalid);
        }
        if let Some(value) = text.strip_prefix("reset-after:") {
            return value.parse::<u64>().map(Mode::ResetAfter).map_err(|_| {
                invalid("expected a whole number of bytes, e.g. reset-after:1024".to_string())
            });
        }
        Err(invalid(
            "unknown mode (use pass, refuse, blackhole, latency:<duration> or reset-after:<bytes>)"
                .to_string(),
        ))
    }
}

/// Counters since the proxy started. Read together but not atomically as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyStats {
    /// Connections the listener accepted.
    pub accepted: u64,
    /// Accepted connections reset before anything was forwarded because the proxy was full
    /// or the upstream could not be reached. Connects refused by the closed port in `refuse`
    /// mode never reach the proxy and are not counted.
    pub refused: u64,
    /// Connections reset by a fault: `refuse`, `reset-after`, or a blackhole hold that ran out.
    pub cut: u64,
    /// Bytes written to the upstream.
    pub bytes_up: u64,
    /// Bytes written to clients.
    pub bytes_down: u64,
    /// Connections open now (held ones included).
    pub open: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    cut: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    open: AtomicU64,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The mode plus a number bumped by every `set_mode`, so a connection can tell a fresh
/// `reset-after` budget from the one it is already spending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ModeState {
    epoch: u64,
    mode: Mode,
}

/// Limits that tests shrink; production uses [`Limits::DEFAULT`].
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_open: u64,
    max_hold: Duration,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        max_open: MAX_OPEN,
        max_hold: BLACKHOLE_MAX_HOLD,
    };
}

enum Command {
    SetMode(Mode, mpsc::SyncSender<Result<(), RuntimeError>>),
}

struct Worker {
    // Dropping this sender is the stop signal: the control loop ends when it sees no sender.
    commands: tokio_mpsc::UnboundedSender<Command>,
    // In a mutex only so that the proxy is `Sync` and can be shared with the thread that
    // switches modes; only `stop` (which has `&mut self`) reads it.
    done: Mutex<mpsc::Receiver<()>>,
    thread: JoinHandle<()>,
}

/// A running fault proxy. Stops (listener and every connection closed) on [`stop`] or drop.
///
/// [`stop`]: FaultProxy::stop
pub struct FaultProxy {
    listen: SocketAddr,
    upstream: SocketAddr,
    modes: watch::Receiver<ModeState>,
    counters: Arc<Counters>,
    worker: Option<Worker>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("listen", &self.listen)
            .field("upstream", &self.upstream)
            .field("mode", &self.mode())
            .field("running", &self.worker.is_some())
            .finish()
    }
}

impl FaultProxy {
    /// Listens on `listen` (loopback only; port 0 picks a free one) and forwards to
    /// `upstream` in [`Mode::Pass`]. Returns once the port accepts connections.
    pub fn start(listen: SocketAddr, upstream: SocketAddr) -> Result<FaultProxy, RuntimeError> {
        FaultProxy::start_with(listen, upstream, Limits::DEFAULT)
    }

    fn start_with(
        listen: SocketAddr,
        upstream: SocketAddr,
        limits: Limits,
    ) -> Result<FaultProxy, RuntimeError> {
        if !listen.ip().is_loopback() {
            return Err(RuntimeError::new(
                RuntimeErrorKind::InvalidSpec,
                format!(
                    "fault proxy: listen address {listen} is not loopback \
                     (use 127.0.0.1 or ::1); the proxy must not be reachable from the network"
                ),
            ));
        }
        check_not_upstream(listen, upstream)?;
        let listener = bind(listen, "cannot listen on")?;
        let listen = listener.local_addr().map_err(|e| {
            RuntimeError::new(
                RuntimeErrorKind::Io,
                format!("fault proxy: cannot read the address it listens on: {e}"),
            )
        })?;
        // Port 0 may be given the upstream's port if nothing listens there right now.
        check_not_upstream(listen, upstream)?;
        let (modes_tx, modes) = watch::channel(ModeState {
            epoch: 0,
            mode: Mode::Pass,
        });
        let counters = Arc::new(Counters::default());
        let (commands, command_rx) = tokio_mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        let control = Control {
            listen,
            upstream,
            limits,
            modes: modes_tx,
            counters: Arc::clone(&counters),
        };
        let thread = std::thread::Builder::new()
            // Thread names are cut at 15 bytes; this keeps the port visible in `top -H`.
            .name(format!("aw-proxy-{}", listen.port()))
            .spawn(move || {
                // Declared first so it is dropped last, after the runtime and every socket.
                let _done = DoneSignal(done_tx);
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start its runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match register(listener) {
                        Ok(listener) => {
                            let _ = ready_tx.send(Ok(()));
                            control.run(listener, command_rx).await;
                        }
                        Err(e) => {
                            let _ =
                                ready_tx.send(Err(format!("cannot register its listener: {e}")));
                        }
                    }
                });
            })
            .map_err(|e| {
                RuntimeError::new(
                    RuntimeErrorKind::Io,
                    format!("fault proxy on {listen}: cannot spawn its thread: {e}"),
                )
            })?;
        let worker = Worker {
            commands,
            done: Mutex::new(done),
            thread,
        };
        let mut proxy = FaultProxy {
            listen,
            upstream,
            modes,
            counters,
            worker: Some(worker),
        };
        let failed = match ready_rx.recv_timeout(CONTROL_TIMEOUT) {
            Ok(Ok(())) => return Ok(proxy),
            Ok(Err(reason)) => reason,
            Err(_) => format!("did not start within {}", render_duration(CONTROL_TIMEOUT)),
        };
        let _ = proxy.stop();
        Err(RuntimeError::new(
            RuntimeErrorKind::Io,
            format!("fault proxy on {listen}: {failed}"),
        ))
    }

    /// The address the proxy listens on (with the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The mode in force (after a failed `set_mode`, still the previous one).
    pub fn mode(&self) -> Mode {
        self.modes.borrow().mode
    }

    /// Switches the mode; returns once the listener matches it (closed for `refuse`, open
    /// otherwise). Open connections follow at their next step (see the module docs).
    pub fn set_mode(&self, mode: Mode) -> Result<(), RuntimeError> {
        let worker = self.worker.as_ref().ok_or_else(|| self.stopped())?;
        let (reply, answer) = mpsc::sync_channel(1);
        worker
            .commands
            .send(Command::SetMode(mode, reply))
            .map_err(|_| self.stopped())?;
        match answer.recv_timeout(CONTROL_TIMEOUT) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.stopped()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(RuntimeError::new(
                RuntimeErrorKind::Io,
                format!(
                    "fault proxy on {}: did not apply mode {mode} within {}",
                    self.listen,
                    render_duration(CONTROL_TIMEOUT)
                ),
            )),
        }
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ProxyStats {
            accepted: get(&c.accepted),
            refused: get(&c.refused),
            cut: get(&c.cut),
            bytes_up: get(&c.bytes_up),
            bytes_down: get(&c.bytes_down),
            open: get(&c.open),
        }
    }

    /// Closes the listener and every connection and joins the proxy's thread. Calling it
    /// again is a no-op. Fails only if the thread did not finish within [`STOP_TIMEOUT`]
    /// (it is then left to finish on its own).
    pub fn stop(&mut self) -> Result<(), RuntimeError> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        drop(worker.commands);
        let done = worker.done.lock().unwrap_or_else(|e| e.into_inner());
        match done.recv_timeout(STOP_TIMEOUT) {
            // The thread has passed its last statement, so this join returns at once.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = worker.thread.join();
                Ok(())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(RuntimeError::new(
                RuntimeErrorKind::Io,
                format!(
                    "fault proxy on {}: did not stop within {}",
                    self.listen,
                    render_duration(STOP_TIMEOUT)
                ),
            )),
        }
    }

    fn stopped(&self) -> RuntimeError {
        RuntimeError::new(
            RuntimeErrorKind::NotRunning,
            format!("fault proxy on {} is stopped", self.listen),
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn check_not_upstream(listen: SocketAddr, upstream: SocketAddr) -> Result<(), RuntimeError> {
    if listen == upstream {
        return Err(RuntimeError::new(
            RuntimeErrorKind::InvalidSpec,
            format!(
                "fault proxy: listen address {listen} is also the upstream; \
                 the proxy would forward to itself"
            ),
        ));
    }
    Ok(())
}

struct DoneSignal(mpsc::SyncSender<()>);

impl Drop for DoneSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn bind(addr: SocketAddr, what: &str) -> Result<std::net::TcpListener, RuntimeError> {
    // std sets SO_REUSEADDR on Unix, so re-binding after `refuse` is not blocked by the
    // TIME_WAIT connections the old listener left behind.
    std::net::TcpListener::bind(addr).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::AddrInUse {
            RuntimeErrorKind::PortTaken
        } else {
            RuntimeErrorKind::Io
        };
        RuntimeError::new(kind, format!("fault proxy: {what} {addr}: {e}"))
    })
}

/// The state of the proxy's thread: the listener, the mode, and what every connection needs.
struct Control {
    listen: SocketAddr,
    upstream: SocketAddr,
    limits: Limits,
    modes: watch::Sender<ModeState>,
    counters: Arc<Counters>,
}

impl Control {
    async fn run(
        self,
        listener: TcpListener,
        mut commands: tokio_mpsc::UnboundedReceiver<Command>,
    ) {
        let mut listener = Some(listener);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::SetMode(mode, reply)) => {
                        let _ = reply.send(self.apply(mode, &mut listener));
                    }
                },
                accepted = accept(listener.as_ref()) => match accepted {
                    Ok(client) => self.admit(client),
                    Err(_) => tokio::time::sleep(ACCEPT_ERROR_PAUSE).await,
                },
            }
        }
    }

    fn apply(&self, mode: Mode, listener: &mut Option<TcpListener>) -> Result<(), RuntimeError> {
        if mode == Mode::Refuse {
            *listener = None;
        } else if listener.is_none() {
            let reopened = bind(self.listen, "cannot leave refuse mode: cannot listen on")
                .and_then(|l| {
                    register(l).map_err(|e| {
                        RuntimeError::new(
                            RuntimeErrorKind::Io,
                            format!(
                                "fault proxy: cannot leave refuse mode: cannot register \
                                     the listener on {}: {e}",
                                self.listen
                            ),
                        )
                    })
                })?;
            *listener = Some(reopened);
        }
        self.modes.send_modify(|state| {
            state.epoch += 1;
            state.mode = mode;
        });
        Ok(())
    }

    fn admit(&self, client: TcpStream) {
        bump(&self.counters.accepted, 1);
        if self.counters.open.load(Ordering::Relaxed) >= self.limits.max_open {
            bump(&self.counters.refused, 1);
            abort(&client);
            return;
        }
        let open = OpenGuard::new(Arc::clone(&self.counters));
        let connection = Connection {
            client,
            upstream: self.upstream,
            modes: self.modes.subscribe(),
            counters: Arc::clone(&self.counters),
            max_hold: self.limits.max_hold,
        };
        tokio::spawn(async move {
            let _open = open;
            connection.serve().await;
        });
    }
}

/// Hands a bound std listener to the proxy's runtime (must run inside it).
fn register(listener: std::net::TcpListener) -> std::io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Counts a connection as open for as long as its task lives (also when the runtime drops it).
struct OpenGuard(Arc<Counters>);

impl OpenGuard {
    fn new(counters: Arc<Counters>) -> OpenGuard {
        bump(&counters.open, 1);
        OpenGuard(counters)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a connection (or one direction of it) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Clean end of stream; the other side is half-closed.
    Eof,
    /// An I/O error or reset on one side; the other side is reset too.
    Broken,
    /// A fault mode ends the connection with a reset.
    Cut,
}

struct Connection {
    client: TcpStream,
    upstream: SocketAddr,
    modes: watch::Receiver<ModeState>,
    counters: Arc<Counters>,
    max_hold: Duration,
}

impl Connection {
    async fn serve(mut self) {
        match self.hold_before_connecting().await {
            Ok(()) => {}
            Err(End::Cut) => return self.cut(None).await,
            Err(_) => return abort(&self.client),
        }
        let connected =
            tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(self.upstream)).await;
        let Ok(Ok(mut upstream)) = connected else {
            bump(&self.counters.refused, 1);
            abort(&self.client);
            return;
        };
        // Forwarded chunks must not wait for Nagle: latency is the mode's job alone.
        let _ = self.client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        match self.forward(&mut upstream).await {
            End::Eof => {}
            End::Broken => {
                abort(&self.client);
                abort(&upstream);
            }
            End::Cut => self.cut(Some(&upstream)).await,
        }
    }

    /// A connection accepted during `blackhole` waits here, unconnected, until the mode
    /// lifts; `Err` says how the connection ends instead.
    async fn hold_before_connecting(&mut self) -> Result<(), End> {
        let wait = self.modes.wait_for(|s| s.mode != Mode::Blackhole);
        let mode = match tokio::time::timeout(self.max_hold, wait).await {
            Ok(Ok(state)) => state.mode,
            Ok(Err(_)) => return Err(End::Broken),
            Err(_) => return Err(End::Cut),
        };
        if cuts_at_once(mode) {
            Err(End::Cut)
        } else {
            Ok(())
        }
    }

    async fn forward(&mut self, upstream: &mut TcpStream) -> End {
        let (mut client_read, mut client_write) = self.client.split();
        let (mut upstream_read, mut upstream_write) = upstream.split();
        let up = pump(
            &mut client_read,
            &mut upstream_write,
            Direction::Up,
            self.modes.clone(),
            &self.counters,
            self.max_hold,
        );
        let down = pump(
            &mut upstream_read,
            &mut client_write,
            Direction::Down,
            self.modes.clone(),
            &self.counters,
            self.max_hold,
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        // Ends when both directions reached EOF, either broke, or a mode cut the connection.
        while !(up_done && down_done) {
            tokio::select! {
                end = &mut up, if !up_done => match end {
                    End::Eof => up_done = true,
                    other => return other,
                },
                end = &mut down, if !down_done => match end {
                    End::Eof => down_done = true,
                    other => return other,
                },
                changed = self.modes.changed() => {
                    if changed.is_err() {
                        return End::Broken;
                    }
                    // Idle connections must see `refuse` too, not only at their next chunk.
                    if cuts_at_once(self.modes.borrow_and_update().mode) {
                        return End::Cut;
                    }
                }
            }
        }
        End::Eof
    }

    async fn cut(&self, upstream: Option<&TcpStream>) {
        bump(&self.counters.cut, 1);
        drain(&self.client).await;
        abort(&self.client);
        if let Some(upstream) = upstream {
            abort(upstream);
        }
    }
}

fn cuts_at_once(mode: Mode) -> bool {
    matches!(mode, Mode::Refuse | Mode::ResetAfter(0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

/// Copies one direction chunk by chunk, applying the mode in force to each chunk.
async fn pump<R, W>(
    src: &mut R,
    dst: &mut W,
    direction: Direction,
    mut modes: watch::Receiver<ModeState>,
    counters: &Counters,
    max_hold: Duration,
) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let forwarded = match direction {
        Direction::Up => &counters.bytes_up,
        Direction::Down => &counters.bytes_down,
    };
    let mut buf = vec![0u8; CHUNK];
    // (epoch, bytes sent under it) of the `reset-after` budget being spent.
    let mut budget: Option<(u64, u64)> = None;
    loop {
        let n = match src.read(&mut buf).await {
            Ok(0) => {
                let _ = dst.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Broken,
        };
        let mut len = n;
        let mut last = false;
        let mut delayed = false;
        // Re-evaluated after every wait, since the mode may change while a chunk is held.
        loop {
            let state = *modes.borrow_and_update();
            match state.mode {
                Mode::Pass => break,
                Mode::Refuse => return End::Cut,
                Mode::Latency(delay) => {
                    if delayed {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    delayed = true;
                }
                Mode::Blackhole => {
                    let lifted = modes.wait_for(|s| s.mode != Mode::Blackhole);
                    match tokio::time::timeout(max_hold, lifted).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => return End::Broken,
                        Err(_) => return End::Cut,
                    }
                }
                Mode::ResetAfter(limit) => {
                    if direction == Direction::Up {
                        break;
                    }
                    let sent = match budget {
                        Some((epoch, sent)) if epoch == state.epoch => sent,
                        _ => 0,
                    };
                    let left = limit.saturating_sub(sent);
                    if left <= len as u64 {
                        // `left` fits in usize because it is at most `len`.
                        len = left as usize;
                        last = true;
                    }
                    budget = Some((state.epoch, sent + len as u64));
                    break;
                }
            }
        }
        if dst.write_all(&buf[..len]).await.is_err() {
            return End::Broken;
        }
        bump(forwarded, len as u64);
        if last {
            return End::Cut;
        }
    }
}

/// Resets the connection (RST) when the stream is dropped, discarding unsent bytes.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Waits, bounded, until the peer acknowledged everything written to `stream`, so that a
/// reset does not discard bytes the proxy already counted as forwarded.
async fn drain(stream: &TcpStream) {
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while unacknowledged(stream).is_some_and(|n| n > 0) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

#[cfg(target_os = "linux")]
fn unacknowledged(stream: &TcpStream) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) on a TCP socket we own writes one int: the bytes sent but
    // not yet acknowledged plus those not yet sent.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    (rc == 0).then(|| u64::try_from(n).unwrap_or(0))
}

#[cfg(not(target_os = "linux"))]
fn unacknowledged(_stream: &TcpStream) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    //! The limits, shrunk so they can be reached; the behaviour of every mode is tested
    //! against real sockets in `tests/proxy.rs`.

    use super::*;
    use std::io::{ErrorKind, Read};
    use std::net::{Ipv4Addr, TcpListener as StdListener, TcpStream as StdStream};

    fn loopback_any() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
    }

    fn client(addr: SocketAddr) -> StdStream {
        let stream = StdStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
    }

    fn read_error(stream: &mut StdStream) -> Option<ErrorKind> {
        let mut buf = [0u8; 16];
        stream.read(&mut buf).err().map(|e| e.kind())
    }

    fn stats_when(proxy: &FaultProxy, done: impl Fn(&ProxyStats) -> bool) -> ProxyStats {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let stats = proxy.stats();
            if done(&stats) || std::time::Instant::now() >= deadline {
                return stats;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn connections_over_the_cap_are_reset_on_accept() {
        // The kernel completes upstream connects into this backlog, so the first connection
        // stays open without a server loop.
        let upstream = StdListener::bind(loopback_any()).expect("bind");
        let limits = Limits {
            max_open: 1,
            max_hold: BLACKHOLE_MAX_HOLD,
        };
        let proxy =
            FaultProxy::start_with(loopback_any(), upstream.local_addr().expect("addr"), limits)
                .expect("start");
        let _first = client(proxy.local_addr());
        assert_eq!(stats_when(&proxy, |s| s.open == 1).open, 1);

        // The reset can win the race with `connect_timeout`'s final SO_ERROR check.
        let second = StdStream::connect_timeout(&proxy.local_addr(), Duration::from_secs(10));
        let end = match second {
            Err(e) => Some(e.kind()),
            Ok(mut second) => {
                second
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                read_error(&mut second)
            }
        };
        assert_eq!(end, Some(ErrorKind::ConnectionReset));
        let stats = proxy.stats();
        assert_eq!((stats.accepted, stats.refused, stats.open), (2, 1, 1));
    }

    #[test]
    fn a_blackhole_hold_that_runs_out_resets_the_connection() {
        let limits = Limits {
            max_open: MAX_OPEN,
            max_hold: Duration::from_millis(100),
        };
        let upstream: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let proxy = FaultProxy::start_with(loopback_any(), upstream, limits).expect("start");
        proxy.set_mode(Mode::Blackhole).expect("blackhole");
        let mut held = client(proxy.local_addr());
        assert_eq!(read_error(&mut held), Some(ErrorKind::ConnectionReset));
        let stats = stats_when(&proxy, |s| s.open == 0);
        assert_eq!((stats.cut, stats.refused, stats.open), (1, 0, 0));
    }
}
