//! [`Transport`] over an accepted axum WebSocket: binary messages only.
//!
//! Owns: moving one connection's binary messages. Must not touch: frames,
//! Noise or stanzas (`wire` above it), the connection task.

use axum::extract::ws::{Message, WebSocket};

use crate::wire::socket::Transport;
use crate::wire::WireError;

/// The server end of a client's `/ws/chat` WebSocket.
pub struct ServerWebSocket {
    ws: WebSocket,
}

impl ServerWebSocket {
    pub fn new(ws: WebSocket) -> Self {
        ServerWebSocket { ws }
    }
}

impl Transport for ServerWebSocket {
    async fn send(&mut self, data: Vec<u8>) -> Result<(), WireError> {
        self.ws
            .send(Message::Binary(data.into()))
            .await
            .map_err(|e| WireError::WebSocket(e.to_string()))
    }

    async fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        // `WebSocket::recv` polls a stream: dropping it mid-way loses
        // nothing, so this loop is cancel-safe.
        loop {
            match self.ws.recv().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Binary(data))) => return Ok(Some(data.into())),
                // Control frames are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Text(_))) => {
                    return Err(WireError::WebSocket(
                        "text message on the binary chat protocol".into(),
                    ))
                }
                Some(Err(e)) => return Err(WireError::WebSocket(e.to_string())),
            }
        }
    }

    async fn close(&mut self) {
        let _ = self.ws.send(Message::Close(None)).await;
    }
}
