//! Sending a text: the recipient's and our own device lists (cached, or a
//! usync query), sessions or prekey bundles, one encrypted copy per
//! device, the `<message>` stanza, and the server's `<ack>` that answers
//! the caller.

use std::collections::HashMap;

use tokio::time::Instant;

use super::body::Body;
use super::bundles::BundleFetch;
use super::device_lists::UserDevices;
use super::encrypt::{self, Encrypted, Outgoing, Prepared};
use super::keys::{device_identity, OwnKeys};
use super::state::{Messaging, PendingSend, SendReply};
use super::usync::DeviceQuery;
use crate::client::core::{Action, Ctx, Phase, Then, Weight, Work};
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
    send(to, Body::Text { text, quoted }, reply)
}

/// The send command for a message with any body (a text, or a media
/// message whose file is already uploaded).
pub fn send(to: String, body: Body, reply: SendReply) -> Then {
    // A group (`…@g.us`) has its own flow.
    if to.trim().ends_with("@g.us") {
        return match crate::client::groups::group_of(&to) {
            Some(group) => super::group_send::send_group(group, body, reply),
            None => {
                let _ = reply.send(Err(ClientError::InvalidRecipient(format!(
                    "{to:?} is not a group JID"
                ))));
                Then::nothing()
            }
        };
    }
    Then::to::<Messaging>(move |m, ctx, now| m.start_send(ctx, &to, body, reply, now))
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

/// Every device a text to `chat` is encrypted for — each of the
/// recipient's and each of our own account's but this one — addressed by
/// LID where the user's LID is known (WA Web's Signal addressing upgrades
/// a phone number to its LID unconditionally: whatsapp-rust
/// `resolve_encryption_jid`), with what that taught us.
///
/// On the wire, the stanza and its devices are in one namespace: LID when
/// our account's chats moved to LID (`own.lid_migrated`), the phone number
/// otherwise (whatsapp-rust `resolve_dm_wire_jid`; the server refuses a
/// mix with 479).
fn fan_out(
    chat: &Jid,
    chat_pn: Option<&Jid>,
    theirs: &UserDevices,
    own: &OwnIds,
    ours: &UserDevices,
) -> Fanout {
    let mut out = Fanout::empty(chat);
    let their_pn = if chat.is_pn() { Some(chat) } else { chat_pn };
    let their_lid = if chat.is_lid() {
        Some(chat)
    } else {
        theirs.lid.as_ref()
    };
    let own_lid = ours.lid.as_ref().or(own.lid.as_ref());
    if let Some(to) = out.add_user(their_pn, their_lid, &theirs.devices, None, own.lid_migrated) {
        out.to = to;
    }
    out.add_user(
        Some(&own.pn),
        own_lid,
        &ours.devices,
        Some(own.device),
        own.lid_migrated,
    );
    out.devices.dedup();
    out
}

/// Where a send's first pass starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pass {
    /// Device lists from the session's cache.
    CachedLists,
    /// Device lists a query just brought.
    FreshLists,
    /// A resend to a device that lost our session: drop ours first.
    Retry,
}

/// Whether the stanza's `to` is in our account's namespace (the server
/// refuses a LID from an account still on phone numbers with 400).
fn on_own_namespace(to: &Jid, own: &OwnIds) -> bool {
    own.lid_migrated || !to.is_lid()
}

/// Our own identities, for the fan-out.
struct OwnIds {
    pn: Jid,
    lid: Option<Jid>,
    /// This device's id: left out of the fan-out.
    device: u16,
    /// Our chats are on LID addressing.
    lid_migrated: bool,
}

/// Where a send goes, and what finding that out taught.
struct Fanout {
    devices: Vec<DeviceAddress>,
    /// LID↔phone-number pairs to keep (lid user, pn user).
    mappings: Vec<(String, String)>,
    /// Sessions to move from a phone-number device to its LID twin before
    /// encrypting (a chat that started before the LID was known).
    moves: Vec<(DeviceAddress, DeviceAddress)>,
    /// Users whose devices go on the wire under their other identity:
    /// (the user sessions are kept under, the user the stanza names).
    wire: Vec<(Jid, Jid)>,
    /// The stanza's `to`: the chat in the wire namespace.
    to: Jid,
}

impl Fanout {
    /// Nothing known yet about a send to `chat`.
    fn empty(chat: &Jid) -> Fanout {
        Fanout {
            devices: Vec::new(),
            mappings: Vec::new(),
            moves: Vec::new(),
            wire: Vec::new(),
            to: chat.clone(),
        }
    }

    /// Adds one user's devices (but `skip`); returns the user in the wire
    /// namespace.
    fn add_user(
        &mut self,
        pn: Option<&Jid>,
        lid: Option<&Jid>,
        devices: &[u16],
        skip: Option<u16>,
        wire_lid: bool,
    ) -> Option<Jid> {
        let session = lid.or(pn)?;
        let base = DeviceAddress::from_jid(session)?;
        let wire = if wire_lid { lid.or(pn) } else { pn.or(lid) }?.clone();
        if wire != *session {
            self.wire.push((session.clone(), wire.clone()));
        }
        if let (Some(pn), Some(lid)) = (pn, lid) {
            self.mappings.push((lid.user.clone(), pn.user.clone()));
        }
        let pn_base = pn
            .and_then(DeviceAddress::from_jid)
            .filter(|_| lid.is_some());
        for &device in devices.iter().filter(|&&d| Some(d) != skip) {
            let address = base.with_device(device);
            if let Some(pn_base) = &pn_base {
                self.moves
                    .push((pn_base.with_device(device), address.clone()));
            }
            self.devices.push(address);
        }
        Some(wire)
    }
}

/// Our identities once linked: our phone number, our LID when known, and
/// this device's id.
fn own_ids(ctx: &Ctx) -> Option<OwnIds> {
    let own = ctx.own_device()?;
    let lid = ctx
        .creds
        .paired
        .as_ref()
        .and_then(|p| p.lid.as_ref())
        .map(Jid::to_non_ad);
    Some(OwnIds {
        pn: own.user_jid(),
        lid,
        device: own.device(),
        lid_migrated: ctx.creds.lid_migrated,
    })
}

/// Keeps the LID mappings a fan-out learned and moves phone-number
/// sessions to their LID twins (each once: a twin that already has a
/// session keeps it).
fn learn(
    store: &dyn AuthStore,
    mappings: &[(String, String)],
    moves: &[(DeviceAddress, DeviceAddress)],
) -> Result<(), ClientError> {
    if !mappings.is_empty() {
        let pairs: Vec<(&str, &str)> = mappings
            .iter()
            .map(|(lid, pn)| (lid.as_str(), pn.as_str()))
            .collect();
        store.put_lid_mappings(&pairs)?;
    }
    for (from, to) in moves {
        if store.move_peer(from, to)? {
            tracing::info!(%from, %to, "Signal session moved to the LID address");
        }
    }
    Ok(())
}

impl Messaging {
    fn start_send(
        &mut self,
        ctx: &mut Ctx,
        to: &str,
        body: Body,
        reply: SendReply,
        now: Instant,
    ) -> Vec<Action> {
        let Some(chat) = chat_of(to) else {
            let _ = reply.send(Err(ClientError::InvalidRecipient(format!(
                "{to:?} is neither a phone number with country code nor a user JID"
            ))));
            return Vec::new();
        };
        // An account still on phone numbers names a LID chat by the
        // contact's number, read from the store (whatsapp-rust
        // `resolve_dm_wire_jid`).
        if chat.is_lid() && !ctx.creds.lid_migrated {
            return vec![Action::Blocking(Work::new(move |store| {
                let chat_pn = match store.pn_of(&chat.user) {
                    Ok(pn) => pn.map(Jid::pn),
                    Err(e) => {
                        tracing::warn!(%chat, error = %e, "cannot read the LID's phone number");
                        None
                    }
                };
                Then::to::<Messaging>(move |m, ctx, now| {
                    m.send_to(ctx, chat, chat_pn, body, reply, now)
                })
            }))];
        }
        self.send_to(ctx, chat, None, body, reply, now)
    }

    /// Sends to `chat` (whose phone number, for a LID chat, is `chat_pn`
    /// when known): at once when the device lists are cached, else after
    /// a device query.
    fn send_to(
        &mut self,
        ctx: &mut Ctx,
        chat: Jid,
        chat_pn: Option<Jid>,
        body: Body,
        reply: SendReply,
        now: Instant,
    ) -> Vec<Action> {
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let Some(own) = own_ids(ctx) else {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        };
        let id = MessageId::generate();
        let own_user = own.pn.clone();
        // Recent chat: the device lists are known, encrypt at once.
        let known = self.device_lists.get(&chat, now).and_then(|theirs| {
            let ours = self.device_lists.get(&own_user, now)?;
            Some(fan_out(&chat, chat_pn.as_ref(), theirs, &own, ours))
        });
        let fanout = known.unwrap_or_else(|| Fanout::empty(&chat));
        let pending = PendingSend {
            message: Outgoing {
                id: id.clone(),
                chat: chat.clone(),
                body,
            },
            reply,
            devices: fanout.devices,
            mappings: fanout.mappings,
            moves: fanout.moves,
            wire: fanout.wire,
            to: fanout.to,
            resend: false,
            ack_deadline: None,
        };
        let lists_known = !pending.devices.is_empty() && on_own_namespace(&pending.to, &own);
        self.pending.insert(id.clone(), pending);
        if lists_known {
            return self.first_pass(ctx, id, Pass::CachedLists);
        }
        let mut users = vec![chat.clone()];
        if own_user != chat {
            users.push(own_user);
        }
        vec![ctx.send_iq(
            DeviceQuery { users },
            now,
            move |m: &mut Messaging, ctx, answer, now| m.on_devices(ctx, id, chat_pn, answer, now),
        )]
    }

    /// The blocking step after the device lists: keep what the fan-out
    /// learned (LID mappings, sessions moved to LID addresses), then
    /// encrypt with the sessions we have, or learn which bundles to fetch
    /// (after dropping the sessions first, for a resend).
    pub(super) fn first_pass(&mut self, ctx: &Ctx, id: MessageId, pass: Pass) -> Vec<Action> {
        let forget = pass == Pass::Retry;
        let (mappings, moves) = match self.pending.get_mut(&id) {
            Some(p) => (
                std::mem::take(&mut p.mappings),
                std::mem::take(&mut p.moves),
            ),
            None => (Vec::new(), Vec::new()),
        };
        // With lists from the cache, what they teach is on disk already
        // (read back from the cache, not written) and encrypting is a
        // ratchet step per device: light. Fresh lists may create mapping
        // files and a resend deletes sessions: heavy (creating a file can
        // wait on the disk for the inode tables).
        let weight = match pass {
            Pass::CachedLists => Weight::Light,
            Pass::FreshLists | Pass::Retry => Weight::Heavy,
        };
        self.send_work(ctx, id, weight, move |store, keys, message, devices| {
            learn(store, &mappings, &moves)?;
            if forget {
                encrypt::forget_sessions(store, devices)?;
            }
            encrypt::prepare(store, keys, message, devices)
        })
    }

    /// Blocking work on a pending send, with our keys, its message and
    /// its devices; its result comes back to [`Messaging::on_prepared`].
    fn send_work(
        &mut self,
        ctx: &Ctx,
        id: MessageId,
        weight: Weight,
        work: impl FnOnce(
                &dyn AuthStore,
                &OwnKeys,
                &Outgoing,
                &[DeviceAddress],
            ) -> Result<Prepared, ClientError>
            + Send
            + 'static,
    ) -> Vec<Action> {
        let devices = self
            .pending
            .get(&id)
            .map(|p| p.devices.clone())
            .unwrap_or_default();
        self.send_step(
            ctx,
            id,
            weight,
            move |store, keys, message| work(store, keys, message, &devices),
            |m, ctx, id, result, now| m.on_prepared(ctx, id, result, now),
        )
    }

    /// The device lists arrived: find the devices without a session (and
    /// encrypt at once when there are none).
    fn on_devices(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        chat_pn: Option<Jid>,
        answer: Result<HashMap<Jid, UserDevices>, ClientError>,
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
        let Some(theirs) = lists.get(&chat).filter(|u| !u.devices.is_empty()) else {
            let _ = pending
                .reply
                .send(Err(ClientError::NotOnWhatsApp(chat.to_string())));
            return Vec::new();
        };
        let Some(own) = own_ids(ctx) else {
            let _ = pending.reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        };
        let none = UserDevices::default();
        let ours = lists.get(&own.pn).unwrap_or(&none);
        let fanout = fan_out(&chat, chat_pn.as_ref(), theirs, &own, ours);
        if !on_own_namespace(&fanout.to, &own) {
            let _ = pending
                .reply
                .send(Err(ClientError::UnsupportedRecipient(format!(
                    "{chat}: this account still chats by phone number and the contact's number \
                 is not known yet; send to the phone number"
                ))));
            return Vec::new();
        }
        pending.devices = fanout.devices;
        pending.mappings = fanout.mappings;
        pending.moves = fanout.moves;
        pending.wire = fanout.wire;
        pending.to = fanout.to;
        self.pending.insert(id.clone(), pending);
        self.first_pass(ctx, id, Pass::FreshLists)
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
        // X3DH with each new device: heavy.
        self.send_work(
            ctx,
            id,
            Weight::Heavy,
            move |store, keys, message, devices| {
                encrypt::encrypt(store, keys, message, devices, &bundles).map(Prepared::Encrypted)
            },
        )
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
        let Some(pending) = self.pending.get_mut(&id) else {
            return Vec::new();
        };
        // Reported as the chat names the device (its phone number unless
        // our chats are on LID).
        let out: Vec<Action> = encrypted
            .identity_changed
            .iter()
            .map(|d| {
                Action::Emit(Event::IdentityChanged {
                    jid: encrypt::on_wire(&pending.wire, d),
                })
            })
            .collect();
        // A copy for anyone but our own account reaches the recipient
        // (under its phone number or its LID).
        let own = own_ids(ctx);
        let reaches_recipient = encrypted.copies.iter().any(|(d, _)| {
            let user = d.user_jid();
            own.as_ref()
                .is_none_or(|own| user != own.pn && Some(&user) != own.lid.as_ref())
        });
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
        let identity = device_identity(ctx);
        let mut out = out;
        out.push(Action::Send(encrypt::message_stanza(
            &pending.message,
            &encrypted,
            &identity,
            &pending.to,
            &pending.wire,
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
            Some(code) if p.message.chat.is_group() => {
                // The members we cached may be what the server refused.
                self.group_members.forget(&p.message.chat);
                Err(super::group_send::refused(&p.message.chat, code))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn users(devices: &[u16], lid: Option<&str>) -> UserDevices {
        UserDevices {
            devices: devices.to_vec(),
            lid: lid.map(Jid::lid),
        }
    }

    fn own() -> OwnIds {
        OwnIds {
            pn: Jid::pn("15550001111"),
            lid: Some(Jid::lid("700")),
            device: 4,
            lid_migrated: false,
        }
    }

    fn texts(devices: &[DeviceAddress]) -> Vec<String> {
        devices.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_contact_with_a_known_lid_is_encrypted_for_by_lid() {
        let chat = Jid::pn("15552223333");
        let out = fan_out(
            &chat,
            None,
            &users(&[0, 2], Some("900")),
            &own(),
            &users(&[0, 4], None),
        );
        assert_eq!(texts(&out.devices), ["900@lid", "900:2@lid", "700@lid"]);
        assert!(out.mappings.contains(&("900".into(), "15552223333".into())));
        assert!(out.mappings.contains(&("700".into(), "15550001111".into())));
        let moves: Vec<(String, String)> = out
            .moves
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert!(moves.contains(&("15552223333:2@s.whatsapp.net".into(), "900:2@lid".into())));
        assert!(moves.contains(&("15550001111@s.whatsapp.net".into(), "700@lid".into())));
    }

    #[test]
    fn without_a_lid_the_phone_number_addresses_every_device() {
        let chat = Jid::pn("15552223333");
        let me = OwnIds { lid: None, ..own() };
        let out = fan_out(
            &chat,
            None,
            &users(&[0, 2], None),
            &me,
            &users(&[0, 4], None),
        );
        assert_eq!(
            texts(&out.devices),
            [
                "15552223333@s.whatsapp.net",
                "15552223333:2@s.whatsapp.net",
                "15550001111@s.whatsapp.net"
            ]
        );
        assert!(out.mappings.is_empty() && out.moves.is_empty());
    }

    #[test]
    fn a_lid_chat_is_its_own_lid() {
        let chat = Jid::lid("900");
        let out = fan_out(&chat, None, &users(&[0], None), &own(), &users(&[4], None));
        assert_eq!(texts(&out.devices), ["900@lid"]);
        assert!(out.moves.iter().all(|(_, to)| to.user() != "900"));
    }

    #[test]
    fn a_lid_chat_goes_out_by_its_number_from_an_account_still_on_numbers() {
        let chat = Jid::lid("900");
        let number = Jid::pn("15552223333");
        let out = fan_out(
            &chat,
            Some(&number),
            &users(&[0], None),
            &own(),
            &users(&[4], None),
        );
        assert_eq!(out.to, number);
        assert!(out.wire.contains(&(chat.clone(), number.clone())));
        assert_eq!(texts(&out.devices), ["900@lid"]);
        assert!(on_own_namespace(&out.to, &own()));
        // Its number unknown, the LID would be refused by the server.
        let out = fan_out(&chat, None, &users(&[0], None), &own(), &users(&[4], None));
        assert!(!on_own_namespace(&out.to, &own()));
    }

    #[test]
    fn the_wire_namespace_follows_the_accounts_migration() {
        let chat = Jid::pn("15552223333");
        let theirs = users(&[0], Some("900"));
        let ours = users(&[0, 4], None);
        // Not migrated: sessions under the LID, the stanza by phone number.
        let out = fan_out(&chat, None, &theirs, &own(), &ours);
        assert_eq!(out.to, chat);
        assert!(out.wire.contains(&(Jid::lid("900"), chat.clone())));
        assert!(out
            .wire
            .contains(&(Jid::lid("700"), Jid::pn("15550001111"))));
        // Migrated: all by LID.
        let migrated = OwnIds {
            lid_migrated: true,
            ..own()
        };
        let out = fan_out(&chat, None, &theirs, &migrated, &ours);
        assert_eq!(out.to, Jid::lid("900"));
        assert!(out.wire.is_empty());
    }
}
