//! The wire layer: everything between a WebSocket and a decoded stanza.
//!
//! Owns: the WebSocket transport (`websocket`: the client side, ours;
//! the server side is tokio-tungstenite's), the frame codec (connection header,
//! 3-byte length prefixes), the Noise_XX handshake and transport ciphers,
//! the server certificate chain, and the binary node ("binary XML") codec.
//! Both roles live here, client and server, so the simulator speaks the
//! very same codec.
//!
//! Must not touch: sessions, pairing, Signal state, files. It moves and
//! checks bytes; what the stanzas mean is the client's business.

pub mod binary;
pub mod cert;
pub mod frame;
pub mod noise;
pub mod socket;
pub mod websocket;

pub use binary::{Content, Node};
pub use socket::NoiseSocket;

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
