//! The HTTP/1.1 server in front of the API router: our own accept loop
//! on hyper, because `axum::serve` has no timeouts, no connection caps
//! and no way to end a server whose clients keep streams open.
//!
//! Owns: accepting (caps per client IP and in total, refused at once
//! with a JSON 503 so the loop never waits on a refused client), the
//! head timeout (idle after connect, a slow head, an idle kept-alive
//! connection), the body deadline, the framing check, and the graceful
//! shutdown of connections within a grace period.
//! Must not touch: routes and handlers (the router), sessions (the host).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower_service::Service as _;

use super::body_timeout::TimedBody;
use super::error::ApiError;
use super::framing::{Framing, Sniffed, Verdicts, MAX_HEAD_BYTES};
use super::http_stats::HttpStats;
use super::shutdown::Shutdown;

/// Limits and deadlines of the server; `wasp serve` sets them from flags.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Time for a request head to arrive, counted from the connection's
    /// start or the end of the previous response (so it also closes idle
    /// kept-alive connections).
    pub head_timeout: Duration,
    /// Time for a request body to arrive, counted from its head.
    pub body_timeout: Duration,
    /// The same for a file uploaded as a multipart form to
    /// `POST /v1/sessions/{id}/messages` (up to 2 GiB).
    pub upload_timeout: Duration,
    /// Connections open at once from one client IP.
    pub max_connections_per_ip: usize,
    /// Connections open at once in all.
    pub max_connections: usize,
    /// How long requests in flight may take to finish once the shutdown
    /// is triggered; connections still open then are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(600),
            max_connections_per_ip: 256,
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is triggered, then stops
/// accepting, lets each connection finish its current request (event
/// streams end on the same trigger) and returns once all are closed or
/// the grace period has passed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServerConfig,
    stats: Arc<HttpStats>,
    shutdown: Shutdown,
) {
    let limits = Arc::new(ConnLimits::new(&config, stats.clone()));
    let mut connections = JoinSet::new();
    let mut stop = shutdown.listener();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait() => break,
            // Reap finished connections as we go so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off a little
                // instead of spinning; the connections open keep working.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(guard) = limits.admit(client_of(peer.ip())) else {
            refuse(stream, peer);
            continue;
        };
        let conn = Connection {
            app: app.clone(),
            config: config.clone(),
            stats: stats.clone(),
            shutdown: shutdown.clone(),
        };
        connections.spawn(conn.run(stream, guard));
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        "shutting down: no new connections"
    );
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "grace period over: closing the connections left"
        );
        connections.shutdown().await;
    }
}

/// Answers a refused connection without waiting on it: the answer fits
/// the send buffer of a fresh connection (if it does not, the client gets
/// a bare close).
fn refuse(stream: TcpStream, peer: SocketAddr) {
    const BODY: &str =
        r#"{"error":"too_many_connections","message":"too many connections open: retry later"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
    // Closing a socket with unread data resets the connection, which can
    // throw the answer away before the client reads it: take what already
    // arrived (never waiting), then close the sending side after it.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.try_read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    if let Ok(socket) = stream.into_std() {
        let _ = socket.shutdown(std::net::Shutdown::Write);
    }
    tracing::debug!(%peer, "connection refused: over the limit");
}

/// The client a peer address counts as: an IPv4 address (also when it
/// arrives IPv4-mapped), or an IPv6 /64, since one host holds a whole
/// /64 and could otherwise dodge the per-client cap address by address.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// Open connections per client (see [`client_of`]) and in total.
struct ConnLimits {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
    max_total: usize,
    stats: Arc<HttpStats>,
}

impl ConnLimits {
    fn new(config: &ServerConfig, stats: Arc<HttpStats>) -> ConnLimits {
        ConnLimits {
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip: config.max_connections_per_ip.max(1),
            max_total: config.max_connections.max(1),
            stats,
        }
    }

    /// A guard holding one connection slot, or `None` (counted) when the
    /// client or the server is at its limit.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        let mut per_ip = self.lock();
        let total: usize = per_ip.values().sum();
        if total >= self.max_total {
            HttpStats::bump(&self.stats.refused_total);
            return None;
        }
        let mine = per_ip.entry(ip).or_default();
        if *mine >= self.max_per_ip {
            HttpStats::bump(&self.stats.refused_per_ip);
            return None;
        }
        *mine += 1;
        HttpStats::bump(&self.stats.open);
        Some(ConnGuard {
            limits: self.clone(),
            ip,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_ip.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Frees its connection slot when the connection ends.
struct ConnGuard {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut per_ip = self.limits.lock();
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.limits
            .stats
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What one connection task needs.
struct Connection {
    app: Router,
    config: ServerConfig,
    stats: Arc<HttpStats>,
    shutdown: Shutdown,
}

impl Connection {
    async fn run(self, stream: TcpStream, guard: ConnGuard) {
        let _guard = guard;
        // Small JSON answers and event streams: send each write at once.
        let _ = stream.set_nodelay(true);
        let verdicts = Verdicts::default();
        let io = TokioIo::new(Sniffed::new(stream, verdicts.clone()));
        let Connection {
            app,
            config,
            stats,
            shutdown,
        } = self;
        let (body_timeout, upload_timeout) = (config.body_timeout, config.upload_timeout);
        let service_stats = stats.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let verdict = verdicts.next();
            let stats = service_stats.clone();
            let uploads = super::state::sends_message(request.method(), request.uri().path())
                && super::state::is_multipart(request.headers());
            let limit = if uploads {
                upload_timeout
            } else {
                body_timeout
            };
            let request = request.map(|body| Body::new(TimedBody::new(body, limit, stats.clone())));
            let mut app = app.clone();
            async move {
                if verdict != Some(Framing::Clear) {
                    HttpStats::bump(&stats.ambiguous_framing);
                    return Ok(ambiguous_framing());
                }
                app.call(request).await
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(config.head_timeout)
            .max_buf_size(MAX_HEAD_BYTES);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut stop = shutdown.listener();
        let result = tokio::select! {
            result = conn.as_mut() => result,
            _ = stop.wait() => {
                // Finish the request in flight, then close.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            if e.is_timeout() {
                HttpStats::bump(&stats.head_timeouts);
                tracing::debug!("connection closed: no request head in time");
            } else {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
    }
}

/// 400 for a request carrying both Content-Length and Transfer-Encoding
/// (or one whose framing could not be followed); the connection closes.
fn ambiguous_framing() -> Response {
    let mut response = ApiError::new(
        StatusCode::BAD_REQUEST,
        "ambiguous_framing",
        "a request must not carry both Content-Length and Transfer-Encoding",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_ipv4_addresses_or_ipv6_prefixes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_of(ip("10.0.0.7")), ip("10.0.0.7"));
        assert_eq!(client_of(ip("::ffff:10.0.0.7")), ip("10.0.0.7"));
        assert_eq!(
            client_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            client_of(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            client_of(ip("2001:db8:1:2::1")),
            client_of(ip("2001:db8:1:3::1"))
        );
    }
}
