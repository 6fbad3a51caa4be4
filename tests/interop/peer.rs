//! The independent peer: a `whatsapp-rust` 0.7 client wired to talk only to
//! the simulator.
//!
//! whatsapp-rust is built with default features off plus
//! `danger-skip-cert-chain-verify` (see Cargo.toml): the simulator signs its
//! Noise certificate chain with its own root, which whatsapp-rust could not
//! otherwise accept because it pins WhatsApp's real root key. That switch
//! lives only in this dev-dependency; our own client always verifies.
//!
//! Nothing here may reach the internet. whatsapp-rust's only network paths
//! are its transport factory (pointed at the simulator's `/ws/chat`) and its
//! HTTP client, which it uses for the app-version fetch from web.whatsapp.com
//! (skipped by pinning the version) and for media/app-state blob transfers.
//! The HTTP client given to it here forwards requests for a loopback host
//! (the simulator's media hosts, which `media_conn` names) over plain HTTP,
//! and refuses and records every other request, so a test can assert that
//! none was attempted.

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use whatsapp_rust::bot::Bot;
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::store::traits::Backend;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::store::InMemoryBackend;
use whatsapp_rust::TokioRuntime;

/// The WhatsApp Web version the peer announces. Pinning it is what keeps
/// whatsapp-rust from fetching `https://web.whatsapp.com/sw.js` before every
/// connect. (Value: wacore 0.7's built-in default, store/device.rs.)
pub const PEER_APP_VERSION: (u32, u32, u32) = (2, 3000, 1_042_742_319);

/// An HTTP client that talks to the simulator only: a request for a
/// loopback host goes there (as plain HTTP, whatever the scheme), every
/// other request fails and its `METHOD URL` is recorded for the test to
/// inspect.
#[derive(Debug, Clone, Default)]
pub struct RefusingHttpClient {
    attempts: Arc<Mutex<Vec<String>>>,
}

impl RefusingHttpClient {
    /// Every request whatsapp-rust tried to make outside the simulator,
    /// in order.
    pub fn attempts(&self) -> Vec<String> {
        match self.attempts.lock() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The loopback `host:port` and path a URL names, if its host is loopback.
fn loopback(url: &str) -> Option<(&str, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, format!("/{path}")),
        None => (rest, "/".to_string()),
    };
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]").then_some((authority, path))
}

/// Sends `request` to the simulator at `authority`, over plain HTTP.
async fn forward(
    request: HttpRequest,
    authority: &str,
    path: String,
) -> anyhow::Result<HttpResponse> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(path)
        .header("host", authority);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(request.body.unwrap_or_default());
    let response = sender.send_request(builder.body(body)?).await?;
    let status_code = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(HttpResponse { status_code, body })
}

#[whatsapp_rust::async_trait]
impl HttpClient for RefusingHttpClient {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        if let Some((authority, path)) = loopback(&request.url) {
            let authority = authority.to_string();
            return forward(request, &authority, path).await;
        }
        let line = format!("{} {}", request.method, request.url);
        match self.attempts.lock() {
            Ok(mut list) => list.push(line.clone()),
            Err(poisoned) => poisoned.into_inner().push(line.clone()),
        }
        anyhow::bail!("interop test: outbound HTTP is not allowed ({line})")
    }
}

/// A built (not yet started) whatsapp-rust bot, its event stream and the
/// HTTP recorder it was given.
pub struct Peer {
    pub bot: Bot,
    pub events: mpsc::UnboundedReceiver<Arc<Event>>,
    pub http: RefusingHttpClient,
}

/// A fresh, empty in-memory store for one peer. Hand the same store to
/// [`build_peer`] again to restart that peer with its saved state.
pub fn new_store() -> Arc<dyn Backend> {
    Arc::new(InMemoryBackend::new())
}

/// Builds a whatsapp-rust client on `store` that connects to `ws_url` and
/// forwards every event it raises.
pub async fn build_peer(ws_url: &str, store: Arc<dyn Backend>) -> anyhow::Result<Peer> {
    let (tx, events) = mpsc::unbounded_channel();
    let http = RefusingHttpClient::default();
    let bot = Bot::builder()
        .with_backend_arc(store)
        .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(ws_url))
        .with_http_client(http.clone())
        .with_runtime(TokioRuntime)
        .with_version(PEER_APP_VERSION)
        .on_event(move |event, _client| {
            let tx = tx.clone();
            async move {
                // The receiver is gone only once the test has finished.
                let _ = tx.send(event);
            }
        })
        .build()
        .await?;
    Ok(Peer { bot, events, http })
}
