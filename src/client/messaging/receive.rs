//! Receiving a message: decrypt it off the async workers, report it, and
//! only then confirm it to the server. The last message from each device
//! is stored with its plaintext, so one whose report a crash cut short
//! is reported when the server delivers it again (at least once).
//!
//! Disk and crypto run as [`Action::Blocking`] work, so the run loop
//! handles one incoming message completely before the next: offline
//! messages are reported in the order the server delivered them.

use super::decrypt::{self, Incoming, Received};
use super::history_sync;
use super::keys::OwnKeys;
use super::receipts;
use super::state::Messaging;
use crate::client::core::{envelope, Action, Ctx, Then, Work};
use crate::client::events::Event;
use crate::client::ClientError;
use crate::types::MessageId;
use crate::wire::Node;

/// How many reported text ids a session keeps in memory.
const REPORTED_KEPT: usize = 4;

impl Messaging {
    /// Whether to report text `id` (`again`: delivered again after it was
    /// stored): not when this process reported it already (its receipt
    /// was lost with the connection); yes otherwise, since a crash may
    /// have cut its report short. Notes it as reported.
    pub(super) fn first_report(&mut self, id: &MessageId, again: bool) -> bool {
        if again && self.reported.contains(id) {
            return false;
        }
        if again {
            tracing::info!(%id, "message delivered again after a restart; reported again");
        }
        self.reported.push_back(id.clone());
        while self.reported.len() > REPORTED_KEPT {
            self.reported.pop_front();
        }
        true
    }

    /// An incoming `<message>`: decrypt it off the async workers.
    pub(super) fn on_message(&mut self, ctx: &Ctx, node: &Node) -> Vec<Action> {
        if super::group_receive::is_group_message(node) {
            return self.on_group_message(ctx, node);
        }
        let incoming = match Incoming::parse(node) {
            Ok(i) => i,
            Err(why) => {
                // Not a 1:1 message we can take (groups, newsletters, ..):
                // acknowledge it so the server stops redelivering.
                tracing::debug!(%why, "message not handled");
                return envelope::ack_actions(node);
            }
        };
        let Some(keys) = OwnKeys::of(ctx) else {
            return Vec::new();
        };
        self.device_lists
            .saw_device(&incoming.from.user_jid(), incoming.from.device());
        vec![Action::Blocking(Work::new(move |store| {
            let result = decrypt::receive(store, &keys, &incoming);
            Then::to::<Messaging>(move |m, ctx, _| m.on_received(ctx, incoming, result))
        }))]
    }

    /// The message is decrypted and its session stored: report it, wait
    /// until the host has it durably, then the receipt lets the server
    /// forget it.
    fn on_received(
        &mut self,
        ctx: &Ctx,
        incoming: Incoming,
        result: Result<Received, ClientError>,
    ) -> Vec<Action> {
        let own = ctx
            .own_device()
            .is_some_and(|d| d.same_user(&incoming.from));
        match result {
            Ok(Received::Text {
                message,
                identity_changed,
                again,
            }) => {
                if !self.first_report(&incoming.id, again) {
                    return vec![Action::Send(receipts::delivered(&incoming, own))];
                }
                let mut out = Vec::new();
                if identity_changed {
                    out.push(Action::Emit(Event::IdentityChanged {
                        jid: incoming.from.jid(),
                    }));
                }
                out.push(Action::EmitDurable(Event::Message(message)));
                out.push(Action::Send(receipts::delivered(&incoming, own)));
                out
            }
            Ok(Received::NotText) | Ok(Received::Duplicate) => {
                vec![Action::Send(receipts::delivered(&incoming, own))]
            }
            Ok(Received::History { blob }) => {
                let delivered = Action::Send(receipts::delivered(&incoming, own));
                match (blob, ctx.own_device()) {
                    (Some(media), _) => vec![
                        delivered,
                        Action::Detach(history_sync::fetch(incoming.id.clone(), *media)),
                    ],
                    (None, Some(me)) => vec![
                        delivered,
                        Action::Send(history_sync::receipt(&incoming.id, me.user())),
                    ],
                    (None, None) => vec![delivered],
                }
            }
            Ok(Received::Failed { reason }) => {
                tracing::info!(id = %incoming.id, from = %incoming.from, %reason, "undecryptable message");
                vec![
                    Action::Send(receipts::retry(&incoming, ctx.creds.registration_id)),
                    Action::Emit(Event::Undecryptable {
                        id: incoming.id.clone(),
                        chat: incoming.from.user_jid(),
                        sender: incoming.from.jid(),
                        reason,
                    }),
                ]
            }
            Err(e) => {
                // Left unacknowledged: the server delivers it again later.
                tracing::error!(id = %incoming.id, error = %e, "cannot store a received message");
                Vec::new()
            }
        }
    }
}
