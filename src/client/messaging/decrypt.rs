//! Decrypting: one `<message>` stanza in, one outcome out. Runs on the
//! blocking pool (it reads and writes the peer's state).
//!
//! Order of work, chosen for crashes: check the id against the ids seen
//! from that device (a redelivery is answered, never reported twice),
//! decrypt on a copy of the session, then write the advanced session and
//! the id together. Only after that write does the caller report the
//! message and send the receipt that lets the server forget it.

use super::keys::OwnKeys;
use super::peers;
use crate::client::events::{IncomingMedia, IncomingMessage, QuotedMessage};
use crate::client::media::MediaRef;
use crate::client::ClientError;
use crate::crypto::KeyPair;
use crate::proto::text::{self, TextError};
use crate::signal::{self, IdentityCheck, PreKeySource, SignedPreKey};
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid, MessageId};
use crate::wire::Node;

/// Our prekeys as a `pkmsg` needs them: the signed one from the
/// credentials, a one-time one read from the store only when the message
/// opens a new session (later `pkmsg`s of a known session need none).
struct StoredPreKeys<'a> {
    store: &'a dyn AuthStore,
    signed: &'a SignedPreKey,
    previous: Option<&'a SignedPreKey>,
}

impl PreKeySource for StoredPreKeys<'_> {
    fn signed_prekey(&self, id: u32) -> Option<KeyPair> {
        std::iter::once(self.signed)
            .chain(self.previous)
            .find(|k| k.id == id)
            .map(|k| k.key_pair.clone())
    }

    fn one_time_prekey(&self, id: u32) -> Option<KeyPair> {
        match crate::client::creds::find_prekey(self.store, id) {
            Ok(key) => key.map(|k| k.key_pair),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read one-time prekeys");
                None
            }
        }
    }
}

/// The parts of an incoming `<message>` that matter here.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub id: MessageId,
    /// The sending device.
    pub from: DeviceAddress,
    /// `recipient`: the chat, when one of our own devices sent it.
    pub recipient: Option<Jid>,
    /// The sender's other identity the server names: its phone number
    /// (`sender_pn`) when it writes from its LID, its LID (`sender_lid`)
    /// when it writes from its phone number.
    pub sender_alt: Option<Jid>,
    pub timestamp: u64,
    pub push_name: Option<String>,
    /// The pairwise ciphertext: (`pkmsg` | `msg`, bytes).
    pub enc: Option<(String, Vec<u8>)>,
}

impl Incoming {
    /// Reads a 1:1 `<message>`; `Err` says why it is not one we can take.
    pub fn parse(node: &Node) -> Result<Incoming, String> {
        let id = node.get_attr("id").filter(|i| !i.is_empty());
        let id = MessageId::from(id.ok_or("message without id")?);
        let from = node.get_attr("from").unwrap_or_default();
        let from =
            DeviceAddress::parse(from).ok_or_else(|| format!("unsupported sender {from:?}"))?;
        let enc = node
            .child_nodes()
            .iter()
            .filter(|n| n.tag == "enc")
            .find_map(|n| {
                let kind = n.get_attr("type")?;
                matches!(kind, "pkmsg" | "msg").then(|| {
                    (
                        kind.to_string(),
                        n.content_bytes().unwrap_or_default().to_vec(),
                    )
                })
            });
        // The other identity: wacore `parse_message_info`, whatsmeow
        // `parseMessageSource`.
        let sender_alt = node
            .get_attr(if from.is_lid() {
                "sender_pn"
            } else {
                "sender_lid"
            })
            .and_then(|j| Jid::parse(j).ok())
            .filter(|j| j.is_lid() != from.is_lid() && !j.user.is_empty())
            .map(|j| j.to_non_ad());
        Ok(Incoming {
            id,
            from,
            recipient: node.get_attr("recipient").and_then(|r| Jid::parse(r).ok()),
            sender_alt,
            timestamp: node
                .get_attr("t")
                .and_then(|t| t.parse().ok())
                .unwrap_or_default(),
            push_name: node
                .get_attr("notify")
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            enc,
        })
    }
}

/// What became of one incoming message.
#[derive(Debug)]
pub enum Received {
    /// A text to report.
    Text {
        message: Box<IncomingMessage>,
        /// The sender presented a different identity key than before
        /// (WhatsApp's "security code changed").
        identity_changed: bool,
        /// Received before (the last message from its device, delivered
        /// again): reported again unless this process reported it.
        again: bool,
    },
    /// Decrypted, but not a text (protocol messages, content wasp does not
    /// read yet): acknowledged, not reported.
    NotText,
    /// Already received (a redelivery): acknowledged again, not reported.
    Duplicate,
    /// A history chunk from our own phone: its pairs are stored (an inline
    /// chunk) or to fetch (`blob`); acknowledged with `hist_sync` too.
    History { blob: Option<Box<MediaRef>> },
    /// Could not be decrypted: ask the sender to retry, report it.
    Failed { reason: String },
}

/// Decrypts and records one incoming message. `Err` only for storage
/// failures: the message is then left unacknowledged for redelivery.
pub fn receive(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    incoming: &Incoming,
) -> Result<Received, ClientError> {
    let identities = Identities::learn(store, keys, incoming)?;
    let session = session_of(store, incoming, &identities)?;
    let Some((kind, bytes)) = &incoming.enc else {
        return Ok(Received::Failed {
            reason: "no pairwise ciphertext (pkmsg or msg) in the message".into(),
        });
    };
    let mut peer = load_peer(store, &session)?;
    let again = peer.has_seen(incoming.id.as_str());
    let (padded, identity_changed) = if again {
        match peer.last_plaintext(incoming.id.as_str()) {
            Some(padded) => (padded, false),
            None => return Ok(Received::Duplicate),
        }
    } else {
        let Pairwise {
            plaintext: padded,
            consumed_prekey,
            identity_changed,
        } = match decrypt_pairwise(store, keys, &mut peer, kind, bytes) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Received::Failed {
                    reason: e.to_string(),
                })
            }
        };
        peer.remember(incoming.id.as_str(), &padded);
        peers::save(store, &[(session, peer)])?;
        if let Some(id) = consumed_prekey {
            store.remove_prekey(id)?;
        }
        (padded, identity_changed)
    };
    let from_me = keys.is_own(&incoming.from);
    // Only our own primary phone drives history sync (WA Web gates it so;
    // whatsapp-rust `handle_history_sync`): a contact's would make us
    // fetch whatever it names.
    if from_me && incoming.from.device() == 0 {
        if let Some(found) = text::unpad(&padded)
            .ok()
            .and_then(super::history_sync::notice)
        {
            return history_chunk(store, found);
        }
    }
    if from_me {
        // Only our own phone may teach us who is who: a contact's claim
        // would redirect our texts to whomever it names.
        if let Some(pairs) = text::unpad(&padded)
            .ok()
            .and_then(super::lid_sync::shared_mappings)
        {
            super::lid_sync::keep_pairs(store, &pairs, "mapping sync")?;
            return Ok(Received::NotText);
        }
    }
    let content = match text::unpad(&padded).and_then(super::content::decode) {
        Ok(content) => content,
        Err(TextError::NoText) => return Ok(Received::NotText),
        Err(e) => {
            tracing::debug!(error = %e, "decrypted message is not readable text");
            return Ok(Received::NotText);
        }
    };
    let chat = if from_me {
        incoming
            .recipient
            .clone()
            .or_else(|| {
                content
                    .text
                    .sent_to
                    .as_deref()
                    .and_then(|to| Jid::parse(to).ok())
            })
            .unwrap_or_else(|| incoming.from.user_jid())
    } else {
        incoming.from.user_jid()
    };
    let message = report(incoming, chat, identities, content, from_me);
    super::media_records::keep(store, &message)?;
    Ok(Received::Text {
        message: Box::new(message),
        identity_changed,
        again,
    })
}

/// What to do with the chunk a history sync notification names: an
/// inline chunk's pairs are stored now, a blob is fetched later.
fn history_chunk(
    store: &dyn AuthStore,
    found: Result<super::history_sync::Chunk, String>,
) -> Result<Received, ClientError> {
    use super::history_sync::{inline_pairs, Chunk};
    let inline = match found {
        Ok(Chunk::Blob(media)) => {
            return Ok(Received::History {
                blob: Some(Box::new(media)),
            })
        }
        Ok(Chunk::Inline(bytes)) => inline_pairs(&bytes),
        Err(why) => Err(why),
    };
    match inline {
        Ok(pairs) => super::lid_sync::keep_pairs(store, &pairs, "history sync")?,
        Err(why) => tracing::warn!(%why, "history sync notification not read"),
    }
    Ok(Received::History { blob: None })
}

/// The address the sending device's pairwise session is kept under: its
/// LID once known, whichever namespace the message came in (WA Web's
/// Signal addressing). A session still under the phone number is moved
/// there first.
pub fn session_of(
    store: &dyn AuthStore,
    incoming: &Incoming,
    identities: &Identities,
) -> Result<DeviceAddress, ClientError> {
    let session = match &identities.lid {
        Some(lid) if !incoming.from.is_lid() => {
            DeviceAddress::from_jid(&lid.clone().with_device(incoming.from.device()))
                .unwrap_or_else(|| incoming.from.clone())
        }
        _ => incoming.from.clone(),
    };
    if session.is_lid() {
        move_to_lid(store, &session, identities.pn.as_ref())?;
    }
    Ok(session)
}

/// The event's view of a decrypted message from `incoming`'s sender.
pub fn report(
    incoming: &Incoming,
    chat: Jid,
    identities: Identities,
    content: super::content::Content,
    from_me: bool,
) -> IncomingMessage {
    let text = content.text;
    IncomingMessage {
        id: incoming.id.clone(),
        chat,
        sender: incoming.from.jid(),
        sender_pn: identities.pn,
        sender_lid: identities.lid,
        timestamp: incoming.timestamp,
        text: text.text,
        from_me,
        push_name: incoming.push_name.clone(),
        quoted: text.quoted.map(|q| QuotedMessage {
            id: MessageId::from(q.id),
            sender: q.participant.and_then(|p| Jid::parse(&p).ok()),
            text: q.text,
        }),
        media: content
            .media
            .map(|m| Box::new(IncomingMedia::from_message(&m))),
    }
}

/// The state kept with a sending device. A damaged file must not stop
/// the session: it starts over with that device (its next message
/// triggers a retry and a new session).
pub fn load_peer(
    store: &dyn AuthStore,
    device: &DeviceAddress,
) -> Result<peers::PeerState, ClientError> {
    match peers::load(store, device) {
        Ok(peer) => Ok(peer),
        Err(ClientError::Creds(why)) => {
            tracing::warn!(peer = %device, %why, "unreadable peer state; starting over");
            Ok(Default::default())
        }
        Err(e) => Err(e),
    }
}

/// A pairwise ciphertext, decrypted.
pub struct Pairwise {
    /// Still padded.
    pub plaintext: Vec<u8>,
    /// The one-time prekey a `pkmsg` used up: delete it once the session
    /// is stored.
    pub consumed_prekey: Option<u32>,
    /// The sender presented a different identity key than before.
    pub identity_changed: bool,
}

/// Decrypts a `pkmsg` or `msg` on `peer`'s session (changed only on
/// success; the caller stores it).
pub fn decrypt_pairwise(
    store: &dyn AuthStore,
    keys: &OwnKeys,
    peer: &mut peers::PeerState,
    kind: &str,
    bytes: &[u8],
) -> Result<Pairwise, signal::SignalError> {
    if kind != "pkmsg" {
        let plaintext = signal::decrypt_message(&mut peer.session, &keys.identity, bytes)?;
        return Ok(Pairwise {
            plaintext,
            consumed_prekey: None,
            identity_changed: false,
        });
    }
    let prekeys = StoredPreKeys {
        store,
        signed: &keys.signed_prekey,
        previous: keys.previous_signed_prekey.as_ref(),
    };
    let d = signal::decrypt_prekey_message(
        &mut peer.session,
        &keys.identity,
        keys.registration_id,
        &prekeys,
        bytes,
    )?;
    Ok(Pairwise {
        plaintext: d.plaintext,
        consumed_prekey: d.consumed_prekey_id,
        identity_changed: d.identity == IdentityCheck::Changed,
    })
}

/// Both identities of a message's sender user, as far as known.
pub struct Identities {
    pub pn: Option<Jid>,
    pub lid: Option<Jid>,
}

impl Identities {
    /// The sender's phone number and LID: what the message says (and the
    /// pair is kept for later), else what was learned before.
    pub fn learn(
        store: &dyn AuthStore,
        keys: &OwnKeys,
        incoming: &Incoming,
    ) -> Result<Identities, ClientError> {
        let from = incoming.from.user_jid();
        if keys.is_own(&incoming.from) {
            let (pn, lid) = keys.own_users();
            return Ok(Identities { pn, lid });
        }
        let alt = incoming.sender_alt.clone();
        let (pn, lid) = if from.is_lid() {
            (alt, Some(from))
        } else {
            (Some(from), alt)
        };
        if let (Some(pn), Some(lid)) = (&pn, &lid) {
            store.put_lid_mappings(&[(&lid.user, &pn.user)])?;
            return Ok(Identities {
                pn: Some(pn.clone()),
                lid: Some(lid.clone()),
            });
        }
        let pn = match (pn, &lid) {
            (Some(pn), _) => Some(pn),
            (None, Some(lid)) => store.pn_of(&lid.user)?.map(Jid::pn),
            (None, None) => None,
        };
        let lid = match (lid, &pn) {
            (Some(lid), _) => Some(lid),
            (None, Some(pn)) => store.lid_of(&pn.user)?.map(Jid::lid),
            (None, None) => None,
        };
        Ok(Identities { pn, lid })
    }
}

/// A contact writing from its LID while our session with that device is
/// still kept under its phone number (a chat older than its migration):
/// the session moves to the LID address once, the way the reference
/// clients migrate it (whatsapp-rust `migrate_legacy_pairwise_state`).
pub fn move_to_lid(
    store: &dyn AuthStore,
    device: &DeviceAddress,
    pn: Option<&Jid>,
) -> Result<(), ClientError> {
    let pn_user = match pn {
        Some(pn) => Some(pn.user.clone()),
        None => store.pn_of(device.user())?,
    };
    let Some(old) = pn_user.and_then(|user| DeviceAddress::pn(user, device.device())) else {
        return Ok(());
    };
    if store.move_peer(&old, device)? {
        tracing::info!(from = %old, to = %device, "Signal session moved to the contact's LID");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{PreKeyBundle, SessionRecord};
    use crate::store::{FileAuthStore, SessionDir};

    struct Fixture {
        _tmp: tempfile::TempDir,
        dir: FileAuthStore,
        keys: OwnKeys,
        peer_identity: KeyPair,
        peer_session: SessionRecord,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = FileAuthStore::new(SessionDir::at(tmp.path().join("s")));
        dir.prepare().unwrap();
        let identity = KeyPair::generate();
        let keys = OwnKeys {
            signed_prekey: SignedPreKey::generate(&identity, 1),
            previous_signed_prekey: None,
            identity,
            registration_id: 7,
            device: DeviceAddress::pn("15550001111", 3).unwrap(),
            lid_user: None,
        };
        let one_time = signal::generate_prekeys(1, 2);
        crate::client::creds::append_prekeys(&dir, &one_time).unwrap();
        let peer_identity = KeyPair::generate();
        let mut peer_session = SessionRecord::new();
        let bundle = PreKeyBundle {
            registration_id: 7,
            identity_key: keys.identity.public,
            signed_prekey_id: 1,
            signed_prekey: keys.signed_prekey.key_pair.public,
            signed_prekey_signature: keys.signed_prekey.signature,
            one_time_prekey: Some((1, one_time[0].key_pair.public)),
        };
        signal::initiate_session(&mut peer_session, &peer_identity, 9, &bundle).unwrap();
        Fixture {
            _tmp: tmp,
            dir,
            keys,
            peer_identity,
            peer_session,
        }
    }

    fn incoming(f: &mut Fixture, id: &str, body: &str) -> Incoming {
        let padded = text::pad(&text::encode(body, None));
        let c = signal::encrypt(&mut f.peer_session, &f.peer_identity, &padded).unwrap();
        Incoming {
            id: MessageId::from(id),
            from: DeviceAddress::parse("15559990000@s.whatsapp.net").unwrap(),
            recipient: None,
            sender_alt: None,
            timestamp: 1,
            push_name: None,
            enc: Some((c.enc_type().into(), c.bytes().to_vec())),
        }
    }

    /// A `pkmsg` carrying unpadded `plaintext` from `from`.
    fn incoming_bytes(f: &mut Fixture, from: &str, plaintext: &[u8]) -> Incoming {
        let c =
            signal::encrypt(&mut f.peer_session, &f.peer_identity, &text::pad(plaintext)).unwrap();
        Incoming {
            id: MessageId::from("P1"),
            from: DeviceAddress::parse(from).unwrap(),
            recipient: None,
            sender_alt: None,
            timestamp: 1,
            push_name: None,
            enc: Some((c.enc_type().into(), c.bytes().to_vec())),
        }
    }

    fn text_of(r: Received) -> String {
        match r {
            Received::Text { message, .. } => message.text,
            other => panic!("expected a text, got {other:?}"),
        }
    }

    #[test]
    fn a_redelivered_message_is_a_duplicate_even_after_a_restart() {
        let mut f = fixture();
        let first = incoming(&mut f, "A1", "hello");
        assert_eq!(text_of(receive(&f.dir, &f.keys, &first).unwrap()), "hello");
        // The one-time prekey is gone once used.
        assert_eq!(f.dir.prekey_ids().unwrap(), vec![2]);
        let second = incoming(&mut f, "A2", "again");
        assert_eq!(text_of(receive(&f.dir, &f.keys, &second).unwrap()), "again");
        // The first stanza again (a redelivery), read from disk anew.
        assert!(matches!(
            receive(&f.dir, &f.keys, &first).unwrap(),
            Received::Duplicate
        ));
    }

    /// A crash after the message was stored and before its report was
    /// durable: the server delivers it again, its ratchet step is spent,
    /// and it is reported from the stored plaintext (marked `again`).
    #[test]
    fn the_last_message_delivered_again_is_read_from_what_was_stored() {
        let mut f = fixture();
        let first = incoming(&mut f, "L1", "stored, not reported");
        assert_eq!(
            text_of(receive(&f.dir, &f.keys, &first).unwrap()),
            "stored, not reported"
        );
        match receive(&f.dir, &f.keys, &first).unwrap() {
            Received::Text { message, again, .. } => {
                assert!(again);
                assert_eq!(message.text, "stored, not reported");
                assert_eq!(message.id.as_str(), "L1");
            }
            other => panic!("expected the text again, got {other:?}"),
        }
    }

    /// A record an earlier version wrote as JSON: its session and its
    /// seen ids still hold, and the next write stores it in binary.
    #[test]
    fn a_json_record_of_an_earlier_version_keeps_its_session_and_ids() {
        let mut f = fixture();
        let first = incoming(&mut f, "J1", "before the upgrade");
        receive(&f.dir, &f.keys, &first).unwrap();
        let from = first.from.clone();
        let state = peers::load(&f.dir, &from).unwrap();
        let json = serde_json::to_vec(&state).unwrap();
        f.dir.save_peers(&[(&from, &json)]).unwrap();

        assert!(matches!(
            receive(&f.dir, &f.keys, &first).unwrap(),
            Received::Text { again: true, .. }
        ));
        let second = incoming(&mut f, "J2", "after it");
        assert_eq!(
            text_of(receive(&f.dir, &f.keys, &second).unwrap()),
            "after it"
        );
        let stored = f.dir.peer(&from).unwrap().unwrap();
        assert_eq!(stored[0], peers::BINARY);
        assert!(peers::load(&f.dir, &from).unwrap().has_seen("J1"));
    }

    #[test]
    fn corrupted_and_unknown_sessions_fail_without_touching_state() {
        let mut f = fixture();
        let mut bad = incoming(&mut f, "B1", "tampered");
        if let Some((_, bytes)) = bad.enc.as_mut() {
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
        }
        assert!(matches!(
            receive(&f.dir, &f.keys, &bad).unwrap(),
            Received::Failed { .. }
        ));
        // Nothing was consumed: the untampered next message still opens
        // the session with the same prekey.
        let good = incoming(&mut f, "B2", "intact");
        assert_eq!(text_of(receive(&f.dir, &f.keys, &good).unwrap()), "intact");

        // A `msg` from a device we never spoke with.
        let stranger = Incoming {
            from: DeviceAddress::parse("15557770000:3@s.whatsapp.net").unwrap(),
            enc: Some(("msg".into(), vec![0x33, 1, 2, 3])),
            ..good.clone()
        };
        match receive(&f.dir, &f.keys, &stranger).unwrap() {
            Received::Failed { reason } => assert!(!reason.is_empty()),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_contact_that_moves_to_its_lid_keeps_its_session_and_both_identities() {
        let mut f = fixture();
        let first = incoming(&mut f, "L1", "by number");
        match receive(&f.dir, &f.keys, &first).unwrap() {
            Received::Text { message, .. } => {
                assert_eq!(message.sender_pn, Some(Jid::pn("15559990000")));
                assert_eq!(message.sender_lid, None);
            }
            other => panic!("{other:?}"),
        }
        // The same device now writes from its LID, naming its number: the
        // session moves to the LID address and the message decrypts.
        let lid = DeviceAddress::lid("88800011", 0).unwrap();
        let second = Incoming {
            from: lid.clone(),
            sender_alt: Some(Jid::pn("15559990000")),
            ..incoming(&mut f, "L2", "by lid")
        };
        match receive(&f.dir, &f.keys, &second).unwrap() {
            Received::Text { message, .. } => {
                assert_eq!(message.text, "by lid");
                assert_eq!(message.sender.to_string(), "88800011@lid");
                assert_eq!(message.chat.to_string(), "88800011@lid");
                assert_eq!(message.sender_pn, Some(Jid::pn("15559990000")));
                assert_eq!(message.sender_lid, Some(Jid::lid("88800011")));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            f.dir.peer(&first.from).unwrap().is_none(),
            "the old address kept the session"
        );
        assert_eq!(
            f.dir.lid_of("15559990000").unwrap().as_deref(),
            Some("88800011")
        );
        // Later messages by number name the LID they learned.
        let third = Incoming {
            from: lid,
            sender_alt: None,
            ..incoming(&mut f, "L3", "again")
        };
        match receive(&f.dir, &f.keys, &third).unwrap() {
            Received::Text { message, .. } => {
                assert_eq!(message.sender_pn, Some(Jid::pn("15559990000")))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_our_own_phone_teaches_us_contacts_lids() {
        let push =
            super::super::lid_sync::sync_message(vec![super::super::lid_sync::tests::mapping(
                15552220000,
                777000222,
                None,
            )]);
        // A contact sending the same push is ignored: it would redirect
        // our texts to whomever it names.
        let mut f = fixture();
        let stranger = incoming_bytes(&mut f, "15559990000@s.whatsapp.net", &push);
        assert!(matches!(
            receive(&f.dir, &f.keys, &stranger).unwrap(),
            Received::NotText
        ));
        assert_eq!(f.dir.lid_of("15552220000").unwrap(), None);
        // Our own phone (device 0 of our number) is believed.
        let mut f = fixture();
        let phone = incoming_bytes(&mut f, "15550001111@s.whatsapp.net", &push);
        assert!(matches!(
            receive(&f.dir, &f.keys, &phone).unwrap(),
            Received::NotText
        ));
        assert_eq!(
            f.dir.lid_of("15552220000").unwrap().as_deref(),
            Some("777000222")
        );
        assert_eq!(
            f.dir.pn_of("777000222").unwrap().as_deref(),
            Some("15552220000")
        );
    }
}
