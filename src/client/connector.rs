//! How a session opens its transport: a WebSocket in production, anything
//! implementing [`Transport`] in tests.

use std::future::Future;

use std::sync::Arc;

use crate::wire::socket::{connect_websocket_with, shared_tls_config, ClientWebSocket, Transport};
use crate::wire::WireError;

/// Opens a fresh transport to `url` for each connection attempt.
pub trait Connector: Send + Sync + 'static {
    type Transport: Transport + 'static;
    fn connect(&self, url: &str)
        -> impl Future<Output = Result<Self::Transport, WireError>> + Send;
}

/// The production connector: a WebSocket (`wire::websocket`), over TLS
/// with this configuration for `wss://`.
#[derive(Clone, Debug)]
pub struct WebSocketConnector {
    tls: Arc<rustls::ClientConfig>,
}

impl WebSocketConnector {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> WebSocketConnector {
        WebSocketConnector { tls }
    }
}

impl Default for WebSocketConnector {
    /// Trusting the Mozilla roots.
    fn default() -> Self {
        WebSocketConnector::new(shared_tls_config())
    }
}

impl Connector for WebSocketConnector {
    type Transport = ClientWebSocket;
    async fn connect(&self, url: &str) -> Result<ClientWebSocket, WireError> {
        connect_websocket_with(url, self.tls.clone()).await
    }
}
