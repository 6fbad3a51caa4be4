//! The simulated phone's app-state key share: right after a companion links,
//! the real primary phone sends it the account's app-state sync key as a
//! Signal-encrypted `ProtocolMessage` (APP_STATE_SYNC_KEY_SHARE). Clients
//! wait for it before their first app-state sync (whatsapp-rust waits up to
//! 10 s), so a simulator that never sends it makes every fresh link slow.
//!
//! The phone opens its Signal session with the companion from the
//! companion's registered signed prekey and sends one `PreKeySignalMessage`
//! (the session is the phone's, kept for the texts that follow). Because an independent client
//! (whatsapp-rust) decrypts this message in the interop test, it also
//! checks our Signal code end to end.

use prost::Message as _;
use rand::Rng as _;

use crate::crypto::KeyPair;
use crate::signal::{self, PreKeyBundle, SessionRecord, SignalError};
use crate::wire::Node;

/// ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE (waproto whatsapp.proto).
const APP_STATE_SYNC_KEY_SHARE: i32 = 6;

/// An account's app-state sync key, as the phone shares it with companions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AppStateKey {
    /// WhatsApp key ids are 6 bytes: 4 zero bytes and a 16-bit counter.
    pub id: [u8; 6],
    pub data: [u8; 32],
    /// Milliseconds since the epoch when the phone created it.
    pub timestamp: i64,
    /// Fingerprint: the phone's ADV raw id and the device indexes it covers.
    pub raw_id: u32,
}

impl AppStateKey {
    pub fn generate(raw_id: u32) -> Self {
        let mut rng = rand::thread_rng();
        let mut id = [0u8; 6];
        id[4..].copy_from_slice(&rng.gen_range(1u16..u16::MAX).to_be_bytes());
        AppStateKey {
            id,
            data: rng.gen(),
            timestamp: i64::try_from(super::state::unix_now().saturating_mul(1000))
                .unwrap_or(i64::MAX),
            raw_id,
        }
    }
}

/// Everything the phone needs to send one key share to one companion.
pub(crate) struct KeyShareOrder {
    /// The account's phone number (the message comes from its device 0).
    pub phone: String,
    pub phone_identity: KeyPair,
    pub phone_registration_id: u32,
    /// The companion's keys as registered at pairing (no one-time prekey:
    /// at pairing time it has published only its signed prekey).
    pub companion: PreKeyBundle,
    pub key: AppStateKey,
}

impl KeyShareOrder {
    /// The `<message>` stanza the server delivers to the companion, over
    /// the phone's `session` with it (opened from the registered keys when
    /// there is none yet). Fails only if the companion's registered signed
    /// prekey does not verify, which registration already refuses.
    pub fn to_stanza(&self, session: &mut SessionRecord) -> Result<Node, SignalError> {
        if !session.has_current_session() {
            signal::initiate_session(
                session,
                &self.phone_identity,
                self.phone_registration_id,
                &self.companion,
            )?;
        }
        let padded = crate::proto::text::pad(&self.message());
        let pkmsg = signal::encrypt(session, &self.phone_identity, &padded)?;
        let id: [u8; 8] = rand::thread_rng().gen();
        Ok(Node::new("message")
            .attr("from", format!("{}@s.whatsapp.net", self.phone))
            .attr("id", hex::encode_upper(id))
            .attr("type", "text")
            .attr("t", super::state::unix_now().to_string())
            .children(vec![Node::new("enc")
                .attr("v", "2")
                .attr("type", pkmsg.enc_type())
                .bytes(pkmsg.bytes().to_vec())]))
    }

    /// `Message{protocolMessage{type: APP_STATE_SYNC_KEY_SHARE, keys: [..]}}`.
    fn message(&self) -> Vec<u8> {
        let key = &self.key;
        WaMessage {
            protocol_message: Some(ProtocolMessage {
                r#type: Some(APP_STATE_SYNC_KEY_SHARE),
                app_state_sync_key_share: Some(KeyShare {
                    keys: vec![SyncKey {
                        key_id: Some(SyncKeyId {
                            key_id: Some(key.id.to_vec()),
                        }),
                        key_data: Some(SyncKeyData {
                            key_data: Some(key.data.to_vec()),
                            fingerprint: Some(SyncKeyFingerprint {
                                raw_id: Some(key.raw_id),
                                current_index: Some(0),
                                device_indexes: vec![0],
                            }),
                            timestamp: Some(key.timestamp),
                        }),
                    }],
                }),
            }),
        }
        .encode_to_vec()
    }
}

// Wire shapes (field numbers from waproto whatsapp.proto), only the fields
// this module writes.

#[derive(Clone, PartialEq, prost::Message)]
struct WaMessage {
    #[prost(message, optional, tag = "12")]
    protocol_message: Option<ProtocolMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtocolMessage {
    #[prost(int32, optional, tag = "2")]
    r#type: Option<i32>,
    #[prost(message, optional, tag = "7")]
    app_state_sync_key_share: Option<KeyShare>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct KeyShare {
    #[prost(message, repeated, tag = "1")]
    keys: Vec<SyncKey>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SyncKey {
    #[prost(message, optional, tag = "1")]
    key_id: Option<SyncKeyId>,
    #[prost(message, optional, tag = "2")]
    key_data: Option<SyncKeyData>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SyncKeyId {
    #[prost(bytes = "vec", optional, tag = "1")]
    key_id: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SyncKeyData {
    #[prost(bytes = "vec", optional, tag = "1")]
    key_data: Option<Vec<u8>>,
    #[prost(message, optional, tag = "2")]
    fingerprint: Option<SyncKeyFingerprint>,
    #[prost(int64, optional, tag = "3")]
    timestamp: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SyncKeyFingerprint {
    #[prost(uint32, optional, tag = "1")]
    raw_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    current_index: Option<u32>,
    #[prost(uint32, repeated, packed = "true", tag = "3")]
    device_indexes: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_share_is_a_prekey_message_the_companion_can_decrypt() {
        let phone = KeyPair::generate();
        let companion = KeyPair::generate();
        let spk = signal::SignedPreKey::generate(&companion, 7);
        let order = KeyShareOrder {
            phone: "15550001111".into(),
            phone_identity: phone.clone(),
            phone_registration_id: 42,
            companion: PreKeyBundle {
                registration_id: 9,
                identity_key: companion.public,
                signed_prekey_id: spk.id,
                signed_prekey: spk.key_pair.public,
                signed_prekey_signature: spk.signature,
                one_time_prekey: None,
            },
            key: AppStateKey {
                id: [0, 0, 0, 0, 0, 1],
                data: [3; 32],
                timestamp: 1,
                raw_id: 5,
            },
        };
        let stanza = order
            .to_stanza(&mut SessionRecord::new())
            .expect("valid bundle");
        let enc = stanza.child("enc").expect("enc child");
        assert_eq!(enc.get_attr("type"), Some("pkmsg"));

        let mut record = SessionRecord::new();
        let prekeys = signal::LocalPreKeys {
            signed: std::slice::from_ref(&spk),
            one_time: &[],
        };
        let decrypted = signal::decrypt_prekey_message(
            &mut record,
            &companion,
            9,
            &prekeys,
            enc.content_bytes().expect("ciphertext"),
        )
        .expect("companion decrypts");
        assert_eq!(decrypted.sender_identity, phone.public);
        let pad = usize::from(*decrypted.plaintext.last().expect("padded"));
        let body = &decrypted.plaintext[..decrypted.plaintext.len() - pad];
        let message = WaMessage::decode(body).expect("a Message protobuf");
        let share = message
            .protocol_message
            .and_then(|p| p.app_state_sync_key_share)
            .expect("a key share");
        assert_eq!(share.keys.len(), 1);
    }
}
