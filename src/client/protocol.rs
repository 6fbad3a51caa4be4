//! The session's protocol without I/O: stanzas, commands and timer ticks
//! go in, [`Action`]s come out in the order they must happen. The run
//! loop (`client::run`) executes them; tests drive this directly with
//! plain nodes.
//!
//! This file only dispatches. Each input goes to the features in a fixed
//! order (the fields of `Session`): a stanza to the first feature that claims
//! it, an iq's answer to the continuation its sender left, a command or
//! the result of blocking work to the feature it is addressed to, a timer
//! tick to every feature. What the features do is theirs.

use std::any::{Any, TypeId};
use std::sync::Arc;

use tokio::time::Instant;

use super::config::ClientConfig;
use super::connection::Connection;
use super::core::{envelope, Action, Ctx, Ending, Feature, Features, Phase, Then};
use super::creds::Creds;
use super::groups::Groups;
use super::media::Media;
use super::messaging::Messaging;
use super::pairing::Pairing;
use super::prekeys::PreKeys;
use super::props::Props;
use super::raw::Raw;
use crate::wire::Node;

/// Every feature of a session, in the order they are asked. A new feature
/// is one more field here and in [`Session::all`] / [`Session::find`].
#[derive(Default)]
struct Session {
    connection: Connection,
    pairing: Pairing,
    prekeys: PreKeys,
    props: Props,
    groups: Groups,
    media: Media,
    messaging: Messaging,
    raw: Raw,
}

impl Session {
    fn all(&mut self) -> [&mut dyn Feature; 8] {
        [
            &mut self.connection,
            &mut self.pairing,
            &mut self.prekeys,
            &mut self.props,
            &mut self.groups,
            &mut self.media,
            &mut self.messaging,
            &mut self.raw,
        ]
    }
}

impl Features for Session {
    fn find(&mut self, feature: TypeId) -> Option<&mut dyn Any> {
        let all: [&mut dyn Any; 8] = [
            &mut self.connection,
            &mut self.pairing,
            &mut self.prekeys,
            &mut self.props,
            &mut self.groups,
            &mut self.media,
            &mut self.messaging,
            &mut self.raw,
        ];
        all.into_iter().find(|f| (**f).type_id() == feature)
    }
}

pub struct Protocol {
    ctx: Ctx,
    session: Session,
}

impl Protocol {
    pub fn new(creds: Creds, config: Arc<ClientConfig>) -> Self {
        Protocol {
            ctx: Ctx::new(creds, config),
            session: Session::default(),
        }
    }

    pub fn creds(&self) -> &Creds {
        &self.ctx.creds
    }

    /// Whether the last connection had reached a state the host saw as
    /// online (showing QR codes or logged in).
    pub fn was_online(&self) -> bool {
        matches!(self.ctx.phase, Phase::Pairing | Phase::Connected)
    }

    /// A handshake completed.
    pub fn on_connected(&mut self) {
        self.ctx.phase = Phase::Handshaken;
    }

    /// The connection is gone: every feature forgets per-connection state
    /// and whoever waited on an iq is told.
    pub fn on_disconnected(&mut self) {
        self.ctx.phase = Phase::Offline;
        for then in self.ctx.iqs.drain() {
            // The connection is over: only the answers to callers matter.
            drop(then.run(&mut self.session, &mut self.ctx, Instant::now()));
        }
        for feature in self.session.all() {
            feature.on_disconnected(&mut self.ctx);
        }
    }

    /// The socket failed or closed under us. An iq waiting on it may
    /// decide how the session ends (a logout in flight completes);
    /// otherwise it reconnects.
    pub fn on_connection_lost(&mut self, reason: String) -> Vec<Action> {
        let mut out = Vec::new();
        for then in self.ctx.iqs.drain() {
            out.extend(then.run(&mut self.session, &mut self.ctx, Instant::now()));
        }
        match take_ending(&mut out) {
            Some(ending) => vec![Action::End(ending)],
            None => vec![Action::End(Ending::Reconnect { reason, penalty: 0 })],
        }
    }

    /// When the run loop must call [`Protocol::on_timer`] next.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        let iqs = self.ctx.iqs.earliest_deadline();
        self.session
            .all()
            .iter()
            .filter_map(|f| f.next_deadline())
            .chain(iqs)
            .min()
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        // Every expired iq is answered before the connection may end.
        for then in self.ctx.iqs.expired(now) {
            out.extend(then.run(&mut self.session, &mut self.ctx, now));
        }
        if let Some(ending) = take_ending(&mut out) {
            out.push(Action::End(ending));
            return out;
        }
        for feature in self.session.all() {
            out.extend(feature.on_timer(&mut self.ctx, now));
            if out.iter().any(|a| matches!(a, Action::End(_))) {
                break;
            }
        }
        out
    }

    /// A command from the session's handle, or the result of blocking
    /// work: runs on the feature it is addressed to.
    pub fn on_command(&mut self, then: Then, now: Instant) -> Vec<Action> {
        then.run(&mut self.session, &mut self.ctx, now)
    }

    pub fn on_node(&mut self, node: &Node, now: Instant) -> Vec<Action> {
        let was = self.ctx.phase;
        let mut out = self.dispatch(node, now);
        if was != Phase::Connected && self.ctx.phase == Phase::Connected {
            for feature in self.session.all() {
                out.extend(feature.on_login(&mut self.ctx, now));
            }
        }
        out
    }

    fn dispatch(&mut self, node: &Node, now: Instant) -> Vec<Action> {
        let kind = node.get_attr("type");
        if node.tag == "iq" && matches!(kind, Some("result" | "error")) {
            let id = node.get_attr("id").unwrap_or_default();
            return match self.ctx.iqs.answer(id, node) {
                Some(then) => then.run(&mut self.session, &mut self.ctx, now),
                None => {
                    tracing::debug!("response to an unknown iq");
                    Vec::new()
                }
            };
        }
        for feature in self.session.all() {
            if let Some(actions) = feature.on_node(&mut self.ctx, node, now) {
                return actions;
            }
        }
        match node.tag.as_str() {
            // Acked so the server stops redelivering; not handled (yet).
            "notification" | "call" => envelope::ack_actions(node),
            other => {
                tracing::debug!(tag = other, "ignoring stanza");
                Vec::new()
            }
        }
    }
}

/// Removes every ending from `actions` and returns the one that wins (an
/// unlinked device stays unlinked whatever else happened).
fn take_ending(actions: &mut Vec<Action>) -> Option<Ending> {
    let mut winner: Option<Ending> = None;
    let mut kept = Vec::with_capacity(actions.len());
    for action in actions.drain(..) {
        match action {
            Action::End(ending) => {
                if winner.as_ref().is_none_or(|w| ending.outranks(w)) {
                    winner = Some(ending);
                }
            }
            other => kept.push(other),
        }
    }
    *actions = kept;
    winner
}
