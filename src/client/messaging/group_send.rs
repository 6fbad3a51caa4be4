//! Sending a text to a group: its members (the group's info), their
//! devices (cached, or a usync query), our sender key handed pairwise to
//! each device that lacks it (fetching prekey bundles for devices we never
//! spoke with), one `skmsg` for everyone, the `<message>` stanza, and the
//! server's `<ack>` that answers the caller. Shapes: wacore
//! `send/group.rs` (`prepare_group_stanza`), whatsmeow `send.go`
//! (`sendGroup`).
//!
//! Crash safety as for 1:1 texts: the advanced sender key and every
//! advanced pairwise session are stored before the stanza leaves; the
//! devices the distribution reached are recorded only once the server
//! accepted the message (a crash before that distributes again, which
//! is harmless).
//!
//! Owns: the group send flow and its stanza. Must not touch: the 1:1
//! send flow (it shares the pending sends, the ack and the device-list
//! cache), the group iqs' shapes (`groups`).

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::body::Body;
use super::bundles::BundleFetch;
use super::device_lists::UserDevices;
use super::encrypt::{self, Encrypted, Outgoing};
use super::keys::{device_identity, OwnKeys};
use super::peers;
use super::sender_keys;
use super::state::{Messaging, PendingSend, SendReply};
use super::usync::DeviceQuery;
use crate::client::core::{Action, Ctx, Phase, Then, Weight, Work};
use crate::client::events::Event;
use crate::client::groups::{AddressingMode, GroupInfo, GroupInfoQuery};
use crate::client::ClientError;
use crate::proto::text;
use crate::signal::{self, PreKeyBundle};
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid, MessageId};
use crate::wire::Node;

/// The send command for a group: a message to `group`, answered once the
/// server accepted it.
pub fn send_group(group: Jid, body: Body, reply: SendReply) -> Then {
    Then::to::<Messaging>(move |m, ctx, now| m.start_group_send(ctx, group, body, reply, now))
}

/// Where a group text goes: our sending device (by phone number or LID,
/// as the group addresses members) and every other device of every
/// member, ours included.
#[derive(Clone, Debug)]
pub struct Route {
    pub sending: DeviceAddress,
    pub mode: AddressingMode,
    pub devices: Vec<DeviceAddress>,
}

/// A group text ready to leave.
#[derive(Debug)]
pub struct GroupReady {
    /// Our sender key for the devices that lacked it, one pairwise copy each.
    pub distribution: Encrypted,
    pub skmsg: Vec<u8>,
    /// The participant-list hash of the devices (wacore `phash`).
    pub phash: String,
    /// Members whose sessions are kept under their LID while the group
    /// names them by phone number (session user, wire user).
    pub wire: Vec<(Jid, Jid)>,
}

/// What [`prepare`] found.
#[derive(Debug)]
pub enum GroupPrepared {
    Ready(GroupReady),
    /// These devices need a prekey bundle first; nothing was written.
    NeedBundles(Vec<DeviceAddress>),
}

/// Our device as a group addressed `mode` knows it; `None` for a LID
/// group while our own LID is unknown.
pub(super) fn sending_device(ctx: &Ctx, mode: AddressingMode) -> Option<DeviceAddress> {
    let own = ctx.own_device()?;
    match mode {
        AddressingMode::Pn => Some(own),
        AddressingMode::Lid => {
            let lid = ctx.creds.paired.as_ref()?.lid.as_ref()?;
            DeviceAddress::lid(lid.user.clone(), own.device())
        }
    }
}

impl Messaging {
    fn start_group_send(
        &mut self,
        ctx: &mut Ctx,
        group: Jid,
        body: Body,
        reply: SendReply,
        now: Instant,
    ) -> Vec<Action> {
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let id = MessageId::generate();
        let message = Outgoing {
            id: id.clone(),
            chat: group.clone(),
            body,
        };
        self.pending
            .insert(id.clone(), PendingSend::new(message, reply));
        let epoch = ctx.groups_epoch;
        if let Some(info) = self.group_members.get(&group, epoch, now) {
            return self.on_group_info(ctx, id, Ok(info), now);
        }
        vec![ctx.send_iq(
            GroupInfoQuery { group },
            now,
            move |m: &mut Messaging, ctx, answer, now| {
                if let Ok(info) = &answer {
                    m.group_members.insert(info, epoch, now);
                }
                m.on_group_info(ctx, id, answer, now)
            },
        )]
    }

    /// The members are known (from the server, or cached by
    /// `group_members`): their device lists, from the cache when every
    /// one is fresh there.
    fn on_group_info(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        answer: Result<GroupInfo, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(info) = self.or_fail(&id, answer) else {
            return Vec::new();
        };
        let mode = info.addressing_mode;
        let Some(sending) = sending_device(ctx, mode) else {
            self.fail_send(
                &id,
                ClientError::UnsupportedRecipient(format!(
                    "{}: the group addresses members by LID and this session's LID is not known yet",
                    info.jid
                )),
            );
            return Vec::new();
        };
        let mut users: Vec<Jid> = info.participants.iter().map(|p| p.jid.clone()).collect();
        users.push(sending.user_jid());
        users.sort();
        users.dedup();
        let cached: Option<HashMap<Jid, UserDevices>> = users
            .iter()
            .map(|u| Some((u.clone(), self.device_lists.get(u, now)?.clone())))
            .collect();
        if let Some(lists) = cached {
            return self.on_group_devices(ctx, id, sending, mode, Ok(lists), now);
        }
        vec![ctx.send_iq(
            DeviceQuery { users },
            now,
            move |m: &mut Messaging, ctx, answer, now| {
                m.on_group_devices(ctx, id, sending, mode, answer, now)
            },
        )]
    }

    fn on_group_devices(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        sending: DeviceAddress,
        mode: AddressingMode,
        answer: Result<HashMap<Jid, UserDevices>, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let Some(lists) = self.or_fail(&id, answer) else {
            return Vec::new();
        };
        self.device_lists.insert(&lists, now);
        let mut devices: Vec<DeviceAddress> = lists
            .iter()
            .filter_map(|(user, ids)| Some((DeviceAddress::from_jid(user)?, ids)))
            .flat_map(|(base, ids)| ids.devices.iter().map(move |&d| base.with_device(d)))
            .filter(|d| *d != sending)
            .collect();
        devices.sort_by_cached_key(ToString::to_string);
        devices.dedup();
        let route = Route {
            sending,
            mode,
            devices,
        };
        self.group_pass(ctx, id, route, None)
    }

    /// The blocking step: distribute our sender key where it is missing
    /// and encrypt the text (or learn which bundles to fetch first).
    fn group_pass(
        &mut self,
        ctx: &Ctx,
        id: MessageId,
        route: Route,
        bundles: Option<HashMap<DeviceAddress, PreKeyBundle>>,
    ) -> Vec<Action> {
        self.send_step(
            ctx,
            id,
            Weight::Heavy,
            move |store, keys, message| {
                let result = prepare(store, keys, message, &route, bundles.as_ref());
                (result, route)
            },
            |m, ctx, id, (result, route), now| m.on_group_prepared(ctx, id, route, result, now),
        )
    }

    fn on_group_prepared(
        &mut self,
        ctx: &mut Ctx,
        id: MessageId,
        route: Route,
        result: Result<GroupPrepared, ClientError>,
        now: Instant,
    ) -> Vec<Action> {
        let ready = match result {
            Ok(GroupPrepared::Ready(ready)) => ready,
            Ok(GroupPrepared::NeedBundles(missing)) => {
                let spec = BundleFetch { devices: missing };
                return vec![ctx.send_iq(
                    spec,
                    now,
                    move |m: &mut Messaging, ctx, answer, _| match m.or_fail(&id, answer) {
                        Some(bundles) => m.group_pass(ctx, id, route, Some(bundles)),
                        None => Vec::new(),
                    },
                )];
            }
            Err(e) => {
                self.fail_send(&id, e);
                return Vec::new();
            }
        };
        for (device, why) in &ready.distribution.skipped {
            tracing::warn!(%device, %why, "device left without our sender key");
        }
        let mut out: Vec<Action> = ready
            .distribution
            .identity_changed
            .iter()
            .map(|d| {
                Action::Emit(Event::IdentityChanged {
                    jid: encrypt::on_wire(&ready.wire, d),
                })
            })
            .collect();
        let Some(pending) = self.pending.get_mut(&id) else {
            return out;
        };
        // Recorded as holding our key once the server accepts the message.
        pending.devices = ready
            .distribution
            .copies
            .iter()
            .filter_map(|(d, _)| DeviceAddress::from_jid(&encrypt::on_wire(&ready.wire, d)))
            .collect();
        pending.ack_deadline = Some(now + ctx.config.iq_timeout);
        let identity = device_identity(ctx);
        out.push(Action::Send(group_stanza(
            &pending.message,
            &ready,
            route.mode,
            &identity,
        )));
        out
    }
}

/// The server refused a text to `group` with `code`: no such group (404)
/// or not a member (403), as the group iqs say it, or another refusal.
pub(super) fn refused(group: &Jid, code: &str) -> ClientError {
    match code {
        "404" => ClientError::GroupNotFound(group.to_string()),
        "403" => ClientError::GroupNotFound(format!("{group}: not a member")),
        _ => ClientError::Server {
            code: code.to_string(),
            text: "message refused".into(),
        },
    }
}

/// After the server's ack of a text: for a group, the devices our sender
/// key reached now hold it (a blocking store write), so later texts skip
/// them.
pub(super) fn after_ack(pending: &PendingSend, accepted: bool) -> Vec<Action> {
    let group = &pending.message.chat;
    if !accepted || !group.is_group() || pending.devices.is_empty() {
        return Vec::new();
    }
    let (group, devices) = (group.user.clone(), pending.devices.clone());
    vec![Action::Blocking(Work::new(move |store| {
        if let Err(e) = store.add_sender_key_devices(&group, &devices) {
            tracing::warn!(%group, error = %e, "cannot record who holds our sender key");
        }
        Then::nothing()
    }))]
}

/// Creates our sender key for the group on first use, encrypts its
/// distribution for every device of the route that lacks it, and the
/// text as one `skmsg`. Everything advanced is stored before this
/// returns `Ready`; with devices lacking a session and no `bundles` yet,
/// nothing is written and they are named.
pub fn prepare(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    message: &Outgoing,
    route: &Route,
    bundles: Option<&HashMap<DeviceAddress, PreKeyBundle>>,
) -> Result<GroupPrepared, ClientError> {
    let group = &message.chat;
    let mut own = sender_keys::load(store, group, &route.sending)?;
    let distribution = signal::create_distribution(&mut own.record);
    let holders = store.sender_key_devices(&group.user)?;
    let targets: Vec<DeviceAddress> = route
        .devices
        .iter()
        .filter(|d| !holders.contains(d))
        .cloned()
        .collect();
    let (sessions, wire) = session_addresses(store, &targets)?;
    let peers = encrypt::load_peers(store, &sessions);
    let no_bundles = HashMap::new();
    let bundles = match bundles {
        Some(bundles) => bundles,
        None => {
            let missing = encrypt::without_session(&peers);
            if !missing.is_empty() {
                return Ok(GroupPrepared::NeedBundles(missing));
            }
            &no_bundles
        }
    };
    let plaintext = sender_keys::distribution_plaintext(group, &distribution);
    let (distributed, advanced) =
        encrypt::encrypt_pairwise(keys, peers, bundles, |_| plaintext.as_slice());
    let padded = text::pad(&message.body.encode());
    let skmsg = signal::group_encrypt(&mut own.record, &padded)
        .map_err(|e| ClientError::Creds(format!("our sender key for {group}: {e}")))?;
    // Both are stored before the stanza can leave.
    sender_keys::save(store, group, &route.sending, &own)?;
    peers::save(store, &advanced)?;
    Ok(GroupPrepared::Ready(GroupReady {
        distribution: distributed,
        skmsg,
        phash: phash(&route.devices, &route.sending),
        wire,
    }))
}

/// Where each target device's pairwise session is kept: under the
/// member's LID once it is known (a session still under the phone number
/// is moved there first), as 1:1 chats keep them, so a member never ends
/// up with two sessions for one device. Also says which LID users the
/// stanza names by phone number.
fn session_addresses(
    store: &dyn AuthStore,
    targets: &[DeviceAddress],
) -> Result<(Vec<DeviceAddress>, encrypt::WireNames), ClientError> {
    let mut sessions = Vec::with_capacity(targets.len());
    let mut wire = encrypt::WireNames::new();
    for device in targets {
        let lid = match device.is_lid() {
            true => None,
            false => store.lid_of(device.user())?,
        };
        let Some(twin) = lid.and_then(|lid| DeviceAddress::lid(lid, device.device())) else {
            sessions.push(device.clone());
            continue;
        };
        super::decrypt::move_to_lid(store, &twin, Some(&device.user_jid()))?;
        let pair = (twin.user_jid(), device.user_jid());
        if !wire.contains(&pair) {
            wire.push(pair);
        }
        sessions.push(twin);
    }
    Ok((sessions, wire))
}

/// Where our session with `device` is kept (see [`session_addresses`]).
pub(super) fn session_address(
    store: &dyn AuthStore,
    device: &DeviceAddress,
) -> Result<DeviceAddress, ClientError> {
    let (sessions, _) = session_addresses(store, std::slice::from_ref(device))?;
    Ok(sessions
        .into_iter()
        .next()
        .unwrap_or_else(|| device.clone()))
}

/// The participant-list hash: every device the message is for and the
/// sending one, each as `user.0:device@server`, sorted and concatenated,
/// SHA-256, `2:` and the first 6 bytes in base64 without padding (wacore
/// `MessageUtils::participant_list_hash`, whatsmeow `participantListHashV2`).
pub fn phash(devices: &[DeviceAddress], sending: &DeviceAddress) -> String {
    let mut forms: Vec<String> = devices
        .iter()
        .chain(std::iter::once(sending))
        .map(|d| {
            let server = if d.is_lid() { "lid" } else { "s.whatsapp.net" };
            format!("{}.0:{}@{server}", d.user(), d.device())
        })
        .collect();
    forms.sort();
    forms.dedup();
    let mut hash = Sha256::new();
    for form in &forms {
        hash.update(form.as_bytes());
    }
    let digest = hash.finalize();
    format!("2:{}", STANDARD_NO_PAD.encode(&digest[..6]))
}

/// `<message to=GROUP id type="text" addressing_mode phash>` holding the
/// pairwise copies of our sender key (`<participants>`, and our
/// `<device-identity>` when one starts a session) and then the
/// `<enc type="skmsg">` every member decrypts (wacore `send/group.rs`).
pub fn group_stanza(
    message: &Outgoing,
    ready: &GroupReady,
    mode: AddressingMode,
    device_identity: &[u8],
) -> Node {
    let mut children = if ready.distribution.copies.is_empty() {
        Vec::new()
    } else {
        encrypt::copies_nodes(
            &message.body,
            &ready.distribution,
            device_identity,
            &ready.wire,
        )
    };
    children.push(message.body.enc("skmsg", ready.skmsg.clone()));
    Node::new("message")
        .attr("id", message.id.as_str())
        .attr("to", message.chat.to_string())
        .attr("type", message.body.stanza_type())
        .attr("addressing_mode", mode.as_str())
        .attr("phash", ready.phash.as_str())
        .children(children)
}
