//! What the connection feature keeps while a connection lives.

use tokio::time::Instant;

/// Connection state that lives as long as one connection.
#[derive(Default)]
pub struct Connection {
    /// When the next keepalive ping goes out (only while logged in).
    pub(super) next_ping: Option<Instant>,
}
