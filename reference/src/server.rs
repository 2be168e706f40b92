//! The accept loop every service runs on.
//!
//! Owns: accepting connections on the caller's listener, bounding how many are open, and
//! dropping all of them at once when the service stops.
//! Must not touch: routes or service state.
//!
//! axum's own `serve` spawns connections that outlive it; here they live in a `JoinSet`
//! owned by the serving future, so dropping that future (or a crash) closes every
//! connection the way a killed process would. Clients never see a half-dead service.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Enough for every probe, drill and held hang_chat request the reference system sees;
/// beyond it new connections wait in the kernel backlog instead of growing memory.
const MAX_CONNECTIONS: usize = 256;

/// Accept errors (out of file descriptors, aborted handshakes) are transient; retrying
/// at once would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `stop` completes, then drops every connection.
pub(crate) async fn run<T>(app: Router, listener: TcpListener, stop: impl Future<Output = T>) -> T {
    let mut http = hyper::server::conn::http1::Builder::new();
    // The timer makes hyper's default header-read timeout effective, so a client that
    // opens a connection and never sends a request cannot hold a slot forever.
    http.timer(TokioTimer::new());
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            tokio::select! {
                out = &mut stop => return out,
                _ = connections.join_next() => continue,
            }
        }
        let accepted = tokio::select! {
            out = &mut stop => return out,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let service = TowerToHyperService::new(app.clone());
                let connection = http.serve_connection(TokioIo::new(stream), service);
                // A connection error is the client's business (reset, malformed request);
                // the service itself keeps running, so there is nothing to report.
                connections.spawn(async move {
                    let _ = connection.await;
                });
            }
            Err(_) => tokio::select! {
                out = &mut stop => return out,
                () = tokio::time::sleep(ACCEPT_RETRY) => {}
            },
        }
    }
}
