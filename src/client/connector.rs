//! How a session opens its transport: a WebSocket in production, anything
//! implementing [`Transport`] in tests.

use std::future::Future;

use crate::wire::socket::{connect_websocket, ClientWebSocket, Transport};
use crate::wire::WireError;

/// Opens a fresh transport to `url` for each connection attempt.
pub trait Connector: Send + Sync + 'static {
    type Transport: Transport + 'static;
    fn connect(&self, url: &str)
        -> impl Future<Output = Result<Self::Transport, WireError>> + Send;
}

/// The production connector: `wire::socket::connect_websocket`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebSocketConnector;

impl Connector for WebSocketConnector {
    type Transport = ClientWebSocket;
    async fn connect(&self, url: &str) -> Result<ClientWebSocket, WireError> {
        connect_websocket(url).await
    }
}
