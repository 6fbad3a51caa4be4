//! Receiving a message: decrypt it off the async workers, report it, and
//! only then confirm it to the server. The last message from each device
//! is stored with its plaintext, so one whose report a crash cut short
//! is reported when the server delivers it again (at least once).
//!
//! Disk and crypto run as [`Action::Blocking`] work (light for a `msg`,
//! heavy for a `pkmsg`), so the run loop handles one incoming message
//! completely before the next: offline messages are reported in the
//! order the server delivered them.

use super::decrypt::{self, Incoming, Received};
use super::history_sync;
use super::keys::OwnKeys;
use super::receipts;
use super::state::Messaging;
use crate::client::core::{envelope, Action, Ctx, Then, Weight, Work};
use crate::client::events::Event;
use crate::client::ClientError;
use crate::signal::PreKeySignalMessage;
use crate::types::MessageId;
use crate::wire::Node;

/// How many reported text ids a session keeps in memory.
const REPORTED_KEPT: usize = 4;

/// How many started sessions a session remembers (`Messaging::started`).
const STARTED_KEPT: usize = 16;

/// What `Messaging::started` keeps of a `pkmsg`'s session: the first 8
/// bytes of its base key (random per session; a collision only makes an
/// X3DH run as light work). None for anything but a `pkmsg` that parses.
fn started_tag(incoming: &Incoming) -> Option<u64> {
    let (kind, bytes) = incoming.enc.as_ref()?;
    if kind != "pkmsg" {
        return None;
    }
    let key = PreKeySignalMessage::base_key_of(bytes)?;
    let mut first = [0u8; 8];
    first.copy_from_slice(&key[..8]);
    Some(u64::from_le_bytes(first))
}

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

    /// A `msg` is a ratchet step with a session we have (light), and so
    /// is a `pkmsg` of a session this process saw started (the sender
    /// repeats the prekey header until we answer). Any other `pkmsg` may
    /// start one: X3DH, and our used prekey removed (heavy).
    /// `tag` is the message's [`started_tag`].
    fn decrypt_weight(&self, incoming: &Incoming, tag: Option<u64>) -> Weight {
        let msg = matches!(&incoming.enc, Some((kind, _)) if kind == "msg");
        if msg || tag.is_some_and(|tag| self.started.contains(&tag)) {
            Weight::Light
        } else {
            Weight::Heavy
        }
    }

    /// Notes the session a decrypted `pkmsg` belongs to (its
    /// [`started_tag`]).
    fn note_started(&mut self, tag: Option<u64>) {
        let Some(tag) = tag else {
            return;
        };
        if !self.started.contains(&tag) {
            if self.started.len() >= STARTED_KEPT {
                self.started.remove(0);
            }
            self.started.push(tag);
        }
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
        let tag = started_tag(&incoming);
        let weight = self.decrypt_weight(&incoming, tag);
        vec![Action::Blocking(Work::weighing(weight, move |store| {
            let result = decrypt::receive(store, &keys, &incoming);
            Then::to::<Messaging>(move |m, ctx, _| m.on_received(ctx, incoming, tag, result))
        }))]
    }

    /// The message is decrypted and its session stored: report it, wait
    /// until the host has it durably, then the receipt lets the server
    /// forget it. `tag` is its [`started_tag`].
    fn on_received(
        &mut self,
        ctx: &Ctx,
        incoming: Incoming,
        tag: Option<u64>,
        result: Result<Received, ClientError>,
    ) -> Vec<Action> {
        let own = ctx
            .own_device()
            .is_some_and(|d| d.same_user(&incoming.from));
        if matches!(&result, Ok(r) if !matches!(r, Received::Failed { .. })) {
            self.note_started(tag);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SignalMessage;
    use crate::types::DeviceAddress;

    fn incoming(kind: &str, bytes: Vec<u8>) -> Incoming {
        Incoming {
            id: MessageId::from("M1"),
            from: DeviceAddress::parse("5511999990000:3@s.whatsapp.net").unwrap(),
            recipient: None,
            sender_alt: None,
            timestamp: 0,
            push_name: None,
            enc: Some((kind.to_string(), bytes)),
        }
    }

    fn pkmsg(base_key: [u8; 32]) -> Vec<u8> {
        let inner = SignalMessage::new(&[1; 32], [2; 32], 0, 0, b"x".to_vec(), &[3; 32], &[4; 32]);
        PreKeySignalMessage::new(1, Some(2), 3, base_key, [5; 32], inner)
            .serialized()
            .to_vec()
    }

    #[test]
    fn only_a_pkmsg_that_may_start_a_session_is_heavy() {
        let mut m = Messaging::default();
        let weight = |m: &Messaging, i: &Incoming| m.decrypt_weight(i, started_tag(i));
        assert_eq!(weight(&m, &incoming("msg", vec![1, 2])), Weight::Light);
        let first = incoming("pkmsg", pkmsg([7; 32]));
        assert_eq!(weight(&m, &first), Weight::Heavy);
        m.note_started(started_tag(&first));
        // The sender repeats the header until we answer: a ratchet step.
        assert_eq!(weight(&m, &first), Weight::Light);
        // Another session (another base key), or bytes that do not parse.
        assert_eq!(
            weight(&m, &incoming("pkmsg", pkmsg([8; 32]))),
            Weight::Heavy
        );
        assert_eq!(weight(&m, &incoming("pkmsg", vec![0x33])), Weight::Heavy);
        // The memory is bounded: the oldest session goes first.
        for key in 0..STARTED_KEPT as u8 {
            m.note_started(started_tag(&incoming("pkmsg", pkmsg([100 + key; 32]))));
        }
        assert_eq!(m.started.len(), STARTED_KEPT);
        assert_eq!(weight(&m, &first), Weight::Heavy);
    }
}
