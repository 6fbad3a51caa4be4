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
mod error;
pub mod frame;
pub mod noise;
pub mod socket;
pub mod websocket;

pub use binary::{Content, Node};
pub use error::WireError;
pub use socket::NoiseSocket;
