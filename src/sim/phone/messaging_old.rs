//! Messaging on the simulated network: the server's routing of
//! `<message>` and `<receipt>` stanzas to every addressed device, each
//! device's offline queue, prekey bundles for senders, and the phones as
//! full Signal participants (they encrypt, decrypt, keep sessions, send
//! receipts and answer retry receipts).
//!
//! Everything runs under the state lock, in the calling connection's task
//! or admin request; connections only ever receive finished stanzas.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use tokio::sync::mpsc;

use super::{unix_now, Device, Inner, Phone, SimState, SERVER_JID};
use crate::proto::text;
use crate::signal::{
    self, CiphertextMessage, IdentityKeyPair, LocalPreKeys, PreKey, PreKeyBundle, SessionRecord,
    SignedPreKey,
};
use crate::sim::SimError;
use crate::wire::Node;

/// Most stanzas the server holds for one offline device; the oldest go
/// first beyond this (a real server also expires its offline queue).
const MAX_QUEUED: usize = 5_000;
/// Most texts and receipts a phone keeps for the admin API.
const MAX_PHONE_LOG: usize = 10_000;
/// Most one-time prekeys a phone keeps private halves of.
const MAX_PHONE_PREKEYS: usize = 500;
/// Below this many one-time prekeys the server tells a device to upload
/// more (whatsmeow's `MinPreKeyCount` is 5).
const LOW_PREKEYS: usize = 5;
/// How many recent message ids the server remembers the sender of.
const MAX_SENDERS: usize = 100_000;
/// Most devices told about one account's device changes; later askers
/// rely on their cache's age limit.
const MAX_DEVICE_WATCHERS: usize = 10_000;

/// A device address: (phone number, device id; 0 is the phone itself).
pub(crate) type Address = (String, u16);

/// One stanza waiting in a device's offline queue.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    /// `message` or `receipt`: the class of the ack that removes it.
    class: &'static str,
    id: String,
    node: Node,
}

#[cfg(test)]
impl Queued {
    pub(crate) fn node(&self) -> &Node {
        &self.node
    }
}

/// `<notification from id type t>` with `children`, and its fresh id.
fn notification(from: &str, kind: &str, children: Vec<Node>) -> (String, Node) {
    let id = super::stanza::new_iq_id();
    let node = Node::new("notification")
        .attr("from", from)
        .attr("id", id.clone())
        .attr("type", kind)
        .attr("t", unix_now().to_string())
        .children(children);
    (id, node)
}

/// A text a phone received, as `GET /sim/phones/{phone}/messages` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhoneMessage {
    pub id: String,
    /// The device that sent it.
    pub from: String,
    /// The conversation: the other party's user JID.
    pub chat: String,
    pub text: String,
    pub timestamp: u64,
    /// Sent by one of the phone's own companions (to `chat`).
    pub from_me: bool,
    /// The id of the message it replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted_id: Option<String>,
}

/// A receipt a phone received for a message it sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhoneReceipt {
    /// `delivered` or `read` (`retry` receipts are answered, not listed).
    pub kind: String,
    pub from: String,
    pub ids: Vec<String>,
    pub timestamp: u64,
}

/// What `POST /sim/phones/{phone}/messages` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SentByPhone {
    pub id: String,
    pub to: String,
    pub timestamp: u64,
    /// How many devices it was encrypted for.
    pub devices: usize,
}

/// A text the phone sent, kept so a retry receipt can be answered.
#[derive(Clone, Debug)]
struct SentText {
    id: String,
    chat: String,
    text: String,
}

/// A phone's Signal side.
pub(crate) struct PhoneSignal {
    signed_prekey: SignedPreKey,
    one_time: VecDeque<PreKey>,
    next_prekey_id: u32,
    sessions: HashMap<Address, SessionRecord>,
    received: VecDeque<PhoneMessage>,
    receipts: VecDeque<PhoneReceipt>,
    sent: VecDeque<SentText>,
    /// Messages that could not be decrypted (each answered by a retry
    /// receipt to its sender).
    undecryptable: u64,
}

impl PhoneSignal {
    /// Fresh keys; the signed prekey is signed by `identity` when the
    /// phone is created (see [`PhoneSignal::sign_with`]).
    pub fn new() -> Self {
        PhoneSignal {
            signed_prekey: SignedPreKey {
                id: 1,
                key_pair: crate::crypto::KeyPair::generate(),
                signature: [0; 64],
            },
            one_time: VecDeque::new(),
            next_prekey_id: 1,
            sessions: HashMap::new(),
            received: VecDeque::new(),
            receipts: VecDeque::new(),
            sent: VecDeque::new(),
            undecryptable: 0,
        }
    }

    /// Regenerates the signed prekey under the phone's identity.
    pub fn sign_with(&mut self, identity: &IdentityKeyPair) {
        self.signed_prekey = SignedPreKey::generate(identity, 1);
    }
}

/// Recent message id -> sending device, bounded.
#[derive(Default)]
pub(crate) struct SenderIndex {
    by_id: HashMap<String, Address>,
    order: VecDeque<String>,
}

impl SenderIndex {
    fn remember(&mut self, id: &str, sender: Address) {
        if self.by_id.insert(id.to_string(), sender).is_none() {
            self.order.push_back(id.to_string());
        }
        while self.order.len() > MAX_SENDERS {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    fn sender_of(&self, id: &str) -> Option<&Address> {
        self.by_id.get(id)
    }
}

/// `N@s.whatsapp.net` for device 0, `N:D@s.whatsapp.net` otherwise.
pub(crate) fn ad_jid((user, device): (&str, u16)) -> String {
    if device == 0 {
        format!("{user}@{SERVER_JID}")
    } else {
        format!("{user}:{device}@{SERVER_JID}")
    }
}

fn user_jid(user: &str) -> String {
    format!("{user}@{SERVER_JID}")
}

fn push_bounded<T>(log: &mut VecDeque<T>, item: T, max: usize) {
    log.push_back(item);
    while log.len() > max {
        log.pop_front();
    }
}

impl Inner {
    /// Resolves a JID (`N`, `N@s.whatsapp.net`, `N:D@s.whatsapp.net`, the
    /// `@lid` forms, or `+N`) to a known phone number and device id.
    fn resolve(&self, jid: &str) -> Option<Address> {
        let jid = jid.trim().trim_start_matches('+');
        let (user, server) = jid.split_once('@').unwrap_or((jid, SERVER_JID));
        let (user, device) = match user.split_once(':') {
            Some((u, d)) => (u, d.parse::<u16>().ok()?),
            None => (user, 0),
        };
        // An agent suffix (`N.A`) does not change the account.
        let user = user.split('.').next().unwrap_or(user);
        let phone = match server {
            SERVER_JID | "c.us" => user.to_string(),
            "lid" => self.lids.get(user)?.clone(),
            _ => return None,
        };
        self.phones.contains_key(&phone).then_some((phone, device))
    }

    fn device_mut(&mut self, (phone, id): &Address) -> Option<&mut Device> {
        self.phones.get_mut(phone)?.devices.get_mut(id)
    }

    /// `phone`'s set of devices changed (`change` is `add` or `remove`
    /// of `device`): everyone who may hold its device list, i.e. the
    /// devices that asked for it and the account's other companions, gets
    /// `<notification type="devices">` (queued for offline devices, as
    /// messages are). Shape after whatsmeow `handleDeviceNotification`.
    pub(super) fn announce_devices(&mut self, phone: &str, change: &'static str, device: u16) {
        let mut to: Vec<Address> = self
            .device_watchers
            .get(phone)
            .map(|w| w.iter().cloned().collect())
            .unwrap_or_default();
        to.extend(self.devices_of(phone).into_iter().filter(|(_, d)| *d != 0));
        to.sort_unstable();
        to.dedup();
        let changed = (phone.to_string(), device);
        let changed_jid = ad_jid((phone, device));
        for watcher in to.iter().filter(|w| **w != changed) {
            let (id, node) = notification(
                &ad_jid((phone, 0)),
                "devices",
                vec![
                    Node::new(change).children(vec![Node::new("device").attr("jid", &changed_jid)])
                ],
            );
            self.enqueue(watcher, "notification", &id, node);
        }
        // Watchers that are gone (unlinked) need no further news.
        let Inner {
            device_watchers,
            phones,
            ..
        } = self;
        if let Some(w) = device_watchers.get_mut(phone) {
            w.retain(|(p, d)| phones.get(p).is_some_and(|a| a.devices.contains_key(d)));
        }
    }

    /// Every device of `phone`: 0 (the phone) then its companions.
    fn devices_of(&self, phone: &str) -> Vec<Address> {
        let mut out = vec![(phone.to_string(), 0)];
        if let Some(p) = self.phones.get(phone) {
            out.extend(p.devices.keys().map(|&d| (phone.to_string(), d)));
        }
        out
    }

    /// Queues `node` for a companion and hands it over at once if the
    /// device is online. Unknown devices are skipped (their messages are
    /// dropped, as the real server drops them for removed devices).
    fn enqueue(&mut self, to: &Address, class: &'static str, id: &str, node: Node) {
        let online = self.live.get(to).and_then(|l| l.deliver.clone());
        let Some(device) = self.device_mut(to) else {
            return;
        };
        push_bounded(
            &mut device.queue,
            Queued {
                class,
                id: id.to_string(),
                node: node.clone(),
            },
            MAX_QUEUED,
        );
        if let Some(deliver) = online {
            let _ = deliver.send(node);
        }
    }

    /// A bundle to start a session with `target`, using up one of its
    /// one-time prekeys (phones mint a fresh one for every request).
    fn take_bundle(&mut self, (phone, id): &Address) -> Option<PreKeyBundle> {
        let account = self.phones.get_mut(phone)?;
        if *id == 0 {
            return Some(phone_bundle(account));
        }
        let device = account.devices.get_mut(id)?;
        let one_time_prekey = (!device.prekeys.is_empty()).then(|| device.prekeys.remove(0));
        if one_time_prekey.is_some() && device.prekeys.len() < LOW_PREKEYS {
            // Tell the device, if it is online, to upload more.
            let count = device.prekeys.len();
            let live = self.live.get(&(phone.clone(), *id));
            if let Some(deliver) = live.and_then(|l| l.deliver.as_ref()) {
                let count = Node::new("count").attr("value", count.to_string());
                let _ = deliver.send(notification(SERVER_JID, "encrypt", vec![count]).1);
            }
        }
        Some(PreKeyBundle {
            registration_id: device.registration_id,
            identity_key: device.identity_key,
            signed_prekey_id: device.signed_prekey.id,
            signed_prekey: device.signed_prekey.public,
            signed_prekey_signature: device.signed_prekey.signature,
            one_time_prekey,
        })
    }

    /// Encrypts `plaintext` from phone `from` (device 0) to `target`,
    /// starting a session from a fresh bundle when there is none.
    fn phone_encrypt(
        &mut self,
        from: &str,
        target: &Address,
        plaintext: &[u8],
    ) -> Result<CiphertextMessage, String> {
        let has_session = self
            .phones
            .get(from)
            .and_then(|p| p.signal.sessions.get(target))
            .is_some_and(SessionRecord::has_current_session);
        let bundle = if has_session {
            None
        } else {
            Some(self.take_bundle(target).ok_or("unknown device")?)
        };
        let phone = self.phones.get_mut(from).ok_or("unknown phone")?;
        let record = phone.signal.sessions.entry(target.clone()).or_default();
        if let Some(bundle) = bundle {
            signal::initiate_session(record, &phone.identity, phone.registration_id, &bundle)
                .map_err(|e| e.to_string())?;
        }
        signal::encrypt(record, &phone.identity, plaintext).map_err(|e| e.to_string())
    }

    /// Delivers one encrypted copy to `target`: a companion's queue, or the
    /// phone itself, which decrypts it at once. Returns the receipt the
    /// recipient phone sends back, if any.
    #[allow(clippy::too_many_arguments)]
    fn deliver_copy(
        &mut self,
        sender: &Address,
        target: &Address,
        chat_user: &str,
        id: &str,
        timestamp: u64,
        enc: Node,
        device_identity: Option<&Node>,
    ) -> Option<Node> {
        if target.1 != 0 {
            let mut message = Node::new("message")
                .attr("from", ad_jid((&sender.0, sender.1)))
                .attr("id", id)
                .attr("type", "text")
                .attr("t", timestamp.to_string())
                .attr("notify", format!("Sim {}", sender.0));
            if target.0 == sender.0 {
                // Our own other device: it needs to know the chat.
                message = message.attr("recipient", user_jid(chat_user));
            }
            let mut children = vec![enc];
            if let Some(identity) = device_identity {
                children.push(identity.clone());
            }
            self.enqueue(target, "message", id, message.children(children));
            return None;
        }
        let phone = self.phones.get_mut(&target.0)?;
        let enc_type = enc.get_attr("type").unwrap_or_default().to_string();
        let bytes = enc.content_bytes().unwrap_or_default();
        match phone_decrypt(phone, sender, &enc_type, bytes) {
            Ok(content) => {
                let from_me = sender.0 == target.0;
                let chat = match (&content.sent_to, from_me) {
                    (Some(to), true) => to.clone(),
                    _ => user_jid(&sender.0),
                };
                push_bounded(
                    &mut phone.signal.received,
                    PhoneMessage {
                        id: id.to_string(),
                        from: ad_jid((&sender.0, sender.1)),
                        chat,
                        text: content.text,
                        timestamp,
                        from_me,
                        quoted_id: content.quoted.map(|q| q.id),
                    },
                    MAX_PHONE_LOG,
                );
                // The sender's own phone does not confirm delivery.
                (!from_me).then(|| {
                    Node::new("receipt")
                        .attr("from", user_jid(&target.0))
                        .attr("id", id)
                        .attr("t", unix_now().to_string())
                })
            }
            Err(why) => {
                tracing::info!(phone = %target.0, %why, "phone could not decrypt a message");
                phone.signal.undecryptable += 1;
                let registration = phone.registration_id.to_be_bytes().to_vec();
                Some(
                    Node::new("receipt")
                        .attr("from", user_jid(&target.0))
                        .attr("id", id)
                        .attr("type", "retry")
                        .attr("t", unix_now().to_string())
                        .children(vec![
                            Node::new("retry")
                                .attr("count", "1")
                                .attr("id", id)
                                .attr("t", timestamp.to_string())
                                .attr("v", "1"),
                            Node::new("registration").bytes(registration),
                        ]),
                )
            }
        }
    }

    /// Encrypts and delivers a phone's text to every device of `to` and
    /// every companion of its own; records it for retries.
    fn phone_send_text(
        &mut self,
        from: &str,
        to_user: &str,
        id: &str,
        text_body: &str,
        quoted: Option<&text::Quote>,
    ) -> Result<usize, String> {
        let timestamp = unix_now();
        let chat = user_jid(to_user);
        let mut targets = self.devices_of(to_user);
        if to_user != from {
            targets.extend(self.devices_of(from).into_iter().filter(|(_, d)| *d != 0));
        }
        let mut delivered = 0;
        let sender: Address = (from.to_string(), 0);
        self.senders.remember(id, sender.clone());
        for target in &targets {
            let plaintext = if target.0 == from {
                text::encode_device_sent(&chat, text_body, quoted)
            } else {
                text::encode(text_body, quoted)
            };
            let ciphertext = match self.phone_encrypt(from, target, &text::pad(&plaintext)) {
                Ok(c) => c,
                Err(why) => {
                    tracing::warn!(%why, target = %ad_jid((&target.0, target.1)), "phone cannot encrypt");
                    continue;
                }
            };
            let enc = enc_node(&ciphertext);
            if let Some(receipt) =
                self.deliver_copy(&sender, target, to_user, id, timestamp, enc, None)
            {
                // Phone-to-phone: the recipient phone's receipt comes home.
                self.phone_got_receipt(from, &receipt);
            }
            delivered += 1;
        }
        if let Some(phone) = self.phones.get_mut(from) {
            push_bounded(
                &mut phone.signal.sent,
                SentText {
                    id: id.to_string(),
                    chat,
                    text: text_body.to_string(),
                },
                1_000,
            );
        }
        Ok(delivered)
    }

    /// A receipt addressed to phone `phone` (device 0).
    fn phone_got_receipt(&mut self, phone: &str, receipt: &Node) {
        let kind = match receipt.get_attr("type") {
            None | Some("") | Some("delivery") => "delivered",
            Some("retry") => {
                self.phone_answer_retry(phone, receipt);
                return;
            }
            Some(other) => other,
        }
        .to_string();
        let entry = PhoneReceipt {
            kind,
            from: receipt.get_attr("from").unwrap_or_default().to_string(),
            ids: receipt_ids(receipt),
            timestamp: unix_now(),
        };
        if let Some(p) = self.phones.get_mut(phone) {
            push_bounded(&mut p.signal.receipts, entry, MAX_PHONE_LOG);
        }
    }

    /// A device could not decrypt a text the phone sent: start a fresh
    /// session with it and send the text again (WhatsApp's retry flow).
    fn phone_answer_retry(&mut self, phone: &str, receipt: &Node) {
        let Some(device) = receipt.get_attr("from").and_then(|from| self.resolve(from)) else {
            return;
        };
        let id = receipt.get_attr("id").unwrap_or_default();
        let Some(sent) = self
            .phones
            .get(phone)
            .and_then(|p| p.signal.sent.iter().find(|s| s.id == id).cloned())
        else {
            return;
        };
        if let Some(p) = self.phones.get_mut(phone) {
            p.signal.sessions.remove(&device);
        }
        let plaintext = if device.0 == phone {
            text::encode_device_sent(&sent.chat, &sent.text, None)
        } else {
            text::encode(&sent.text, None)
        };
        match self.phone_encrypt(phone, &device, &text::pad(&plaintext)) {
            Ok(ciphertext) => {
                let chat_user = sent.chat.split('@').next().unwrap_or_default().to_string();
                let sender = (phone.to_string(), 0);
                let enc = enc_node(&ciphertext);
                self.deliver_copy(&sender, &device, &chat_user, id, unix_now(), enc, None);
            }
            Err(why) => tracing::warn!(%why, "retry not answered"),
        }
    }
}

fn enc_node(ciphertext: &CiphertextMessage) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", ciphertext.enc_type())
        .bytes(ciphertext.bytes().to_vec())
}

/// The ids a receipt covers: its `id` and any `<list><item id/>`.
fn receipt_ids(receipt: &Node) -> Vec<String> {
    let mut ids: Vec<String> = receipt
        .get_attr("id")
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(list) = receipt.child("list") {
        ids.extend(
            list.child_nodes()
                .iter()
                .filter_map(|i| i.get_attr("id"))
                .map(str::to_string),
        );
    }
    ids
}

/// The phone's bundle with a freshly minted one-time prekey.
fn phone_bundle(phone: &mut Phone) -> PreKeyBundle {
    let s = &mut phone.signal;
    let key = signal::generate_prekeys(s.next_prekey_id, 1).remove(0);
    s.next_prekey_id = signal::next_prekey_id(key.id);
    let bundle = PreKeyBundle {
        registration_id: phone.registration_id,
        identity_key: phone.identity.public,
        signed_prekey_id: s.signed_prekey.id,
        signed_prekey: s.signed_prekey.key_pair.public,
        signed_prekey_signature: s.signed_prekey.signature,
        one_time_prekey: Some((key.id, key.key_pair.public)),
    };
    push_bounded(&mut s.one_time, key, MAX_PHONE_PREKEYS);
    bundle
}

/// The phone decrypts a copy addressed to it.
fn phone_decrypt(
    phone: &mut Phone,
    sender: &Address,
    enc_type: &str,
    bytes: &[u8],
) -> Result<text::TextContent, String> {
    let identity = phone.identity.clone();
    let registration_id = phone.registration_id;
    let s = &mut phone.signal;
    let record = s.sessions.entry(sender.clone()).or_default();
    let padded = match enc_type {
        "pkmsg" => {
            let one_time: Vec<PreKey> = s.one_time.iter().cloned().collect();
            let prekeys = LocalPreKeys {
                signed: std::slice::from_ref(&s.signed_prekey),
                one_time: &one_time,
            };
            let out =
                signal::decrypt_prekey_message(record, &identity, registration_id, &prekeys, bytes)
                    .map_err(|e| e.to_string())?;
            if let Some(used) = out.consumed_prekey_id {
                s.one_time.retain(|k| k.id != used);
            }
            out.plaintext
        }
        "msg" => signal::decrypt_message(record, &identity, bytes).map_err(|e| e.to_string())?,
        other => return Err(format!("unsupported enc type {other:?}")),
    };
    let body = text::unpad(&padded).map_err(|e| e.to_string())?;
    text::decode(body).map_err(|e| e.to_string())
}

impl SimState {
    /// The connection of `device` said `active`: from now on stanzas for
    /// it go straight to `deliver`. Returns its offline queue (oldest
    /// first, marked `offline`), which stays queued until acknowledged.
    pub(crate) fn activate(
        &self,
        phone: &str,
        device: u16,
        conn_id: u64,
        deliver: mpsc::UnboundedSender<Node>,
    ) -> Vec<Node> {
        let mut inner = self.lock();
        let address = (phone.to_string(), device);
        match inner.live.get_mut(&address) {
            Some(live) if live.conn_id == conn_id => live.deliver = Some(deliver),
            _ => return Vec::new(),
        }
        inner
            .device_mut(&address)
            .map(|d| {
                d.queue
                    .iter()
                    .map(|q| q.node.clone().attr("offline", "1"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The phone's app-state key share for a new companion, once, over the
    /// phone's session with it (see `key_share.rs`).
    pub(crate) fn key_share_stanza(&self, phone: &str, id: u16) -> Option<Node> {
        let order = self.take_key_share(phone, id)?;
        let mut inner = self.lock();
        let account = inner.phones.get_mut(phone)?;
        let record = account
            .signal
            .sessions
            .entry((phone.to_string(), id))
            .or_default();
        match order.to_stanza(record) {
            Ok(stanza) => Some(stanza),
            Err(e) => {
                tracing::warn!(error = %e, "app-state key share not sent");
                None
            }
        }
    }

    /// Routes a `<message>` a companion sent: one copy per
    /// `<participants><to jid>`. Returns what goes back to the sender: the
    /// server's ack, then any receipt a recipient phone sent at once.
    pub(crate) fn route_message(&self, phone: &str, device: u16, node: &Node) -> Vec<Node> {
        let id = node.get_attr("id").unwrap_or_default().to_string();
        let to = node.get_attr("to").unwrap_or_default();
        let timestamp = unix_now();
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id.as_str())
            .attr("from", to)
            .attr("t", timestamp.to_string());
        let mut inner = self.lock();
        let Some((chat_user, _)) = inner.resolve(to) else {
            return vec![ack.attr("error", "404")];
        };
        let sender: Address = (phone.to_string(), device);
        inner.senders.remember(&id, sender.clone());
        let device_identity = node.child("device-identity");
        let mut copies: Vec<(Address, Node)> = Vec::new();
        if let Some(participants) = node.child("participants") {
            for to in participants.child_nodes().iter().filter(|n| n.tag == "to") {
                let target = to.get_attr("jid").and_then(|j| inner.resolve(j));
                if let (Some(target), Some(enc)) = (target, to.child("enc")) {
                    copies.push((target, enc.clone()));
                }
            }
        } else if let Some(enc) = node.child("enc") {
            // A single copy addressed by `to` itself.
            if let Some(target) = inner.resolve(to) {
                copies.push((target, enc.clone()));
            }
        }
        let mut back = vec![ack];
        for (target, enc) in copies {
            let receipt = inner.deliver_copy(
                &sender,
                &target,
                &chat_user,
                &id,
                timestamp,
                enc,
                device_identity,
            );
            if let Some(receipt) = receipt {
                back.push(receipt);
            }
        }
        back
    }

    /// Routes a `<receipt>` a companion sent (delivered, read, retry) to
    /// the device that sent the message, and takes the messages it
    /// confirms off the companion's queue. Returns the server's ack.
    pub(crate) fn route_receipt(&self, phone: &str, device: u16, node: &Node) -> Vec<Node> {
        let id = node.get_attr("id").unwrap_or_default();
        let mut ack = Node::new("ack")
            .attr("class", "receipt")
            .attr("id", id)
            .attr("from", node.get_attr("to").unwrap_or(SERVER_JID));
        if let Some(kind) = node.get_attr("type") {
            ack = ack.attr("type", kind);
        }
        let ids = receipt_ids(node);
        let mut inner = self.lock();
        let me: Address = (phone.to_string(), device);
        if let Some(d) = inner.device_mut(&me) {
            d.queue
                .retain(|q| !(q.class == "message" && ids.contains(&q.id)));
        }
        let Some(original_sender) = inner.senders.sender_of(id).cloned() else {
            return vec![ack];
        };
        let mut forwarded = Node::new("receipt")
            .attr("from", ad_jid((phone, device)))
            .attr("id", id)
            .attr("t", unix_now().to_string());
        for key in ["type", "participant"] {
            if let Some(v) = node.get_attr(key) {
                forwarded = forwarded.attr(key, v);
            }
        }
        let forwarded = forwarded.children(node.child_nodes().to_vec());
        if original_sender.1 == 0 {
            inner.phone_got_receipt(&original_sender.0, &forwarded);
        } else {
            inner.enqueue(&original_sender, "receipt", id, forwarded);
        }
        vec![ack]
    }

    /// `watcher` asked for the device lists of `phones`: it is told when
    /// they change.
    pub(crate) fn watch_devices(&self, watcher: &Address, phones: &[&str]) {
        let mut inner = self.lock();
        for phone in phones {
            let watchers = inner.device_watchers.entry(phone.to_string()).or_default();
            if watchers.len() < MAX_DEVICE_WATCHERS {
                watchers.insert(watcher.clone());
            }
        }
    }

    /// A companion acknowledged a stanza: it leaves the queue.
    pub(crate) fn acknowledge(&self, phone: &str, device: u16, node: &Node) {
        let (Some(class), Some(id)) = (node.get_attr("class"), node.get_attr("id")) else {
            return;
        };
        if let Some(d) = self.lock().device_mut(&(phone.to_string(), device)) {
            d.queue.retain(|q| !(q.class == class && q.id == id));
        }
    }

    /// Prekey bundles for `<iq xmlns="encrypt" type="get"><key><user
    /// jid/>..` (one-time prekeys are used up as they are handed out).
    pub(crate) fn prekey_bundles(&self, jids: &[&str]) -> Vec<Node> {
        let mut inner = self.lock();
        jids.iter()
            .map(|jid| {
                let user = Node::new("user").attr("jid", *jid);
                match inner.resolve(jid).and_then(|t| inner.take_bundle(&t)) {
                    Some(bundle) => user.children(bundle_nodes(&bundle)),
                    None => user.children(vec![Node::new("error")
                        .attr("code", "404")
                        .attr("text", "item-not-found")]),
                }
            })
            .collect()
    }

    /// `POST /sim/phones/{phone}/messages`: the phone sends `text` to `to`
    /// (a phone number or JID), optionally replying to message `reply_to`.
    pub fn phone_send(
        &self,
        phone: &str,
        to: &str,
        text_body: &str,
        reply_to: Option<&str>,
    ) -> Result<SentByPhone, SimError> {
        let mut inner = self.lock();
        if !inner.phones.contains_key(phone) {
            return Err(SimError::UnknownPhone(phone.to_string()));
        }
        let (to_user, _) = inner
            .resolve(to)
            .ok_or_else(|| SimError::NotOnWhatsApp(to.to_string()))?;
        let quoted = reply_to.map(|id| {
            let original = inner.phones.get(phone).and_then(|p| {
                p.signal
                    .received
                    .iter()
                    .find(|m| m.id == id)
                    .map(|m| (m.from.clone(), m.text.clone()))
            });
            text::Quote {
                id: id.to_string(),
                participant: original.as_ref().map(|(from, _)| from.clone()),
                text: original.map(|(_, t)| t),
            }
        });
        let id = super::stanza::new_message_id();
        let devices = inner
            .phone_send_text(phone, &to_user, &id, text_body, quoted.as_ref())
            .map_err(SimError::BadRequest)?;
        Ok(SentByPhone {
            id,
            to: user_jid(&to_user),
            timestamp: unix_now(),
            devices,
        })
    }

    /// `POST /sim/phones/{phone}/read`: the phone reads received messages;
    /// each sender device gets a read receipt.
    pub fn phone_read(&self, phone: &str, ids: &[String]) -> Result<usize, SimError> {
        let mut inner = self.lock();
        let account = inner
            .phones
            .get(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_string()))?;
        let mut by_sender: HashMap<String, Vec<String>> = HashMap::new();
        for m in account
            .signal
            .received
            .iter()
            .filter(|m| ids.contains(&m.id))
        {
            if !m.from_me {
                by_sender
                    .entry(m.from.clone())
                    .or_default()
                    .push(m.id.clone());
            }
        }
        let mut sent = 0;
        for (from, ids) in by_sender {
            let Some(target) = inner.resolve(&from) else {
                continue;
            };
            let mut receipt = Node::new("receipt")
                .attr("from", user_jid(phone))
                .attr("id", ids[0].as_str())
                .attr("type", "read")
                .attr("t", unix_now().to_string());
            if ids.len() > 1 {
                receipt = receipt.children(vec![Node::new("list").children(
                    ids[1..]
                        .iter()
                        .map(|i| Node::new("item").attr("id", i.as_str()))
                        .collect(),
                )]);
            }
            if target.1 == 0 {
                inner.phone_got_receipt(&target.0, &receipt);
            } else {
                inner.enqueue(&target, "receipt", &ids[0], receipt);
            }
            sent += ids.len();
        }
        Ok(sent)
    }

    /// `POST /sim/phones/{phone}/reinstall`: WhatsApp reinstalled on the
    /// phone. It gets a new Signal identity and loses every session and
    /// prekey, so contacts see an identity change and their next message
    /// to it fails once (answered by a retry receipt). Its account, number
    /// and linked companions stay.
    pub fn reinstall_phone(&self, phone: &str) -> Result<(), SimError> {
        let mut inner = self.lock();
        let p = inner
            .phones
            .get_mut(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_string()))?;
        p.identity = crate::crypto::KeyPair::generate();
        p.registration_id = signal::registration_id();
        let received = std::mem::take(&mut p.signal.received);
        let receipts = std::mem::take(&mut p.signal.receipts);
        p.signal = PhoneSignal::new();
        p.signal.sign_with(&p.identity);
        // What the user saw before stays visible to the admin API.
        p.signal.received = received;
        p.signal.receipts = receipts;
        Ok(())
    }

    /// `GET /sim/phones/{phone}/messages`: texts the phone received.
    pub fn phone_messages(&self, phone: &str) -> Result<Vec<PhoneMessage>, SimError> {
        let inner = self.lock();
        let p = inner
            .phones
            .get(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_string()))?;
        Ok(p.signal.received.iter().cloned().collect())
    }

    /// `GET /sim/phones/{phone}/receipts`: receipts for its sent texts.
    pub fn phone_receipts(&self, phone: &str) -> Result<Vec<PhoneReceipt>, SimError> {
        let inner = self.lock();
        let p = inner
            .phones
            .get(phone)
            .ok_or_else(|| SimError::UnknownPhone(phone.to_string()))?;
        Ok(p.signal.receipts.iter().cloned().collect())
    }

    /// How many one-time prekeys the server holds for a companion.
    pub fn prekeys_left(&self, device_jid: &str) -> Result<usize, SimError> {
        self.with_device(device_jid, |d| d.prekeys.len())
    }

    /// The id of the signed prekey the server holds for a companion.
    pub fn signed_prekey_id(&self, device_jid: &str) -> Result<u32, SimError> {
        self.with_device(device_jid, |d| d.signed_prekey.id)
    }

    /// How many stanzas the server holds for a companion.
    pub fn queued(&self, device_jid: &str) -> Result<usize, SimError> {
        self.with_device(device_jid, |d| d.queue.len())
    }

    fn with_device<T>(
        &self,
        device_jid: &str,
        read: impl FnOnce(&Device) -> T,
    ) -> Result<T, SimError> {
        let mut inner = self.lock();
        inner
            .resolve(device_jid)
            .and_then(|address| inner.device_mut(&address).map(|d| read(d)))
            .ok_or_else(|| SimError::UnknownDevice(device_jid.to_string()))
    }
}

/// `<registration><type><identity><skey>..</skey>[<key>..</key>]` of one
/// user in a prekey answer (whatsmeow `prekeys.go` nodeToPreKeyBundle).
fn bundle_nodes(b: &PreKeyBundle) -> Vec<Node> {
    let id3 = |id: u32| id.to_be_bytes()[1..].to_vec();
    let mut nodes = vec![
        Node::new("registration").bytes(b.registration_id.to_be_bytes().to_vec()),
        Node::new("type").bytes(vec![signal::DJB_KEY_TYPE]),
        Node::new("identity").bytes(b.identity_key.to_vec()),
        Node::new("skey").children(vec![
            Node::new("id").bytes(id3(b.signed_prekey_id)),
            Node::new("value").bytes(b.signed_prekey.to_vec()),
            Node::new("signature").bytes(b.signed_prekey_signature.to_vec()),
        ]),
    ];
    if let Some((id, key)) = b.one_time_prekey {
        nodes.push(Node::new("key").children(vec![
            Node::new("id").bytes(id3(id)),
            Node::new("value").bytes(key.to_vec()),
        ]));
    }
    nodes
}
