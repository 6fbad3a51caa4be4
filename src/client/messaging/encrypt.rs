//! Encrypting a text for every device it goes to: the blocking steps
//! between the device lists and the `<message>` stanza, and that stanza.
//!
//! 1. [`prepare`]: with a session for every device (the usual case) this
//!    already encrypts; otherwise it names the devices whose bundles must
//!    be fetched (`bundles`), and [`encrypt`] follows with them. Either
//!    way one copy per device, each session written back before the
//!    stanza leaves, so a crash after this step only skips a counter the
//!    receiver tolerates; it never reuses a message key.
//! 2. [`message_stanza`], then the server's `<ack>` confirms it.

use std::collections::HashMap;

use super::body::Body;
use super::keys::OwnKeys;
use super::peers::{self, PeerState};
use crate::client::ClientError;
use crate::proto::text;
use crate::signal::{self, CiphertextMessage, IdentityCheck, PreKeyBundle};
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid, MessageId};
use crate::wire::Node;

/// A message on its way out.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: MessageId,
    /// The recipient's user JID.
    pub chat: Jid,
    pub body: Body,
}

/// The devices that still need a prekey bundle.
#[derive(Debug, Default)]
pub struct Plan {
    pub missing: Vec<DeviceAddress>,
}

/// What [`prepare`] found.
#[derive(Debug)]
pub enum Prepared {
    /// Every device had a session: the copies are ready.
    Encrypted(Encrypted),
    /// These devices need a bundle first; nothing was written.
    NeedBundles(Plan),
}

/// Encrypts `message` for every device if each has a session; otherwise
/// reports the ones without. Each peer file is read once.
pub fn prepare(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    message: &Outgoing,
    devices: &[DeviceAddress],
) -> Result<Prepared, ClientError> {
    let peers = load_peers(store, devices);
    let missing = without_session(&peers);
    if !missing.is_empty() {
        return Ok(Prepared::NeedBundles(Plan { missing }));
    }
    encrypt_loaded(store, keys, message, peers, &HashMap::new()).map(Prepared::Encrypted)
}

/// The devices among `peers` that have no session yet.
pub fn without_session(peers: &[(DeviceAddress, PeerState)]) -> Vec<DeviceAddress> {
    peers
        .iter()
        .filter(|(_, p)| !p.session.has_current_session())
        .map(|(d, _)| d.clone())
        .collect()
}

/// Each device's state; an unreadable file counts as no session (a new
/// one replaces it).
pub fn load_peers(
    store: &dyn AuthStore,
    devices: &[DeviceAddress],
) -> Vec<(DeviceAddress, PeerState)> {
    devices
        .iter()
        .map(|d| (d.clone(), peers::load(store, d).unwrap_or_default()))
        .collect()
}

/// Drops our sessions with `devices` (they asked for a retry: theirs is
/// gone), so the next message starts new ones from fresh bundles.
pub fn forget_sessions(
    store: &dyn AuthStore,
    devices: &[DeviceAddress],
) -> Result<(), ClientError> {
    for d in devices {
        let mut peer = peers::load(store, d).unwrap_or_default();
        if peer.session.has_current_session() {
            peer.session.archive_current();
            peers::save(store, &[(d.clone(), peer)])?;
        }
    }
    Ok(())
}

/// The copies of one message.
#[derive(Debug)]
pub struct Encrypted {
    pub copies: Vec<(DeviceAddress, CiphertextMessage)>,
    /// Devices left out (no bundle, bad bundle), with why.
    pub skipped: Vec<(DeviceAddress, String)>,
    /// Devices whose identity key changed since our last session.
    pub identity_changed: Vec<DeviceAddress>,
}

impl Encrypted {
    pub fn has_prekey_message(&self) -> bool {
        self.copies
            .iter()
            .any(|(_, c)| matches!(c, CiphertextMessage::PreKey(_)))
    }
}

/// Encrypts `message` for every device: the plain text for the
/// recipient's devices, a `DeviceSentMessage` for our own. Devices with
/// neither a session nor a usable bundle are left out.
pub fn encrypt(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    message: &Outgoing,
    devices: &[DeviceAddress],
    bundles: &HashMap<DeviceAddress, PreKeyBundle>,
) -> Result<Encrypted, ClientError> {
    let peers = load_peers(store, devices);
    encrypt_loaded(store, keys, message, peers, bundles)
}

fn encrypt_loaded(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    message: &Outgoing,
    peers: Vec<(DeviceAddress, PeerState)>,
    bundles: &HashMap<DeviceAddress, PreKeyBundle>,
) -> Result<Encrypted, ClientError> {
    let for_them = text::pad(&message.body.encode());
    let for_us = text::pad(&message.body.encode_device_sent(&message.chat.to_string()));
    let (out, advanced) = encrypt_pairwise(keys, peers, bundles, |device| {
        if keys.is_own(device) {
            &for_us
        } else {
            &for_them
        }
    });
    // Every advanced session is stored before any copy can leave.
    peers::save(store, &advanced)?;
    Ok(out)
}

/// Encrypts `plaintext_for(device)` for every device on a copy of its
/// state, starting a session from its bundle where it has none; devices
/// with neither a session nor a usable bundle are left out. Returns the
/// copies and the advanced states, which the caller stores before any
/// copy leaves.
pub fn encrypt_pairwise<'a>(
    keys: &OwnKeys,
    peers: Vec<(DeviceAddress, PeerState)>,
    bundles: &HashMap<DeviceAddress, PreKeyBundle>,
    plaintext_for: impl Fn(&DeviceAddress) -> &'a [u8],
) -> (Encrypted, Vec<(DeviceAddress, PeerState)>) {
    let mut out = Encrypted {
        copies: Vec::with_capacity(peers.len()),
        skipped: Vec::new(),
        identity_changed: Vec::new(),
    };
    let mut advanced = Vec::with_capacity(peers.len());
    for (device, mut peer) in peers {
        if !peer.session.has_current_session() {
            let Some(bundle) = bundles.get(&device) else {
                out.skipped.push((device, "no prekey bundle".into()));
                continue;
            };
            match signal::initiate_session(
                &mut peer.session,
                &keys.identity,
                keys.registration_id,
                bundle,
            ) {
                Ok(IdentityCheck::Changed) => out.identity_changed.push(device.clone()),
                Ok(_) => {}
                Err(e) => {
                    out.skipped.push((device, e.to_string()));
                    continue;
                }
            }
        }
        let plaintext = plaintext_for(&device);
        let ciphertext = match signal::encrypt(&mut peer.session, &keys.identity, plaintext) {
            Ok(c) => c,
            Err(e) => {
                out.skipped.push((device, e.to_string()));
                continue;
            }
        };
        out.copies.push((device.clone(), ciphertext));
        advanced.push((device, peer));
    }
    (out, advanced)
}

/// Users whose sessions are kept under one identity while a stanza names
/// them by the other: (session user, wire user).
pub type WireNames = Vec<(Jid, Jid)>;

/// How the stanza names `device`: under the user's other identity when
/// `wire` says its sessions are kept under this one and the stanza
/// speaks the other (session user, wire user).
pub fn on_wire(wire: &[(Jid, Jid)], device: &DeviceAddress) -> Jid {
    let user = device.user_jid();
    wire.iter()
        .find(|(session, _)| *session == user)
        .map_or_else(
            || device.jid(),
            |(_, w)| w.clone().with_device(device.device()),
        )
}

/// `<message id to type="text"><participants><to jid><enc v="2" type>..`
/// plus our `<device-identity>` when a copy starts a session (whatsmeow
/// `sendDM`, wacore `send.rs`).
///
/// `to` is the chat in the wire namespace; `wire` names, for users whose
/// sessions are kept under their other identity, the user the stanza
/// addresses their devices by.
pub fn message_stanza(
    message: &Outgoing,
    encrypted: &Encrypted,
    device_identity: &[u8],
    to: &Jid,
    wire: &[(Jid, Jid)],
) -> Node {
    Node::new("message")
        .attr("id", message.id.as_str())
        .attr("to", to.to_string())
        .attr("type", message.body.stanza_type())
        .children(copies_nodes(
            &message.body,
            encrypted,
            device_identity,
            wire,
        ))
}

/// `<participants>` with one `<to jid><enc v="2" type>` per copy (each
/// device named as [`on_wire`] says), then our `<device-identity>` when a
/// copy starts a session.
pub fn copies_nodes(
    body: &Body,
    encrypted: &Encrypted,
    device_identity: &[u8],
    wire: &[(Jid, Jid)],
) -> Vec<Node> {
    let participants = encrypted
        .copies
        .iter()
        .map(|(device, c)| {
            Node::new("to")
                .attr("jid", on_wire(wire, device).to_string())
                .children(vec![body.enc(c.enc_type(), c.bytes().to_vec())])
        })
        .collect();
    let mut children = vec![Node::new("participants").children(participants)];
    if encrypted.has_prekey_message() && !device_identity.is_empty() {
        children.push(Node::new("device-identity").bytes(device_identity.to_vec()));
    }
    children
}
