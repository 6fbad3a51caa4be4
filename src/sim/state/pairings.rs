//! Companions waiting to be linked: a pairing connection's refs (for a
//! QR scan) and a companion's request for a linking code.
//!
//! Owns: [`Pending`] and [`CodeRequest`]. Must not touch: how a link is
//! made (`sim::linking`), the connections themselves.

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::connections::Control;
use crate::sim::protocol::hello::Registration;
use crate::sim::protocol::pair_code::CompanionHelloRequest;

/// A pairing connection waiting for a phone to scan one of its refs.
pub(crate) struct Pending {
    pub control: mpsc::Sender<Control>,
    pub registration: Registration,
    /// Each ref with the instant it stops being scannable.
    pub refs: Vec<(String, Instant)>,
    /// A phone is linking this connection right now (one at a time).
    pub scanning: bool,
}

impl Pending {
    /// When `pairing_ref` stops being scannable, if it is one of ours.
    pub fn ref_expiry(&self, pairing_ref: &str) -> Option<Instant> {
        self.refs
            .iter()
            .find(|(r, _)| r == pairing_ref)
            .map(|(_, until)| *until)
    }
}

/// A companion's `companion_hello`, waiting for its phone to type the code.
pub(crate) struct CodeRequest {
    pub conn_id: u64,
    pub control: mpsc::Sender<Control>,
    pub request: CompanionHelloRequest,
    pub link_ref: Vec<u8>,
    /// The server honours the code until then.
    pub until: Instant,
    /// A phone is typing it right now (one attempt at a time).
    pub entering: bool,
}
