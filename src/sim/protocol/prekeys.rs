//! Prekeys on the wire: reading a companion's upload (`<iq
//! xmlns="encrypt" type="set">`) and writing the bundle of one user in
//! an answer to a key fetch.
//!
//! Owns: those stanza shapes (whatsapp-rust `iq/prekeys.rs`, whatsmeow
//! `prekeys.go`). Pure: nodes in, values out and back. Must not touch:
//! the prekey store (`sim::prekeys`).

use super::hello::SignedPreKey;
use crate::signal::{PreKeyBundle, DJB_KEY_TYPE};
use crate::wire::Node;

/// What a prekey upload carries: the identity it is for, a new signed
/// prekey, and one-time prekeys as (id, public key).
pub struct Upload {
    pub identity: Option<[u8; 32]>,
    pub signed: Option<SignedPreKey>,
    pub keys: Vec<(u32, [u8; 32])>,
}

/// Reads `<registration>`, `<type>`, `<identity>`, `<list><key>..`, `<skey>`
/// of a prekey upload. Every part but the key list is optional.
pub fn parse_upload(iq: &Node) -> Result<Upload, &'static str> {
    let identity = match iq.child("identity") {
        Some(n) => Some(fixed::<32>(n.content_bytes()).ok_or("identity")?),
        None => None,
    };
    let signed = iq.child("skey").map(parse_signed_prekey).transpose()?;
    let list = iq.child("list").ok_or("list")?;
    let keys = list
        .child_nodes()
        .iter()
        .filter(|k| k.tag == "key")
        .map(|k| {
            let id = key_id(k.child("id").and_then(Node::content_bytes)).ok_or("key id")?;
            let value =
                fixed::<32>(k.child("value").and_then(Node::content_bytes)).ok_or("key value")?;
            Ok((id, value))
        })
        .collect::<Result<Vec<_>, &'static str>>()?;
    Ok(Upload {
        identity,
        signed,
        keys,
    })
}

/// Reads `<skey><id/><value/><signature/></skey>`.
pub fn parse_signed_prekey(skey: &Node) -> Result<SignedPreKey, &'static str> {
    Ok(SignedPreKey {
        id: key_id(skey.child("id").and_then(Node::content_bytes)).ok_or("skey id")?,
        public: fixed::<32>(skey.child("value").and_then(Node::content_bytes))
            .ok_or("skey value")?,
        signature: fixed::<64>(skey.child("signature").and_then(Node::content_bytes))
            .ok_or("skey signature")?,
    })
}

/// A key id: 3 bytes big-endian on the wire.
fn key_id(bytes: Option<&[u8]>) -> Option<u32> {
    match bytes? {
        [a, b, c] => Some(u32::from_be_bytes([0, *a, *b, *c])),
        _ => None,
    }
}

fn fixed<const N: usize>(bytes: Option<&[u8]>) -> Option<[u8; N]> {
    bytes?.try_into().ok()
}

/// `<registration><type><identity><skey>..</skey>[<key>..</key>]` of one
/// user in a prekey answer (whatsmeow `prekeys.go` nodeToPreKeyBundle).
pub fn bundle_nodes(b: &PreKeyBundle) -> Vec<Node> {
    let id3 = |id: u32| id.to_be_bytes()[1..].to_vec();
    let mut nodes = vec![
        Node::new("registration").bytes(b.registration_id.to_be_bytes().to_vec()),
        Node::new("type").bytes(vec![DJB_KEY_TYPE]),
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

/// `<digest><registration/><type/><identity/><skey><id/><value/>
/// <signature/></skey><list><id/>..</list><hash/></digest>`: what the
/// server holds of the asking device's keys (wacore `iq/prekeys.rs`
/// DigestKeyBundleSpec, WA Web `WAWebDigestKeyJob`).
pub struct Digest<'a> {
    pub registration_id: u32,
    pub identity: &'a [u8; 32],
    pub signed: &'a SignedPreKey,
    pub prekey_ids: &'a [u32],
    pub hash: &'a [u8; 20],
}

impl Digest<'_> {
    pub fn into_node(self) -> Node {
        let id3 = |id: u32| id.to_be_bytes()[1..].to_vec();
        let ids = self
            .prekey_ids
            .iter()
            .map(|&id| Node::new("id").bytes(id3(id)))
            .collect();
        Node::new("digest").children(vec![
            Node::new("registration").bytes(self.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![DJB_KEY_TYPE]),
            Node::new("identity").bytes(self.identity.to_vec()),
            Node::new("skey").children(vec![
                Node::new("id").bytes(id3(self.signed.id)),
                Node::new("value").bytes(self.signed.public.to_vec()),
                Node::new("signature").bytes(self.signed.signature.to_vec()),
            ]),
            Node::new("list").children(ids),
            Node::new("hash").bytes(self.hash.to_vec()),
        ])
    }
}
