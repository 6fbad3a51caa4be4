//! Answering a retry receipt for a group text: a member's device could
//! not read our `skmsg` (it lost our sender key, e.g. after reinstalling,
//! while our store still counts it as holding the key). As whatsmeow
//! `retry.go` does, the text goes again to that device alone, pairwise
//! over a fresh session, with our sender key's distribution in the same
//! plaintext: `<message to=GROUP participant=DEVICE id type="text"><enc
//! count="1"/>`. Once the server accepts it the device holds our key
//! again (`group_send::after_ack`), so later texts are one `skmsg` again.
//!
//! Owns: that resend. Must not touch: the group send flow (this shares
//! its pending sends, its ack and where sessions are kept), the 1:1
//! retry (`retry`).

use std::collections::HashMap;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::bundles::BundleFetch;
use super::encrypt::{self, Encrypted, Outgoing};
use super::group_send::{sending_device, session_address};
use super::keys::{device_identity, OwnKeys};
use super::peers;
use super::sender_keys;
use super::state::{Messaging, PendingSend};
use crate::client::core::{Action, Ctx, Then, Weight, Work};
use crate::client::events::Event;
use crate::client::groups::AddressingMode;
use crate::client::ClientError;
use crate::signal::{self, CiphertextMessage, PreKeyBundle};
use crate::store::AuthStore;
use crate::types::{DeviceAddress, MessageId};
use crate::wire::Node;

/// Where a resend goes.
#[derive(Clone, Debug)]
struct Target {
    /// The device as the group names it (the receipt's `participant`).
    wire: DeviceAddress,
    /// Where our session with it is kept (under its LID when known).
    session: DeviceAddress,
    /// Our device as the group names it: whose sender key is handed over.
    sending: DeviceAddress,
}

impl Messaging {
    /// `device` asked again for group text `message`.
    pub(super) fn resend_to_member(
        &mut self,
        ctx: &Ctx,
        message: Outgoing,
        device: DeviceAddress,
    ) -> Vec<Action> {
        let mode = match device.is_lid() {
            true => AddressingMode::Lid,
            false => AddressingMode::Pn,
        };
        let Some(sending) = sending_device(ctx, mode) else {
            tracing::info!(id = %message.id, %device, "retry in a group whose namespace we lack");
            return Vec::new();
        };
        let id = message.id.clone();
        // Nobody waits for a resend; its outcome is only logged.
        let (reply, _) = oneshot::channel();
        let mut pending = PendingSend::new(message, reply);
        pending.devices = vec![device.clone()];
        pending.resend = true;
        self.pending.insert(id.clone(), pending);
        vec![Action::Blocking(Work::new(move |store| {
            let result = fresh_session(store, &device);
            Then::to::<Messaging>(move |m, ctx, now| {
                let Some(session) = m.or_fail(&id, result) else {
                    return Vec::new();
                };
                let target = Target {
                    wire: device,
                    session,
                    sending,
                };
                m.fetch_for_resend(ctx, id, target, now)
            })
        }))]
    }

    fn fetch_for_resend(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        target: Target,
        now: Instant,
    ) -> Vec<Action> {
        let spec = BundleFetch {
            devices: vec![target.session.clone()],
        };
        vec![
            ctx.send_iq(spec, now, move |m: &mut Messaging, ctx, answer, _| match m
                .or_fail(&id, answer)
            {
                Some(bundles) => m.encrypt_resend(ctx, id, target, bundles),
                None => Vec::new(),
            }),
        ]
    }

    fn encrypt_resend(
        &mut self,
        ctx: &Ctx,
        id: MessageId,
        target: Target,
        bundles: HashMap<DeviceAddress, PreKeyBundle>,
    ) -> Vec<Action> {
        self.send_step(
            ctx,
            id,
            Weight::Heavy,
            move |store, keys, message| {
                let result = encrypt_for_member(store, keys, message, &target, &bundles);
                (result, target)
            },
            |m, ctx, id, (result, target), now| m.send_resend(ctx, id, target, result, now),
        )
    }

    fn send_resend(
        &mut self,
        ctx: &Ctx,
        id: MessageId,
        target: Target,
        result: Result<Encrypted, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(encrypted) = self.or_fail(&id, result) else {
            return Vec::new();
        };
        let Some((_, copy)) = encrypted.copies.first() else {
            tracing::warn!(%id, device = %target.wire, why = ?encrypted.skipped, "group retry not answered");
            self.pending.remove(&id);
            return Vec::new();
        };
        let mut out: Vec<Action> = Vec::new();
        if !encrypted.identity_changed.is_empty() {
            out.push(Action::Emit(Event::IdentityChanged {
                jid: target.wire.jid(),
            }));
        }
        let Some(pending) = self.pending.get_mut(&id) else {
            return out;
        };
        pending.ack_deadline = Some(now + ctx.config.iq_timeout);
        let identity = device_identity(ctx);
        out.push(Action::Send(resend_stanza(
            &pending.message,
            &target.wire,
            copy,
            &identity,
        )));
        out
    }
}

/// Where our session with `device` is kept, archived: the device asked
/// again because its side is gone or broken, so a new one starts from a
/// fresh bundle.
fn fresh_session(
    store: &dyn AuthStore,
    device: &DeviceAddress,
) -> Result<DeviceAddress, ClientError> {
    let session = session_address(store, device)?;
    encrypt::forget_sessions(store, std::slice::from_ref(&session))?;
    Ok(session)
}

/// The text and our sender key's current distribution, encrypted for the
/// target device alone; its advanced session (and our sender key, should
/// the distribution have started one) stored before it can leave.
fn encrypt_for_member(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    message: &Outgoing,
    target: &Target,
    bundles: &HashMap<DeviceAddress, PreKeyBundle>,
) -> Result<Encrypted, ClientError> {
    let group = &message.chat;
    let mut own = sender_keys::load(store, group, &target.sending)?;
    let distribution = signal::create_distribution(&mut own.record);
    let content = message.body.encode();
    let plaintext = sender_keys::with_distribution(&content, group, &distribution);
    let peers = encrypt::load_peers(store, std::slice::from_ref(&target.session));
    let (out, advanced) = encrypt::encrypt_pairwise(keys, peers, bundles, |_| plaintext.as_slice());
    sender_keys::save(store, group, &target.sending, &own)?;
    peers::save(store, &advanced)?;
    Ok(out)
}

/// `<message id to=GROUP participant=DEVICE type="text"><enc v="2" type
/// count="1"/>` plus our `<device-identity>` for a `pkmsg` (whatsmeow
/// `sendRetryReceipt`'s answer in `retry.go`).
fn resend_stanza(
    message: &Outgoing,
    device: &DeviceAddress,
    copy: &CiphertextMessage,
    device_identity: &[u8],
) -> Node {
    let mut children = vec![message
        .body
        .enc(copy.enc_type(), copy.bytes().to_vec())
        .attr("count", "1")];
    if matches!(copy, CiphertextMessage::PreKey(_)) && !device_identity.is_empty() {
        children.push(Node::new("device-identity").bytes(device_identity.to_vec()));
    }
    Node::new("message")
        .attr("id", message.id.as_str())
        .attr("to", message.chat.to_string())
        .attr("participant", device.to_string())
        .attr("type", message.body.stanza_type())
        .children(children)
}
