//! A Noise-encrypted, framed connection carrying binary nodes, and the
//! two handshakes (client and server role) that establish one.

use std::future::Future;

use super::{Node, WireError};
use crate::crypto::KeyPair;

/// A message-oriented byte transport under the frame codec (a WebSocket).
pub trait Transport: Send {
    /// Sends one binary WebSocket message.
    fn send(&mut self, data: Vec<u8>) -> impl Future<Output = Result<(), WireError>> + Send;
    /// The next binary message; `Ok(None)` once the peer has closed.
    /// Must be cancel-safe: dropping the future loses no data.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Vec<u8>>, WireError>> + Send;
    /// Closes the transport politely (best effort).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// The client's WebSocket (ws:// or wss:// via rustls).
pub type ClientWebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to `url` with buffers sized for many idle sessions.
pub async fn connect_websocket(url: &str) -> Result<ClientWebSocket, WireError> {
    let _ = url;
    todo!()
}

/// An established, encrypted connection (either role).
pub struct NoiseSocket<T: Transport> {
    _transport: T,
}

impl<T: Transport> NoiseSocket<T> {
    /// Encodes, encrypts, frames and sends one node.
    pub async fn send_node(&mut self, node: &Node) -> Result<(), WireError> {
        let _ = node;
        todo!()
    }

    /// Receives the next node. Cancel-safe (use it inside `select!`).
    pub async fn recv_node(&mut self) -> Result<Node, WireError> {
        todo!()
    }

    /// Closes the connection (best effort).
    pub async fn close(self) {
        todo!()
    }
}

/// What the client brings to a handshake.
pub struct ClientHandshake<'a> {
    /// The device's long-term Noise static key.
    pub noise_key: &'a KeyPair,
    /// The certificate root the server's chain must lead to.
    pub root_key: &'a [u8; 32],
    /// An encoded `ClientPayload` (registration or login).
    pub payload: Vec<u8>,
    /// Optional edge-routing info sent before the header.
    pub routing_info: Option<&'a [u8]>,
}

/// Client role: runs Noise XX over `transport` and verifies the server.
pub async fn client_handshake<T: Transport>(
    transport: T,
    hs: ClientHandshake<'_>,
) -> Result<NoiseSocket<T>, WireError> {
    let _ = (transport, hs);
    todo!()
}

/// The server's long-term identity.
pub struct ServerIdentity {
    pub static_key: KeyPair,
    /// Encoded `CertChain` whose leaf key is `static_key.public`.
    pub cert_chain: Vec<u8>,
}

/// A client that completed the server-side handshake.
pub struct AcceptedClient<T: Transport> {
    pub socket: NoiseSocket<T>,
    /// The client's Noise static public key (identifies a device).
    pub client_static: [u8; 32],
    /// The client's encoded `ClientPayload`.
    pub payload: Vec<u8>,
}

/// Server role: expects the client intro, runs Noise XX, returns the
/// client's static key and payload for the caller to judge.
pub async fn server_handshake<T: Transport>(
    transport: T,
    identity: &ServerIdentity,
) -> Result<AcceptedClient<T>, WireError> {
    let _ = (transport, identity);
    todo!()
}
