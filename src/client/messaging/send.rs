//! Sending a text: the recipient's and our own device lists (cached, or a
//! usync query), sessions or prekey bundles, one encrypted copy per
//! device, the `<message>` stanza, and the server's `<ack>` that answers
//! the caller.

use std::collections::HashMap;

use tokio::time::Instant;

use super::bundles::BundleFetch;
use super::encrypt::{self, Encrypted, Outgoing, Prepared};
use super::keys::OwnKeys;
use super::state::{Messaging, PendingSend, SendReply};
use super::usync::DeviceQuery;
use crate::client::core::{Action, Ctx, Phase, Then, Work};
use crate::client::events::{Event, SentMessage};
use crate::client::ClientError;
use crate::proto::text::Quote;
use crate::signal::PreKeyBundle;
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid, MessageId, PhoneNumber};
use crate::wire::Node;

/// The send command: a text to `to` (a phone number with country code or
/// a user JID), answered once the server accepted it.
pub fn send_text(to: String, text: String, quoted: Option<Quote>, reply: SendReply) -> Then {
    // A group (`…@g.us`) has its own flow.
    if to.trim().ends_with("@g.us") {
        return match crate::client::groups::group_of(&to) {
            Some(group) => super::group_send::send_group_text(group, text, quoted, reply),
            None => {
                let _ = reply.send(Err(ClientError::InvalidRecipient(format!(
                    "{to:?} is not a group JID"
                ))));
                Then::nothing()
            }
        };
    }
    Then::to::<Messaging>(move |m, ctx, now| m.start_send(ctx, &to, text, quoted, reply, now))
}

/// The conversation a recipient names: a phone number with country code
/// (`+`, spaces, dashes, dots and parentheses allowed) or a user JID
/// (`N@s.whatsapp.net`, `N@lid`).
pub fn chat_of(to: &str) -> Option<Jid> {
    let to = to.trim();
    if to.contains('@') {
        let address = DeviceAddress::parse(to)?;
        return (address.device() == 0).then(|| address.user_jid());
    }
    PhoneNumber::parse(to).ok().map(|p| p.jid())
}

/// Every device a text to `chat` is encrypted for: each of the
/// recipient's, and each of our own account's but this one.
fn devices_to_encrypt_for(
    chat: &Jid,
    theirs: &[u16],
    own: &DeviceAddress,
    ours: &[u16],
) -> Vec<DeviceAddress> {
    let mut devices: Vec<DeviceAddress> = Vec::new();
    if let Some(base) = DeviceAddress::from_jid(chat) {
        devices.extend(theirs.iter().map(|&device| base.with_device(device)));
    }
    devices.extend(
        ours.iter()
            .filter(|&&d| d != own.device())
            .map(|&device| own.with_device(device)),
    );
    devices.retain(|d| d != own);
    devices.dedup();
    devices
}

impl Messaging {
    fn start_send(
        &mut self,
        ctx: &mut Ctx,
        to: &str,
        text: String,
        quoted: Option<Quote>,
        reply: SendReply,
        now: Instant,
    ) -> Vec<Action> {
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let Some(chat) = chat_of(to) else {
            let _ = reply.send(Err(ClientError::InvalidRecipient(format!(
                "{to:?} is neither a phone number with country code nor a user JID"
            ))));
            return Vec::new();
        };
        if chat.is_lid() {
            // Until LID addressing is supported a LID recipient is refused
            // up front rather than failing at the server.
            let _ = reply.send(Err(ClientError::UnsupportedRecipient(format!(
                "{chat}: sending to LID addresses is not supported yet; use the phone number"
            ))));
            return Vec::new();
        }
        let Some(own) = ctx.own_device() else {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        };
        let id = MessageId::generate();
        let own_user = own.user_jid();
        // Recent chat: the device lists are known, encrypt at once.
        let known = self.device_lists.get(&chat, now).and_then(|theirs| {
            let ours = self.device_lists.get(&own_user, now)?;
            Some(devices_to_encrypt_for(&chat, theirs, &own, ours))
        });
        let pending = PendingSend {
            message: Outgoing {
                id: id.clone(),
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
        self.pending.insert(id.clone(), pending);
        if lists_known {
            return self.first_pass(ctx, id, false);
        }
        let mut users = vec![chat.clone()];
        if own_user != chat {
            users.push(own_user);
        }
        vec![ctx.send_iq(
            DeviceQuery { users },
            now,
            move |m: &mut Messaging, ctx, answer, now| m.on_devices(ctx, id, answer, now),
        )]
    }

    /// The blocking step after the device lists: encrypt with the sessions
    /// we have, or learn which bundles to fetch (after dropping the
    /// sessions first, for a resend).
    pub(super) fn first_pass(&mut self, ctx: &Ctx, id: MessageId, forget: bool) -> Vec<Action> {
        self.send_work(ctx, id, move |store, keys, message, devices| {
            let forgotten = if forget {
                encrypt::forget_sessions(store, devices)
            } else {
                Ok(())
            };
            forgotten.and_then(|()| encrypt::prepare(store, keys, message, devices))
        })
    }

    /// Blocking work on a pending send, with our keys, its message and
    /// its devices; its result comes back to [`Messaging::on_prepared`].
    fn send_work(
        &mut self,
        ctx: &Ctx,
        id: MessageId,
        work: impl FnOnce(
                &dyn AuthStore,
                &OwnKeys,
                &Outgoing,
                &[DeviceAddress],
            ) -> Result<Prepared, ClientError>
            + Send
            + 'static,
    ) -> Vec<Action> {
        let (Some(pending), Some(keys)) = (self.pending.get(&id), OwnKeys::of(ctx)) else {
            self.fail_send(&id, ClientError::NotConnected);
            return Vec::new();
        };
        let message = pending.message.clone();
        let devices = pending.devices.clone();
        vec![Action::Blocking(Work::new(move |store| {
            let result = work(store, &keys, &message, &devices);
            Then::to::<Messaging>(move |m, ctx, now| m.on_prepared(ctx, id, result, now))
        }))]
    }

    /// The device lists arrived: find the devices without a session (and
    /// encrypt at once when there are none).
    fn on_devices(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        answer: Result<HashMap<Jid, Vec<u16>>, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(mut pending) = self.pending.remove(&id) else {
            return Vec::new();
        };
        let lists = match answer {
            Ok(lists) => lists,
            Err(e) => {
                let _ = pending.reply.send(Err(e));
                return Vec::new();
            }
        };
        self.device_lists.insert(&lists, now);
        let chat = pending.message.chat.clone();
        let Some(theirs) = lists.get(&chat).filter(|ids| !ids.is_empty()) else {
            let _ = pending
                .reply
                .send(Err(ClientError::NotOnWhatsApp(chat.to_string())));
            return Vec::new();
        };
        let Some(own) = ctx.own_device() else {
            let _ = pending.reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        };
        let ours = lists.get(&own.user_jid()).map_or(&[][..], Vec::as_slice);
        pending.devices = devices_to_encrypt_for(&chat, theirs, &own, ours);
        self.pending.insert(id.clone(), pending);
        self.first_pass(ctx, id, false)
    }

    /// Encrypted, or we know which devices lack a session: fetch their
    /// bundles.
    fn on_prepared(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        result: Result<Prepared, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let plan = match result {
            Ok(Prepared::Encrypted(encrypted)) => {
                return self.on_encrypted(ctx, id, encrypted, now)
            }
            Ok(Prepared::NeedBundles(plan)) => plan,
            Err(e) => {
                self.fail_send(&id, e);
                return Vec::new();
            }
        };
        if !self.pending.contains_key(&id) {
            return Vec::new();
        }
        let spec = BundleFetch {
            devices: plan.missing,
        };
        vec![
            ctx.send_iq(spec, now, move |m: &mut Messaging, ctx, answer, _| {
                m.on_bundles(ctx, id, answer)
            }),
        ]
    }

    fn on_bundles(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        answer: Result<HashMap<DeviceAddress, PreKeyBundle>, ClientError>,
    ) -> Vec<Action> {
        let bundles = match answer {
            Ok(bundles) => bundles,
            Err(e) => {
                self.fail_send(&id, e);
                return Vec::new();
            }
        };
        self.send_work(ctx, id, move |store, keys, message, devices| {
            encrypt::encrypt(store, keys, message, devices, &bundles).map(Prepared::Encrypted)
        })
    }

    /// Every copy is encrypted and its session stored: send the stanza.
    fn on_encrypted(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        encrypted: Encrypted,
        now: Instant,
    ) -> Vec<Action> {
        for (device, why) in &encrypted.skipped {
            tracing::warn!(%device, %why, "device left out of a message");
        }
        let out: Vec<Action> = encrypted
            .identity_changed
            .iter()
            .map(|d| Action::Emit(Event::IdentityChanged { jid: d.jid() }))
            .collect();
        let Some(pending) = self.pending.get_mut(&id) else {
            return out;
        };
        let reaches_recipient = encrypted
            .copies
            .iter()
            .any(|(d, _)| d.user_jid() == pending.message.chat);
        if !reaches_recipient && !pending.resend {
            let chat = pending.message.chat.to_string();
            self.fail_send(
                &id,
                ClientError::Server {
                    code: "no-session".into(),
                    text: format!("no device of {chat} could be encrypted for"),
                },
            );
            return out;
        }
        pending.ack_deadline = Some(now + ctx.config.iq_timeout);
        let identity = ctx
            .creds
            .paired
            .as_ref()
            .map(|p| p.account.clone())
            .unwrap_or_default();
        let mut out = out;
        out.push(Action::Send(encrypt::message_stanza(
            &pending.message,
            &encrypted,
            &identity,
        )));
        out
    }

    /// `<ack class="message" id>`: the server took our message (or
    /// refused it, with an `error` attribute).
    pub(super) fn on_ack(&mut self, ctx: &Ctx, ack: &Node) -> Vec<Action> {
        if ack.get_attr("class") != Some("message") {
            return Vec::new();
        }
        let Some(id) = ack.get_attr("id").map(MessageId::from) else {
            return Vec::new();
        };
        let waiting = self
            .pending
            .get(&id)
            .is_some_and(|p| p.ack_deadline.is_some());
        if !waiting {
            return Vec::new();
        }
        let Some(p) = self.pending.remove(&id) else {
            return Vec::new();
        };
        let after = super::group_send::after_ack(&p, ack.get_attr("error").is_none());
        let result = match ack.get_attr("error") {
            Some(code) => Err(ClientError::Server {
                code: code.to_string(),
                text: "message refused".into(),
            }),
            None => {
                self.remember_sent(p.message.clone());
                Ok(SentMessage {
                    id: p.message.id,
                    chat: p.message.chat,
                    timestamp: ack
                        .get_attr("t")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or_else(|| ctx.unix_now()),
                })
            }
        };
        let _ = p.reply.send(result);
        after
    }

    /// Sends the server did not ack in time.
    pub(super) fn on_send_timer(&mut self, now: Instant) {
        for p in self.expired(now) {
            let _ = p.reply.send(Err(ClientError::Timeout));
        }
    }
}
