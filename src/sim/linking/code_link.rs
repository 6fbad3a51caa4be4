//! The linking-code flow on one pairing connection: the companion's
//! `link_code_companion_reg` iqs and the phone's `primary_hello`, between
//! the pure crypto of `protocol::pair_code` and the shared [`SimState`].
//!
//! Owns: what one connection remembers between the phone typing a code
//! and the companion's `companion_finish`. Must not touch the socket: it
//! returns the stanzas to send, and a successful finish becomes the same
//! [`PendingLink`] a QR scan produces, so `pair-success`, the companion's
//! signature and the 515 follow the one path in `conn.rs`.

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::code::{register_code_request, start_code_link};
use crate::sim::error::SimError;
use crate::sim::protocol::pair_code::{self, SimPairCodeError};
use crate::sim::protocol::stanzas::iq_error_by_id;
use crate::sim::state::{CodeHello, Control, LinkReply, PendingLink, SimState};
use crate::wire::Node;

struct Entered {
    pending: pair_code::PrimaryPending,
    reply: LinkReply,
    deadline: Instant,
}

/// One connection's linking-code state.
#[derive(Default)]
pub(crate) struct CodeLink {
    /// The companion's code is valid until then.
    until: Option<Instant>,
    /// A `primary_hello` sent, waiting for `companion_finish`.
    entered: Option<Entered>,
}

/// The pairing connection a linking-code iq came on.
pub(crate) struct Pairing<'a> {
    pub state: &'a SimState,
    pub conn_id: u64,
    /// Where the phone's `primary_hello` order reaches the connection.
    pub control: &'a mpsc::Sender<Control>,
}

/// What the connection does after a linking-code iq.
#[derive(Default)]
pub(crate) struct Step {
    /// Stanzas to send, in order.
    pub send: Vec<Node>,
    /// A link to start (send its `pair-success` after `send`).
    pub link: Option<Box<PendingLink>>,
}

impl Step {
    fn send(node: Node) -> Self {
        Step {
            send: vec![node],
            link: None,
        }
    }
}

impl CodeLink {
    /// The pairing connection must stay open until then (a code is still
    /// valid or a phone's entry is in flight).
    pub fn alive_until(&self) -> Option<Instant> {
        let entered = self.entered.as_ref().map(|e| e.deadline);
        self.until.max(entered)
    }

    /// When an entered code stops waiting for `companion_finish`.
    pub fn entered_deadline(&self) -> Option<Instant> {
        self.entered.as_ref().map(|e| e.deadline)
    }

    /// The companion never answered the `primary_hello`.
    pub fn on_timeout(&mut self) {
        if let Some(entered) = self.entered.take() {
            let _ = entered.reply.send(Err(SimError::Timeout));
        }
    }

    /// A phone typed a code: returns the notification to send, or `None`
    /// when another entry is still in flight (that one is answered here).
    pub fn on_entered(&mut self, hello: Box<CodeHello>, deadline: Instant) -> Option<Node> {
        if self.entered.is_some() {
            let _ = hello.reply.send(Err(SimError::PairingInProgress));
            return None;
        }
        let CodeHello {
            pending,
            notification,
            reply,
        } = *hello;
        self.entered = Some(Entered {
            pending,
            reply,
            deadline,
        });
        Some(notification)
    }

    /// A companion's `<iq><link_code_companion_reg stage=..>`.
    pub fn on_iq(&mut self, conn: &Pairing<'_>, iq: &Node) -> Step {
        let id = iq.get_attr("id").unwrap_or_default();
        match pair_code::companion_reg_stage(iq) {
            Some("companion_hello") => self.on_hello(conn, iq),
            Some("companion_finish") => self.on_finish(conn, iq),
            other => {
                warn!(conn = conn.conn_id, stage = ?other, "unknown link_code_companion_reg stage");
                Step::send(iq_error_by_id(id, 400, "bad-request"))
            }
        }
    }

    fn on_hello(&mut self, conn: &Pairing<'_>, iq: &Node) -> Step {
        let conn_id = conn.conn_id;
        let request = match pair_code::parse_companion_hello(iq) {
            Ok(request) => request,
            Err(e) => {
                warn!(conn = conn_id, "companion_hello refused: {e}");
                let id = iq.get_attr("id").unwrap_or_default();
                return Step::send(iq_error_by_id(id, 400, "bad-request"));
            }
        };
        let iq_id = request.iq_id.clone();
        match register_code_request(conn.state, conn_id, conn.control.clone(), request) {
            Ok((link_ref, until)) => {
                self.until = Some(until);
                // A new code supersedes a phone's entry of the old one.
                if let Some(old) = self.entered.take() {
                    let _ = old.reply.send(Err(SimError::PairingRejected(
                        "the companion asked for a new code".into(),
                    )));
                }
                Step::send(pair_code::companion_hello_result(&iq_id, &link_ref))
            }
            Err(e) => {
                warn!(conn = conn_id, "companion_hello refused: {e}");
                Step::send(iq_error_by_id(&iq_id, 404, "item-not-found"))
            }
        }
    }

    fn on_finish(&mut self, conn: &Pairing<'_>, iq: &Node) -> Step {
        let conn_id = conn.conn_id;
        let id = iq.get_attr("id").unwrap_or_default();
        let Some(entered) = self.entered.take() else {
            warn!(conn = conn_id, "companion_finish without a primary_hello");
            return Step::send(iq_error_by_id(id, 400, "bad-request"));
        };
        let outcome = pair_code::primary_finish(&entered.pending, iq);
        if let Err(e @ (SimPairCodeError::BadRequest(_) | SimPairCodeError::WrongFlow(_))) =
            &outcome
        {
            // Not an answer to this phone's hello: it keeps waiting.
            warn!(conn = conn_id, "companion_finish refused: {e}");
            self.entered = Some(entered);
            return Step::send(iq_error_by_id(id, 400, "bad-request"));
        }
        // The server takes the bundle before the phone opens it.
        let mut step = Step::send(pair_code::companion_finish_result(id));
        match outcome {
            Ok(linked) => match start_code_link(conn.state, conn_id, &linked, entered.reply) {
                Ok(link) => {
                    info!(conn = conn_id, phone = %linked.phone, "linking code accepted");
                    step.link = Some(link);
                }
                Err((e, reply)) => {
                    let _ = reply.send(Err(e));
                }
            },
            // A mistyped code: the real phone says nothing to the
            // companion; the code may be typed again.
            Err(SimPairCodeError::BundleRejected) => {
                let _ = entered.reply.send(Err(SimError::WrongCode));
            }
            Err(e) => {
                let _ = entered
                    .reply
                    .send(Err(SimError::PairingRejected(e.to_string())));
            }
        }
        step
    }
}
