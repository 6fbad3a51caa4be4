//! How a session opens its transport: a WebSocket in production, anything
//! implementing [`Transport`] in tests.

use std::future::Future;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

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
    type Transport = WsTransport;
    async fn connect(&self, url: &str) -> Result<WsTransport, WireError> {
        Ok(WsTransport(connect_websocket(url).await?))
    }
}

/// Binary WebSocket messages as a [`Transport`].
//
// INTEGRATION: a thin adapter so the client builds before the wire layer
// lands. The wire branch implements `Transport` for `WebSocketStream<S>`;
// once merged, set `type Transport = ClientWebSocket` above and delete
// this type (the two do not conflict, so nothing breaks meanwhile).
pub struct WsTransport(pub ClientWebSocket);

impl Transport for WsTransport {
    async fn send(&mut self, data: Vec<u8>) -> Result<(), WireError> {
        self.0
            .send(Message::Binary(data.into()))
            .await
            .map_err(|e| WireError::WebSocket(e.to_string()))
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        // `next()` is cancel-safe and nothing is held across iterations.
        loop {
            match self.0.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Binary(data))) => return Ok(Some(data.into())),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(WireError::WebSocket(e.to_string())),
            }
        }
    }

    async fn close(&mut self) {
        let _ = self.0.close(None).await;
    }
}
