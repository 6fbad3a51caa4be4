//! What the pairing feature keeps while a connection lives: the QR
//! codes being shown and a linking-code attempt.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::code::CompanionHello;
use crate::client::core::{Action, Ending};
use crate::client::events::Event;
use crate::client::ClientError;
use crate::types::PhoneNumber;
use crate::wire::Node;

/// Pairing state of one connection.
#[derive(Default)]
pub struct Pairing {
    pub(super) qr: Option<QrRotation>,
    /// A linking-code attempt; the QR rotation pauses while it lives.
    pub(super) code: Option<CodeFlow>,
}

/// The refs of one `<pair-device>`, shown one after the other.
pub struct QrRotation {
    refs: VecDeque<String>,
    deadline: Instant,
}

impl QrRotation {
    /// The `<ref>`s of a `<pair-device>`.
    pub fn new(pair_device: &Node, now: Instant) -> QrRotation {
        let refs = pair_device
            .child_nodes()
            .iter()
            .filter(|n| n.tag == "ref")
            .filter_map(|n| n.content_bytes())
            .filter_map(|b| std::str::from_utf8(b).ok())
            .map(str::to_string)
            .collect();
        QrRotation {
            refs,
            deadline: now,
        }
    }

    /// When the code shown now expires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The next ref, shown until `now + ttl`; `None` once used up.
    pub fn next(&mut self, now: Instant, ttl: Duration) -> Option<String> {
        let reference = self.refs.pop_front()?;
        self.deadline = now + ttl;
        Some(reference)
    }
}

/// Where `request_pair_code` gets its answer.
pub type CodeReply = oneshot::Sender<Result<String, ClientError>>;

/// One linking-code attempt on the current connection.
pub struct CodeFlow {
    pub(super) phone: PhoneNumber,
    pub(super) step: Step,
}

pub(super) enum Step {
    /// `companion_hello` (PBKDF2) is being computed.
    Hashing { reply: CodeReply },
    /// `companion_hello` is sent; waiting for the server's ref.
    Requesting {
        hello: Arc<CompanionHello>,
        reply: CodeReply,
    },
    /// The code is out; waiting for the phone.
    Shown(Shown),
}

pub(super) struct Shown {
    pub(super) hello: Arc<CompanionHello>,
    pub(super) pairing_ref: Vec<u8>,
    /// The code is written off at this instant: its validity while the
    /// phone has not answered, then the pair-success timeout after each
    /// `companion_finish`.
    pub(super) deadline: Instant,
    /// `primary_hello`s answered so far.
    pub(super) attempts: u32,
}

impl CodeFlow {
    /// When the flow must be looked at again (only a shown code has a
    /// timer; the iqs before it have their own).
    pub fn deadline(&self) -> Option<Instant> {
        match &self.step {
            Step::Shown(shown) => Some(shown.deadline),
            _ => None,
        }
    }

    /// Drops the flow, answering a caller still waiting for its code.
    pub fn fail(self, error: ClientError) {
        match self.step {
            Step::Hashing { reply } | Step::Requesting { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Step::Shown(_) => {}
        }
    }
}

/// Ends this pairing attempt: the session stops, and the host starts it
/// again for a new connection and code.
pub fn end_attempt(reason: &str) -> Vec<Action> {
    vec![
        Action::Emit(Event::Disconnected {
            reason: reason.to_string(),
        }),
        Action::End(Ending::Stop {
            failed: false,
            reason: reason.to_string(),
            done: None,
        }),
    ]
}
