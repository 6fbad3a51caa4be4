//! Sending: the blocking steps between the device-list answer and the
//! `<message>` stanza, and the stanzas of that exchange.
//!
//! 1. [`prepare`]: with a session for every device (the usual case) this
//!    already encrypts; otherwise it names the devices whose bundles must
//!    be fetched ([`prekey_fetch`]), and [`encrypt`] follows with them.
//!    Either way one copy per device, each session written back before
//!    the stanza leaves, so a crash after this step only skips a counter
//!    the receiver tolerates; it never reuses a message key.
//! 2. [`message_stanza`], then the server's `<ack>` confirms it.

use std::collections::HashMap;

use super::address::DeviceAddress;
use super::receive::OwnKeys;
use super::store::{PeerState, SignalStore};
use crate::client::ClientError;
use crate::proto::text::{self, Quote};
use crate::signal::{self, CiphertextMessage, IdentityCheck, PreKeyBundle};
use crate::store::SessionDir;
use crate::wire::Node;

/// A text on its way out.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: String,
    /// The recipient's user JID.
    pub chat: String,
    pub text: String,
    pub quoted: Option<Quote>,
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
    dir: &SessionDir,
    keys: &OwnKeys,
    message: &Outgoing,
    devices: &[DeviceAddress],
) -> Result<Prepared, ClientError> {
    let store = SignalStore::new(dir);
    let peers = load_peers(&store, devices);
    let missing: Vec<DeviceAddress> = peers
        .iter()
        .filter(|(_, p)| !p.session.has_current_session())
        .map(|(d, _)| d.clone())
        .collect();
    if !missing.is_empty() {
        return Ok(Prepared::NeedBundles(Plan { missing }));
    }
    encrypt_loaded(&store, keys, message, peers, &HashMap::new()).map(Prepared::Encrypted)
}

/// Each device's state; an unreadable file counts as no session (a new
/// one replaces it).
fn load_peers(
    store: &SignalStore<'_>,
    devices: &[DeviceAddress],
) -> Vec<(DeviceAddress, PeerState)> {
    devices
        .iter()
        .map(|d| (d.clone(), store.peer(d).unwrap_or_default()))
        .collect()
}

/// Drops our sessions with `devices` (they asked for a retry: theirs is
/// gone), so the next message starts new ones from fresh bundles.
pub fn forget_sessions(dir: &SessionDir, devices: &[DeviceAddress]) -> Result<(), ClientError> {
    let store = SignalStore::new(dir);
    for d in devices {
        let mut peer = store.peer(d).unwrap_or_default();
        if peer.session.has_current_session() {
            peer.session.archive_current();
            store.save_peer(d, &peer)?;
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
    dir: &SessionDir,
    keys: &OwnKeys,
    message: &Outgoing,
    devices: &[DeviceAddress],
    bundles: &HashMap<DeviceAddress, PreKeyBundle>,
) -> Result<Encrypted, ClientError> {
    let store = SignalStore::new(dir);
    let peers = load_peers(&store, devices);
    encrypt_loaded(&store, keys, message, peers, bundles)
}

fn encrypt_loaded(
    store: &SignalStore<'_>,
    keys: &OwnKeys,
    message: &Outgoing,
    peers: Vec<(DeviceAddress, PeerState)>,
    bundles: &HashMap<DeviceAddress, PreKeyBundle>,
) -> Result<Encrypted, ClientError> {
    let for_them = text::pad(&text::encode(&message.text, message.quoted.as_ref()));
    let for_us = text::pad(&text::encode_device_sent(
        &message.chat,
        &message.text,
        message.quoted.as_ref(),
    ));
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
        let plaintext = if device.user == keys.user && !device.lid {
            &for_us
        } else {
            &for_them
        };
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
    // Every advanced session is on disk before any copy can leave.
    store.save_peers(&advanced)?;
    Ok(out)
}

/// `<message id to type="text"><participants><to jid><enc v="2" type>..`
/// plus our `<device-identity>` when a copy starts a session (whatsmeow
/// `sendDM`, wacore `send.rs`).
pub fn message_stanza(message: &Outgoing, encrypted: &Encrypted, device_identity: &[u8]) -> Node {
    let participants = encrypted
        .copies
        .iter()
        .map(|(device, c)| {
            Node::new("to")
                .attr("jid", device.jid())
                .children(vec![Node::new("enc")
                    .attr("v", "2")
                    .attr("type", c.enc_type())
                    .bytes(c.bytes().to_vec())])
        })
        .collect();
    let mut children = vec![Node::new("participants").children(participants)];
    if encrypted.has_prekey_message() && !device_identity.is_empty() {
        children.push(Node::new("device-identity").bytes(device_identity.to_vec()));
    }
    Node::new("message")
        .attr("id", message.id.as_str())
        .attr("to", message.chat.as_str())
        .attr("type", "text")
        .children(children)
}

/// `<iq xmlns="usync" type="get"><usync context="message" mode="query"
/// ..><query><devices version="2"/></query><list><user jid/>..` (whatsmeow
/// `usync.go`, wacore `usync.rs`).
pub fn device_query(iq_id: &str, sid: &str, users: &[String]) -> Node {
    let list = users
        .iter()
        .map(|u| Node::new("user").attr("jid", u.as_str()))
        .collect();
    crate::client::stanzas::iq(
        iq_id,
        "usync",
        "get",
        vec![Node::new("usync")
            .attr("sid", sid)
            .attr("mode", "query")
            .attr("last", "true")
            .attr("index", "0")
            .attr("context", "message")
            .children(vec![
                Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
                Node::new("list").children(list),
            ])],
    )
}

/// Device ids per user JID from a usync answer. A user whose device list
/// is empty (or missing) is not on WhatsApp.
pub fn parse_device_lists(answer: &Node) -> HashMap<String, Vec<u16>> {
    let users = answer
        .child("usync")
        .and_then(|u| u.child("list"))
        .map(|l| l.child_nodes())
        .unwrap_or_default();
    users
        .iter()
        .filter(|u| u.tag == "user")
        .filter_map(|u| {
            let jid = u.get_attr("jid")?;
            let user = DeviceAddress::parse(jid)?.user_jid();
            let ids = u
                .child("devices")
                .and_then(|d| d.child("device-list"))
                .map(|l| l.child_nodes())
                .unwrap_or_default()
                .iter()
                .filter(|d| d.tag == "device")
                .filter_map(|d| d.get_attr("id")?.parse().ok())
                .collect();
            Some((user, ids))
        })
        .collect()
}

/// `<iq xmlns="encrypt" type="get"><key><user jid/>..</key></iq>`.
pub fn prekey_fetch(iq_id: &str, devices: &[DeviceAddress]) -> Node {
    let users = devices
        .iter()
        .map(|d| Node::new("user").attr("jid", d.jid()))
        .collect();
    crate::client::stanzas::iq(
        iq_id,
        "encrypt",
        "get",
        vec![Node::new("key").children(users)],
    )
}

/// The bundles of a prekey answer (`<list><user jid>..`); users that
/// answer with an `<error>` or malformed keys are left out.
pub fn parse_bundles(answer: &Node) -> HashMap<DeviceAddress, PreKeyBundle> {
    let users = answer
        .child("list")
        .map(|l| l.child_nodes())
        .unwrap_or_default();
    users
        .iter()
        .filter(|u| u.tag == "user")
        .filter_map(|u| {
            let address = DeviceAddress::parse(u.get_attr("jid")?)?;
            Some((address, parse_bundle(u)?))
        })
        .collect()
}

fn parse_bundle(user: &Node) -> Option<PreKeyBundle> {
    fn bytes(n: Option<&Node>) -> Option<&[u8]> {
        n.and_then(Node::content_bytes)
    }
    fn fixed(n: Option<&Node>) -> Option<[u8; 32]> {
        bytes(n)?.try_into().ok()
    }
    fn id3(n: Option<&Node>) -> Option<u32> {
        let b = bytes(n)?;
        (b.len() == 3).then(|| u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    let registration: [u8; 4] = bytes(user.child("registration"))?.try_into().ok()?;
    let skey = user.child("skey")?;
    let signature: [u8; 64] = bytes(skey.child("signature"))?.try_into().ok()?;
    let one_time_prekey = match user.child("key") {
        Some(key) => Some((id3(key.child("id"))?, fixed(key.child("value"))?)),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id: u32::from_be_bytes(registration),
        identity_key: fixed(user.child("identity"))?,
        signed_prekey_id: id3(skey.child("id"))?,
        signed_prekey: fixed(skey.child("value"))?,
        signed_prekey_signature: signature,
        one_time_prekey,
    })
}
