//! The simulated phone's app-state key share: right after a companion links,
//! the real primary phone sends it the account's app-state sync key as a
//! Signal-encrypted `ProtocolMessage` (APP_STATE_SYNC_KEY_SHARE). Clients
//! wait for it before their first app-state sync (whatsapp-rust waits up to
//! 10 s), so a simulator that never sends it makes every fresh link slow.
//!
//! This owns only the sending half of one Signal session (X3DH as the
//! initiator, first chain step, `PreKeySignalMessage`), enough for one
//! message from the phone to a companion. It does not keep sessions, route
//! messages, or decrypt anything.
//!
//! Protocol facts (libsignal, as in wacore-libsignal 0.7 `ratchet.rs`,
//! `protocol.rs`, `session_cipher.rs`): KDF labels "WhisperText",
//! "WhisperRatchet", "WhisperMessageKeys"; 32 0xFF discontinuity bytes;
//! version byte 0x33; 8-byte truncated MAC over both identities; AES-256-CBC
//! with PKCS#7. WhatsApp's plaintext padding (v2): 1..=16 bytes, each equal
//! to the pad length (wacore `messages.rs`).

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use prost::Message as _;
use rand::Rng as _;

use crate::crypto::{hkdf_sha256, hmac_sha256, KeyPair};
use crate::signal::serialize_public_key;
use crate::wire::Node;

/// `(3 << 4) | 3`: current Signal message version, both nibbles.
const SIGNAL_VERSION_BYTE: u8 = 0x33;
/// libsignal's truncated MAC length.
const MAC_LEN: usize = 8;
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
    pub companion_identity: [u8; 32],
    pub companion_signed_prekey_id: u32,
    pub companion_signed_prekey: [u8; 32],
    pub key: AppStateKey,
}

impl KeyShareOrder {
    /// The `<message>` stanza the server delivers to the companion.
    pub fn to_stanza(&self) -> Node {
        let pkmsg = encrypt_prekey_message(
            &self.phone_identity,
            self.phone_registration_id,
            &self.companion_identity,
            self.companion_signed_prekey_id,
            &self.companion_signed_prekey,
            &pad_v2(&self.message()),
        );
        let id: [u8; 8] = rand::thread_rng().gen();
        Node::new("message")
            .attr("from", format!("{}@s.whatsapp.net", self.phone))
            .attr("id", hex::encode_upper(id))
            .attr("type", "text")
            .attr("t", super::state::unix_now().to_string())
            .children(vec![Node::new("enc")
                .attr("v", "2")
                .attr("type", "pkmsg")
                .bytes(pkmsg)])
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

/// WhatsApp's v2 plaintext padding: 1..=16 bytes of the pad length.
fn pad_v2(plaintext: &[u8]) -> Vec<u8> {
    let pad: u8 = rand::thread_rng().gen_range(1..=16);
    let mut out = Vec::with_capacity(plaintext.len() + usize::from(pad));
    out.extend_from_slice(plaintext);
    out.resize(plaintext.len() + usize::from(pad), pad);
    out
}

/// Opens a Signal session as the initiator (no one-time prekey, as at
/// pairing time the companion has published only its signed prekey) and
/// encrypts `plaintext` as the session's first `PreKeySignalMessage`.
fn encrypt_prekey_message(
    sender_identity: &KeyPair,
    sender_registration_id: u32,
    recipient_identity: &[u8; 32],
    signed_prekey_id: u32,
    signed_prekey: &[u8; 32],
    plaintext: &[u8],
) -> Vec<u8> {
    let base = KeyPair::generate();
    // X3DH: 0xFF * 32 || DH(IKa, SPKb) || DH(EKa, IKb) || DH(EKa, SPKb).
    let mut secrets = Vec::with_capacity(32 * 4);
    secrets.extend_from_slice(&[0xFF; 32]);
    secrets.extend_from_slice(&sender_identity.dh(signed_prekey));
    secrets.extend_from_slice(&base.dh(recipient_identity));
    secrets.extend_from_slice(&base.dh(signed_prekey));
    let derived: [u8; 64] = hkdf_sha256(&secrets, &[0u8; 32], b"WhisperText");
    let (root_key, _) = derived.split_at(32);

    // First sending ratchet step against the signed prekey.
    let ratchet = KeyPair::generate();
    let chained: [u8; 64] = hkdf_sha256(&ratchet.dh(signed_prekey), root_key, b"WhisperRatchet");
    let (_, chain_key) = chained.split_at(32);

    // Message keys of chain index 0.
    let seed = hmac_sha256(chain_key, &[&[0x01]]);
    let keys: [u8; 80] = hkdf_sha256(&seed, &[0u8; 32], b"WhisperMessageKeys");
    let (cipher_key, rest) = keys.split_at(32);
    let (mac_key, iv) = rest.split_at(32);
    let ciphertext = cbc::Encryptor::<aes::Aes256>::new_from_slices(cipher_key, iv)
        // Both lengths are fixed by the split above.
        .map(|enc| enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext))
        .unwrap_or_default();

    let mut signal_message = vec![SIGNAL_VERSION_BYTE];
    SignalMessage {
        ratchet_key: Some(serialize_public_key(&ratchet.public).to_vec()),
        counter: Some(0),
        previous_counter: Some(0),
        ciphertext: Some(ciphertext),
    }
    .encode(&mut signal_message)
    .unwrap_or_default();
    let mac = hmac_sha256(
        mac_key,
        &[
            &serialize_public_key(&sender_identity.public),
            &serialize_public_key(recipient_identity),
            &signal_message,
        ],
    );
    signal_message.extend_from_slice(&mac[..MAC_LEN]);

    let mut out = vec![SIGNAL_VERSION_BYTE];
    PreKeySignalMessage {
        pre_key_id: None,
        base_key: Some(serialize_public_key(&base.public).to_vec()),
        identity_key: Some(serialize_public_key(&sender_identity.public).to_vec()),
        message: Some(signal_message),
        registration_id: Some(sender_registration_id),
        signed_pre_key_id: Some(signed_prekey_id),
    }
    .encode(&mut out)
    .unwrap_or_default();
    out
}

// Wire shapes (field numbers from libsignal's WhisperTextProtocol.proto and
// waproto whatsapp.proto), only the fields this module writes.

#[derive(Clone, PartialEq, prost::Message)]
struct SignalMessage {
    #[prost(bytes = "vec", optional, tag = "1")]
    ratchet_key: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "2")]
    counter: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    previous_counter: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    ciphertext: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PreKeySignalMessage {
    #[prost(uint32, optional, tag = "1")]
    pre_key_id: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "2")]
    base_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "3")]
    identity_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    message: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "5")]
    registration_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    signed_pre_key_id: Option<u32>,
}

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
    fn padding_is_one_to_sixteen_bytes_of_its_length() {
        for _ in 0..64 {
            let padded = pad_v2(b"abc");
            let pad = *padded.last().unwrap_or(&0);
            assert!((1..=16).contains(&pad));
            assert_eq!(padded.len(), 3 + usize::from(pad));
            assert!(padded[3..].iter().all(|&b| b == pad));
        }
    }

    #[test]
    fn prekey_message_carries_the_senders_keys() {
        let sender = KeyPair::generate();
        let recipient = KeyPair::generate();
        let spk = KeyPair::generate();
        let out = encrypt_prekey_message(&sender, 42, &recipient.public, 7, &spk.public, b"hi");
        assert_eq!(out.first(), Some(&SIGNAL_VERSION_BYTE));
        let decoded = PreKeySignalMessage::decode(&out[1..]).expect("valid protobuf");
        assert_eq!(decoded.registration_id, Some(42));
        assert_eq!(decoded.signed_pre_key_id, Some(7));
        assert_eq!(
            decoded.identity_key,
            Some(serialize_public_key(&sender.public).to_vec())
        );
        assert_eq!(decoded.pre_key_id, None);
    }
}
