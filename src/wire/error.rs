//! The wire layer's error: what can go wrong below the stanza level.

use super::{binary, cert, frame, noise};

/// Everything that can go wrong below the stanza level. Each is fatal for
/// the one connection it happened on and nothing else.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("frame error: {0}")]
    Frame(#[from] frame::FrameError),
    #[error("noise error: {0}")]
    Noise(#[from] noise::NoiseError),
    #[error("certificate chain rejected: {0}")]
    Cert(#[from] cert::CertError),
    #[error("binary node error: {0}")]
    Binary(#[from] binary::BinaryError),
    #[error("malformed handshake message: {0}")]
    Handshake(String),
    #[error("websocket error: {0}")]
    WebSocket(String),
    #[error("connection closed")]
    Closed,
    #[error("timed out waiting for the peer")]
    Timeout,
}
