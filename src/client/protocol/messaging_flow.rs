//! The messaging part of the state machine: sending a text (device list,
//! missing bundles, encrypt, stanza, server ack), receiving one (decrypt
//! on the blocking pool, report, receipt), receipts both ways.
//!
//! Disk and crypto run as [`Action::Blocking`] work, so the run loop
//! handles one incoming message completely before the next: offline
//! messages are reported in the order the server delivered them.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{iq_error, Action, Phase, Protocol, Work, WorkDone};
use crate::client::events::Event;
use crate::client::iq::IqKind;
use crate::client::messaging::{
    receipts, receive, send, user_of_recipient, DeviceAddress, DeviceLists, Encrypted, Incoming,
    Outgoing, OwnKeys, Plan, Prepared, Received,
};
use crate::client::{ClientError, SentMessage};
use crate::proto::text::Quote;
use crate::signal::PreKeyBundle;
use crate::store::SessionDir;
use crate::wire::Node;

/// Where a send waits for its caller.
pub type SendReply = oneshot::Sender<Result<SentMessage, ClientError>>;

/// How many texts a session keeps after sending them, to answer retry
/// receipts (WhatsApp clients keep recent messages for the same reason).
/// Only sessions that send hold any; idle ones hold none.
const RECENT_SENT: usize = 32;
/// Most resends of one message to one device.
const MAX_RETRIES: u8 = 2;

/// A text being sent, from the command to the server's ack.
pub(super) struct PendingSend {
    message: Outgoing,
    reply: SendReply,
    devices: Vec<DeviceAddress>,
    /// A resend to one device that asked for a retry (its old session is
    /// dropped first; the recipient need not be among the devices).
    resend: bool,
    /// Set once the stanza is out: the ack must come by then.
    ack_deadline: Option<Instant>,
}

/// Sends in flight, by message id, the texts sent lately and the device
/// lists of recent chats.
#[derive(Default)]
pub(super) struct Sends {
    pending: HashMap<String, PendingSend>,
    /// Device lists of recent chats and of our own account.
    pub(super) device_lists: DeviceLists,
    /// Recently accepted texts and how often each device asked for them
    /// again, newest last.
    recent: std::collections::VecDeque<(Outgoing, Vec<(DeviceAddress, u8)>)>,
}

impl Sends {
    pub fn earliest_deadline(&self) -> Option<Instant> {
        self.pending.values().filter_map(|p| p.ack_deadline).min()
    }

    /// Fails every send (the connection is gone).
    pub fn fail_all(&mut self, error: impl Fn() -> ClientError) {
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(error()));
        }
    }

    /// The connection is gone: fail what was in flight, and forget the
    /// device lists (a change announced meanwhile would go unseen).
    pub fn on_disconnected(&mut self) {
        self.fail_all(|| ClientError::NotConnected);
        self.device_lists.clear();
    }

    fn expired(&mut self, now: Instant) -> Vec<PendingSend> {
        let ids: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.ack_deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter()
            .filter_map(|id| self.pending.remove(id))
            .collect()
    }
}

/// Every device a text to `chat` is encrypted for: each of the
/// recipient's, and each of our own account's but this one.
fn devices_to_encrypt_for(
    chat: &str,
    theirs: &[u16],
    own: &DeviceAddress,
    ours: &[u16],
) -> Vec<DeviceAddress> {
    let mut devices: Vec<DeviceAddress> = Vec::new();
    if let Some(base) = DeviceAddress::parse(chat) {
        devices.extend(theirs.iter().map(|&device| DeviceAddress {
            device,
            ..base.clone()
        }));
    }
    devices.extend(
        ours.iter()
            .filter(|&&d| d != own.device)
            .map(|&device| DeviceAddress {
                device,
                ..own.clone()
            }),
    );
    devices.retain(|d| d != own);
    devices.dedup();
    devices
}

/// A WhatsApp-Web-style message id: `3EB0` and 16 hex digits.
fn new_message_id() -> String {
    format!("3EB0{:016X}", rand::random::<u64>())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Protocol {
    /// Our keys and users, once linked.
    fn own_keys(&self) -> Option<Arc<OwnKeys>> {
        let paired = self.creds.paired.as_ref()?;
        let user = DeviceAddress::parse(&paired.jid)?.user;
        let lid_user = paired
            .lid
            .as_deref()
            .and_then(DeviceAddress::parse)
            .map(|a| a.user);
        Some(Arc::new(OwnKeys {
            identity: self.creds.identity_key.clone(),
            registration_id: self.creds.registration_id,
            signed_prekey: self.creds.signed_prekey.clone(),
            previous_signed_prekey: self.creds.previous_signed_prekey.clone(),
            user,
            lid_user,
        }))
    }

    fn own_device(&self) -> Option<DeviceAddress> {
        DeviceAddress::parse(self.creds.jid()?)
    }

    pub(super) fn messaging_deadline(&self) -> Option<Instant> {
        self.sends.earliest_deadline()
    }

    pub(super) fn on_send_timer(&mut self, now: Instant) {
        for p in self.sends.expired(now) {
            let _ = p.reply.send(Err(ClientError::Timeout));
        }
    }

    /// `Client::send_text`: asks for the device lists of the recipient
    /// and of our own account.
    pub(super) fn start_send(
        &mut self,
        to: &str,
        text: String,
        quoted: Option<Quote>,
        reply: SendReply,
        now: Instant,
    ) -> Vec<Action> {
        if self.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let Some(chat) = user_of_recipient(to) else {
            let _ = reply.send(Err(ClientError::InvalidRecipient(format!(
                "{to:?} is neither a phone number with country code nor a user JID"
            ))));
            return Vec::new();
        };
        let Some(own) = self.own_device() else {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        };
        let message_id = new_message_id();
        let own_user = own.user_jid();
        // Recent chat: the device lists are known, encrypt at once.
        let known = self.sends.device_lists.get(&chat, now).and_then(|theirs| {
            let ours = self.sends.device_lists.get(&own_user, now)?;
            Some(devices_to_encrypt_for(&chat, theirs, &own, ours))
        });
        let pending = PendingSend {
            message: Outgoing {
                id: message_id.clone(),
                chat: chat.clone(),
                text,
                quoted,
            },
            reply,
            devices: known.unwrap_or_default(),
            resend: false,
            ack_deadline: None,
        };
        let lists_known = !pending.devices.is_empty();
        self.sends.pending.insert(message_id.clone(), pending);
        if lists_known {
            return self.first_pass(message_id, false);
        }
        let mut users = vec![chat.clone()];
        if own_user != chat {
            users.push(own_user);
        }
        let iq_id = self.iqs.next_id();
        let node = send::device_query(&iq_id, &iq_id, &users);
        self.iqs.track(
            iq_id,
            IqKind::SendDevices { message_id },
            now + self.config.iq_timeout,
        );
        vec![Action::Send(node)]
    }

    /// A device could not decrypt a text we sent and asks for it again:
    /// drop our session with it, fetch a fresh bundle, encrypt and send
    /// the text to that device alone, under the same id.
    fn on_retry_receipt(&mut self, id: &str, from: &str) -> Vec<Action> {
        let Some(device) = DeviceAddress::parse(from) else {
            return Vec::new();
        };
        if self.sends.pending.contains_key(id) {
            return Vec::new();
        }
        let Some((message, retries)) = self.sends.recent.iter_mut().find(|(m, _)| m.id == id)
        else {
            tracing::info!(%id, %device, "retry asked for a message we no longer keep");
            return Vec::new();
        };
        let count = match retries.iter_mut().find(|(d, _)| *d == device) {
            Some((_, n)) => n,
            None => {
                retries.push((device.clone(), 0));
                &mut retries.last_mut().expect("just pushed").1
            }
        };
        if *count >= MAX_RETRIES {
            tracing::warn!(%id, %device, "device keeps failing to decrypt; giving up");
            return Vec::new();
        }
        *count += 1;
        let message = message.clone();
        // Nobody waits for a resend; its outcome is only logged.
        let (reply, _) = oneshot::channel();
        self.sends.pending.insert(
            message.id.clone(),
            PendingSend {
                message,
                reply,
                devices: vec![device],
                resend: true,
                ack_deadline: None,
            },
        );
        self.first_pass(id.to_string(), true)
    }

    /// The blocking step after the device lists: encrypt with the sessions
    /// we have, or learn which bundles to fetch (after dropping the
    /// sessions first, for a resend).
    fn first_pass(&mut self, message_id: String, forget: bool) -> Vec<Action> {
        self.send_work(
            message_id,
            move |dir, keys, message, devices, message_id| {
                let forgotten = if forget {
                    send::forget_sessions(dir, devices)
                } else {
                    Ok(())
                };
                match forgotten.and_then(|()| send::prepare(dir, keys, message, devices)) {
                    Ok(Prepared::Encrypted(e)) => WorkDone::SendEncrypted {
                        message_id,
                        result: Ok(e),
                    },
                    Ok(Prepared::NeedBundles(plan)) => WorkDone::SendPlanned {
                        message_id,
                        result: Ok(plan),
                    },
                    Err(e) => WorkDone::SendEncrypted {
                        message_id,
                        result: Err(e),
                    },
                }
            },
        )
    }

    /// Blocking work on a pending send, with our keys, its message and
    /// its devices.
    fn send_work(
        &mut self,
        message_id: String,
        work: impl FnOnce(&SessionDir, &OwnKeys, &Outgoing, &[DeviceAddress], String) -> WorkDone
            + Send
            + 'static,
    ) -> Vec<Action> {
        let (Some(pending), Some(keys)) = (self.sends.pending.get(&message_id), self.own_keys())
        else {
            return self.fail_send(&message_id, ClientError::NotConnected);
        };
        let message = pending.message.clone();
        let devices = pending.devices.clone();
        vec![Action::Blocking(Work::new(move |dir| {
            work(dir, &keys, &message, &devices, message_id)
        }))]
    }

    /// The device lists arrived: find the devices without a session (and
    /// encrypt at once when there are none).
    pub(super) fn on_send_devices(
        &mut self,
        message_id: &str,
        iq: &Node,
        now: Instant,
    ) -> Vec<Action> {
        let Some(mut pending) = self.sends.pending.remove(message_id) else {
            return Vec::new();
        };
        if iq.get_attr("type") != Some("result") {
            let _ = pending.reply.send(Err(iq_error(iq)));
            return Vec::new();
        }
        let lists = send::parse_device_lists(iq);
        self.sends.device_lists.insert(&lists, now);
        let chat = pending.message.chat.clone();
        let theirs = lists.get(&chat).filter(|ids| !ids.is_empty());
        let Some(theirs) = theirs else {
            let _ = pending.reply.send(Err(ClientError::NotOnWhatsApp(chat)));
            return Vec::new();
        };
        let Some(own) = self.own_device() else {
            let _ = pending.reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        };
        let ours = lists.get(&own.user_jid()).map_or(&[][..], Vec::as_slice);
        pending.devices = devices_to_encrypt_for(&chat, theirs, &own, ours);
        self.sends.pending.insert(message_id.to_string(), pending);
        self.first_pass(message_id.to_string(), false)
    }

    /// We know which devices lack a session: fetch their bundles.
    pub(super) fn on_send_planned(
        &mut self,
        message_id: String,
        result: Result<Plan, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let plan = match result {
            Ok(plan) => plan,
            Err(e) => return self.fail_send(&message_id, e),
        };
        if !self.sends.pending.contains_key(&message_id) {
            return Vec::new();
        }
        let iq_id = self.iqs.next_id();
        let node = send::prekey_fetch(&iq_id, &plan.missing);
        self.iqs.track(
            iq_id,
            IqKind::SendBundles { message_id },
            now + self.config.iq_timeout,
        );
        vec![Action::Send(node)]
    }

    pub(super) fn on_send_bundles(&mut self, message_id: String, iq: &Node) -> Vec<Action> {
        if iq.get_attr("type") != Some("result") {
            return self.fail_send(&message_id, iq_error(iq));
        }
        self.encrypt_send(message_id, send::parse_bundles(iq))
    }

    fn encrypt_send(
        &mut self,
        message_id: String,
        bundles: HashMap<DeviceAddress, PreKeyBundle>,
    ) -> Vec<Action> {
        self.send_work(
            message_id,
            move |dir, keys, message, devices, message_id| WorkDone::SendEncrypted {
                message_id,
                result: send::encrypt(dir, keys, message, devices, &bundles),
            },
        )
    }

    /// Every copy is encrypted and its session stored: send the stanza.
    pub(super) fn on_send_encrypted(
        &mut self,
        message_id: String,
        result: Result<Encrypted, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let encrypted = match result {
            Ok(e) => e,
            Err(e) => return self.fail_send(&message_id, e),
        };
        for (device, why) in &encrypted.skipped {
            tracing::warn!(%device, %why, "device left out of a message");
        }
        let mut out: Vec<Action> = encrypted
            .identity_changed
            .iter()
            .map(|d| Action::Emit(Event::IdentityChanged { jid: d.jid() }))
            .collect();
        let Some(pending) = self.sends.pending.get_mut(&message_id) else {
            return out;
        };
        let reaches_recipient = encrypted
            .copies
            .iter()
            .any(|(d, _)| d.user_jid() == pending.message.chat);
        if !reaches_recipient && !pending.resend {
            let chat = pending.message.chat.clone();
            out.extend(self.fail_send(
                &message_id,
                ClientError::Server {
                    code: "no-session".into(),
                    text: format!("no device of {chat} could be encrypted for"),
                },
            ));
            return out;
        }
        pending.ack_deadline = Some(now + self.config.iq_timeout);
        let identity = self
            .creds
            .paired
            .as_ref()
            .map(|p| p.account.clone())
            .unwrap_or_default();
        out.push(Action::Send(send::message_stanza(
            &pending.message,
            &encrypted,
            &identity,
        )));
        out
    }

    pub(super) fn fail_send_timeout(&mut self, message_id: &str) -> Vec<Action> {
        self.fail_send(message_id, ClientError::Timeout)
    }

    fn fail_send(&mut self, message_id: &str, error: ClientError) -> Vec<Action> {
        if let Some(p) = self.sends.pending.remove(message_id) {
            let _ = p.reply.send(Err(error));
        }
        Vec::new()
    }

    /// `<ack class="message" id>`: the server took our message (or
    /// refused it, with an `error` attribute).
    pub(super) fn on_ack(&mut self, ack: &Node) -> Vec<Action> {
        if ack.get_attr("class") != Some("message") {
            return Vec::new();
        }
        let Some(id) = ack.get_attr("id") else {
            return Vec::new();
        };
        let waiting = self
            .sends
            .pending
            .get(id)
            .is_some_and(|p| p.ack_deadline.is_some());
        if !waiting {
            return Vec::new();
        }
        let Some(p) = self.sends.pending.remove(id) else {
            return Vec::new();
        };
        if ack.get_attr("error").is_none() {
            self.sends.recent.push_back((p.message.clone(), Vec::new()));
            while self.sends.recent.len() > RECENT_SENT {
                self.sends.recent.pop_front();
            }
        }
        let result = match ack.get_attr("error") {
            Some(code) => Err(ClientError::Server {
                code: code.to_string(),
                text: "message refused".into(),
            }),
            None => Ok(SentMessage {
                id: p.message.id,
                chat: p.message.chat,
                timestamp: ack
                    .get_attr("t")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(now_secs),
            }),
        };
        let _ = p.reply.send(result);
        Vec::new()
    }

    /// An incoming `<message>`: decrypt it off the async workers.
    pub(super) fn on_message(&mut self, node: &Node) -> Vec<Action> {
        let incoming = match Incoming::parse(node) {
            Ok(i) => i,
            Err(why) => {
                // Not a 1:1 message we can take (groups, newsletters, ..):
                // acknowledge it so the server stops redelivering.
                tracing::debug!(%why, "message not handled");
                return crate::client::stanzas::ack(node)
                    .map(Action::Send)
                    .into_iter()
                    .collect();
            }
        };
        let Some(keys) = self.own_keys() else {
            return Vec::new();
        };
        self.sends
            .device_lists
            .saw_device(&incoming.from.user_jid(), incoming.from.device);
        vec![Action::Blocking(Work::new(move |dir| {
            let result = receive::receive(dir, &keys, &incoming);
            WorkDone::Received { incoming, result }
        }))]
    }

    pub(super) fn on_received(
        &mut self,
        incoming: Incoming,
        result: Result<Received, ClientError>,
    ) -> Vec<Action> {
        let own = self
            .own_device()
            .is_some_and(|d| d.user == incoming.from.user && !incoming.from.lid);
        match result {
            Ok(Received::Text {
                message,
                identity_changed,
            }) => {
                let mut out = Vec::new();
                if identity_changed {
                    out.push(Action::Emit(Event::IdentityChanged {
                        jid: incoming.from.jid(),
                    }));
                }
                out.push(Action::Emit(Event::Message(message)));
                out.push(Action::Send(receipts::delivered(&incoming, own)));
                out
            }
            Ok(Received::NotText) | Ok(Received::Duplicate) => {
                vec![Action::Send(receipts::delivered(&incoming, own))]
            }
            Ok(Received::Failed { reason }) => {
                tracing::info!(id = %incoming.id, from = %incoming.from, %reason, "undecryptable message");
                vec![
                    Action::Send(receipts::retry(&incoming, self.creds.registration_id)),
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

    /// An incoming `<receipt>`: report it, acknowledge it.
    pub(super) fn on_receipt(&mut self, node: &Node) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(receipt) = receipts::parse(node) {
            if receipt.retry {
                tracing::info!(ids = ?receipt.ids, from = %receipt.sender, "peer asked for a retry");
                if let Some(id) = receipt.ids.first() {
                    out.extend(self.on_retry_receipt(id, &receipt.sender));
                }
            }
            if let Some(kind) = receipt.kind {
                out.push(Action::Emit(Event::Receipt {
                    kind,
                    chat: receipt.chat,
                    sender: receipt.sender,
                    ids: receipt.ids,
                    timestamp: receipt.timestamp,
                }));
            }
        }
        out.extend(crate::client::stanzas::ack(node).map(Action::Send));
        out
    }

    /// `Client::mark_read`.
    pub(super) fn mark_read(
        &mut self,
        chat: &str,
        ids: &[String],
        done: super::Done,
    ) -> Vec<Action> {
        if self.phase != Phase::Connected {
            let _ = done.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let Some(chat) = user_of_recipient(chat) else {
            let _ = done.send(Err(ClientError::InvalidRecipient(chat.to_string())));
            return Vec::new();
        };
        match receipts::read(&chat, ids, now_secs()) {
            Some(node) => vec![Action::SendFor(node, done)],
            None => {
                let _ = done.send(Ok(()));
                Vec::new()
            }
        }
    }
}
