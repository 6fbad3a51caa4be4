//! Receiving a group message: `<message from=GROUP participant=SENDER
//! [participant_pn|participant_lid] [addressing_mode]>` with, when the
//! sender hands us its sender key, a pairwise `<enc type="pkmsg|msg">`
//! copy of it, and the `<enc type="skmsg">` every member decrypts (wacore
//! `messages.rs` `parse_message_info`, whatsmeow `message.go`
//! `decryptMessages`).
//!
//! Order of work, chosen for crashes as for 1:1 messages: skip ids
//! already received on that sender's key; decrypt the pairwise copy and
//! take the distribution it carries; decrypt the `skmsg`; then store the
//! sender key with the id, then the pairwise session. Only after that
//! does the caller report the message and send the receipt. A message
//! whose sender key we lack asks the sender for a retry.
//!
//! Owns: reading group message stanzas, decrypting them, their receipts.
//! Must not touch: 1:1 messages (the pairwise decryption is `decrypt`'s).

use super::decrypt::{self, Identities, Incoming, Received};
use super::keys::OwnKeys;
use super::receipts;
use super::sender_keys;
use super::state::Messaging;
use crate::client::core::{envelope, Action, Ctx, Then, Work};
use crate::client::events::Event;
use crate::client::ClientError;
use crate::proto::text;
use crate::signal;
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid, MessageId};
use crate::wire::Node;

/// Whether a `<message>` comes from a group (`from` is `…@g.us`).
pub fn is_group_message(node: &Node) -> bool {
    node.get_attr("from")
        .and_then(|f| Jid::parse(f).ok())
        .is_some_and(|j| j.is_group() && !j.user.is_empty())
}

/// The parts of an incoming group message that matter here.
#[derive(Clone, Debug)]
pub struct GroupIncoming {
    pub group: Jid,
    /// The sender as the pairwise layer sees it: its device (`participant`),
    /// its other identity (`participant_pn` / `participant_lid`), the
    /// pairwise copy of its sender key if any.
    pub pairwise: Incoming,
    pub skmsg: Option<Vec<u8>>,
}

impl GroupIncoming {
    /// Reads a group `<message>`; `Err` says why it is not one we can take.
    pub fn parse(node: &Node) -> Result<GroupIncoming, String> {
        let from = node.get_attr("from").unwrap_or_default();
        let group = Jid::parse(from)
            .ok()
            .filter(|j| j.is_group())
            .ok_or_else(|| format!("not a group: {from:?}"))?;
        let skmsg = node
            .child_nodes()
            .iter()
            .find(|n| n.tag == "enc" && n.get_attr("type") == Some("skmsg"))
            .map(|n| n.content_bytes().unwrap_or_default().to_vec());
        Ok(GroupIncoming {
            group,
            pairwise: Incoming::parse(&as_from_sender(node))?,
            skmsg,
        })
    }

    fn id(&self) -> &MessageId {
        &self.pairwise.id
    }

    fn sender(&self) -> &DeviceAddress {
        &self.pairwise.from
    }
}

/// The message as if the sender had sent it to us alone: `from` is the
/// `participant`, its other identity (`participant_pn` /
/// `participant_lid`, wacore `parse_message_info`) stands where a 1:1
/// message names it (`sender_pn` / `sender_lid`), and only the pairwise
/// copy of its sender key is kept.
fn as_from_sender(node: &Node) -> Node {
    let mut attrs = Vec::with_capacity(node.attrs.len());
    for (key, value) in &node.attrs {
        let key = match key.as_str() {
            "from" => continue,
            "participant" => "from",
            "participant_pn" => "sender_pn",
            "participant_lid" => "sender_lid",
            "id" | "t" | "notify" => key.as_str(),
            _ => continue,
        };
        attrs.push((key.to_string(), value.clone()));
    }
    let pairwise = node
        .child_nodes()
        .iter()
        .filter(|n| n.tag == "enc" && n.get_attr("type") != Some("skmsg"))
        .cloned()
        .collect();
    Node {
        tag: node.tag.clone(),
        attrs,
        content: crate::wire::Content::Nodes(pairwise),
    }
}

/// `<receipt id to=GROUP participant=SENDER [type="sender"]/>` (whatsmeow
/// `sendMessageReceipt`, whatsapp-rust `receipt.rs`).
pub fn delivered(message: &GroupIncoming, from_own_device: bool) -> Node {
    let node = addressed(message).attr("id", message.id().as_str());
    if from_own_device {
        node.attr("type", "sender")
    } else {
        node
    }
}

/// `<receipt to=GROUP participant=SENDER id type="retry">…`: we lack the
/// sender's key (or could not decrypt); the sender sends it again with
/// its key (whatsapp-rust `retry.rs`).
pub fn retry(message: &GroupIncoming, registration_id: u32) -> Node {
    receipts::retry_receipt(
        addressed(message),
        message.id(),
        message.pairwise.timestamp,
        registration_id,
    )
}

fn addressed(message: &GroupIncoming) -> Node {
    Node::new("receipt")
        .attr("to", message.group.to_string())
        .attr("participant", message.sender().to_string())
}

impl Messaging {
    /// An incoming group `<message>`: decrypt it off the async workers.
    pub(super) fn on_group_message(&mut self, ctx: &Ctx, node: &Node) -> Vec<Action> {
        let message = match GroupIncoming::parse(node) {
            Ok(m) => m,
            Err(why) => {
                tracing::debug!(%why, "group message not handled");
                return envelope::ack_actions(node);
            }
        };
        let Some(keys) = OwnKeys::of(ctx) else {
            return Vec::new();
        };
        let sender = message.sender();
        self.device_lists
            .saw_device(&sender.user_jid(), sender.device());
        vec![Action::Blocking(Work::new(move |store| {
            let result = receive(store, &keys, &message);
            Then::to::<Messaging>(move |m, ctx, _| m.on_group_received(ctx, message, result))
        }))]
    }

    /// Decrypted and stored: report it, wait until the host has it
    /// durably, then the receipt lets the server forget it.
    fn on_group_received(
        &mut self,
        ctx: &Ctx,
        message: GroupIncoming,
        result: Result<Received, ClientError>,
    ) -> Vec<Action> {
        let own = OwnKeys::of(ctx).is_some_and(|k| k.is_own(message.sender()));
        let receipt = Action::Send(delivered(&message, own));
        match result {
            Ok(Received::Text {
                message: text,
                identity_changed,
                again,
            }) => {
                if !self.first_report(message.id(), again) {
                    return vec![receipt];
                }
                let changed = identity_changed.then(|| {
                    Action::Emit(Event::IdentityChanged {
                        jid: message.sender().jid(),
                    })
                });
                let report = Action::EmitDurable(Event::Message(text));
                changed.into_iter().chain([report, receipt]).collect()
            }
            // History comes one to one from our phone, never in a group.
            Ok(Received::NotText) | Ok(Received::Duplicate) | Ok(Received::History { .. }) => {
                vec![receipt]
            }
            Ok(Received::Failed { reason }) => {
                tracing::info!(id = %message.id(), group = %message.group, from = %message.sender(), %reason, "undecryptable group message");
                vec![
                    Action::Send(retry(&message, ctx.creds.registration_id)),
                    Action::Emit(Event::Undecryptable {
                        id: message.id().clone(),
                        chat: message.group.clone(),
                        sender: message.sender().jid(),
                        reason,
                    }),
                ]
            }
            Err(e) => {
                // Left unacknowledged: the server delivers it again later.
                tracing::error!(id = %message.id(), error = %e, "cannot store a received group message");
                Vec::new()
            }
        }
    }
}

/// Decrypts and records one group message. `Err` only for storage
/// failures: the message is then left unacknowledged for redelivery.
pub fn receive(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    message: &GroupIncoming,
) -> Result<Received, ClientError> {
    let (group, sender) = (&message.group, message.sender());
    let identities = Identities::learn(store, keys, &message.pairwise)?;
    let session = decrypt::session_of(store, &message.pairwise, &identities)?;
    let state = sender_keys::load(store, group, sender)?;
    let again = state.seen.has(message.id().as_str());
    let (content, identity_changed) = if again {
        // The last text on this record, delivered again: a crash may have
        // cut its report short, so it is read from what was stored.
        let stored = state
            .last
            .as_ref()
            .and_then(|l| l.plaintext_of(message.id().as_str()));
        match stored.and_then(|plain| super::content::decode(&plain).ok()) {
            Some(content) => (content, false),
            None => return Ok(Received::Duplicate),
        }
    } else {
        match decrypt_and_store(store, keys, message, session, state)? {
            Step::Text(content, identity_changed) => (*content, identity_changed),
            Step::Done(received) => return Ok(received),
        }
    };
    let from_me = keys.is_own(sender);
    let message = decrypt::report(
        &message.pairwise,
        group.clone(),
        identities,
        content,
        from_me,
    );
    super::media_records::keep(store, &message)?;
    Ok(Received::Text {
        message: Box::new(message),
        identity_changed,
        again,
    })
}

/// What decrypting a new group message came to.
enum Step {
    /// A text, stored with the sender key; whether the sender's identity
    /// changed.
    Text(Box<super::content::Content>, bool),
    /// Nothing to report as a text.
    Done(Received),
}

/// Decrypts a group message not seen before and stores the advanced
/// sender key with its id (and the text, as the record's last), then the
/// pairwise session it came with.
fn decrypt_and_store(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    message: &GroupIncoming,
    session: DeviceAddress,
    mut state: sender_keys::SenderKeyState,
) -> Result<Step, ClientError> {
    let (group, sender) = (&message.group, message.sender());
    // The pairwise copy: the sender's key for this group (and, from a
    // sender that could not use its key, possibly the message itself).
    let mut pairwise = None;
    let mut direct = None;
    if let Some((kind, bytes)) = &message.pairwise.enc {
        let mut peer = decrypt::load_peer(store, &session)?;
        match decrypt::decrypt_pairwise(store, keys, &mut peer, kind, bytes) {
            Ok(decrypted) => {
                let unpadded = text::unpad(&decrypted.plaintext).unwrap_or_default();
                if let Some(distribution) = sender_keys::distribution_in(unpadded) {
                    if let Err(e) = signal::process_distribution(&mut state.record, &distribution) {
                        tracing::warn!(%group, %sender, error = %e, "unusable sender key distribution");
                    }
                }
                direct = super::content::decode(unpadded)
                    .ok()
                    .map(|content| (content, unpadded.to_vec()));
                pairwise = Some((peer, decrypted));
            }
            Err(e) if message.skmsg.is_none() => {
                return Ok(Step::Done(Received::Failed {
                    reason: e.to_string(),
                }))
            }
            Err(e) => tracing::info!(%group, %sender, error = %e, "pairwise copy not decrypted"),
        }
    }
    let content = match &message.skmsg {
        Some(bytes) => match signal::group_decrypt(&mut state.record, bytes) {
            Ok(padded) => text::unpad(&padded).ok().and_then(|plain| {
                let content = super::content::decode(plain).ok()?;
                Some((content, plain.to_vec()))
            }),
            Err(e) => {
                return Ok(Step::Done(Received::Failed {
                    reason: format!("sender key: {e}"),
                }))
            }
        },
        None => direct,
    };
    state.seen.remember(message.id().as_str());
    if let Some((_, plain)) = &content {
        state.last = Some(super::peers::LastReceived::new(
            message.id().as_str(),
            plain,
        ));
    }
    sender_keys::save(store, group, sender, &state)?;
    let identity_changed = pairwise.as_ref().is_some_and(|(_, d)| d.identity_changed);
    if let Some((peer, decrypted)) = pairwise {
        super::peers::save(store, &[(session, peer)])?;
        if let Some(id) = decrypted.consumed_prekey {
            store.remove_prekey(id)?;
        }
    }
    Ok(match content {
        Some((content, _)) => Step::Text(Box::new(content), identity_changed),
        None => Step::Done(Received::NotText),
    })
}
