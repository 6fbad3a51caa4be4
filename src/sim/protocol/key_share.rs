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
//!
//! Owns: the account's [`AppStateKey`] and the key-share stanza. Pure but
//! for the session record it is given. Must not touch: when the share is
//! sent or which session it rides on (`phone::key_share`).

use rand::Rng as _;

use super::messages::enc_node;
use crate::crypto::KeyPair;
use crate::proto::protocol_message::Type as ProtocolMessageType;
use crate::proto::{
    AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyFingerprint, AppStateSyncKeyId,
    AppStateSyncKeyShare, ProtocolMessage,
};
use crate::signal::{self, PreKeyBundle, SessionRecord, SignalError};
use crate::types::{Jid, MessageId};
use crate::wire::Node;

/// An account's app-state sync key, as the phone shares it with companions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStateKey {
    /// WhatsApp key ids are 6 bytes: 4 zero bytes and a 16-bit counter.
    pub id: [u8; 6],
    pub data: [u8; 32],
    /// Milliseconds since the epoch when the phone created it.
    pub timestamp: i64,
    /// Fingerprint: the phone's ADV raw id and the device indexes it covers.
    pub raw_id: u32,
}

impl AppStateKey {
    /// A fresh key, created `now_millis` after the epoch.
    pub fn generate(raw_id: u32, now_millis: u64) -> Self {
        let mut rng = rand::thread_rng();
        let mut id = [0u8; 6];
        id[4..].copy_from_slice(&rng.gen_range(1u16..u16::MAX).to_be_bytes());
        AppStateKey {
            id,
            data: rng.gen(),
            timestamp: i64::try_from(now_millis).unwrap_or(i64::MAX),
            raw_id,
        }
    }
}

/// Everything the phone needs to send one key share to one companion.
pub struct KeyShareOrder {
    /// The account (the message comes from its phone, device 0).
    pub phone: Jid,
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
    pub fn to_stanza(&self, session: &mut SessionRecord, now: u64) -> Result<Node, SignalError> {
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
        Ok(Node::new("message")
            .attr("from", self.phone.to_string())
            .attr("id", MessageId::generate().into_string())
            .attr("type", "text")
            .attr("t", now.to_string())
            .children(vec![enc_node(&pkmsg)]))
    }

    /// `Message{protocolMessage{type: APP_STATE_SYNC_KEY_SHARE, keys: [..]}}`.
    fn message(&self) -> Vec<u8> {
        let key = &self.key;
        crate::proto::protocol_message(ProtocolMessage {
            r#type: Some(ProtocolMessageType::AppStateSyncKeyShare.into()),
            app_state_sync_key_share: Some(AppStateSyncKeyShare {
                keys: vec![AppStateSyncKey {
                    key_id: Some(AppStateSyncKeyId {
                        key_id: Some(key.id.to_vec()),
                    }),
                    key_data: Some(AppStateSyncKeyData {
                        key_data: Some(key.data.to_vec()),
                        fingerprint: Some(AppStateSyncKeyFingerprint {
                            raw_id: Some(key.raw_id),
                            current_index: Some(0),
                            device_indexes: vec![0],
                        }),
                        timestamp: Some(key.timestamp),
                    }),
                }],
            }),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::proto::Message;

    #[test]
    fn the_key_share_is_a_prekey_message_the_companion_can_decrypt() {
        let phone = KeyPair::generate();
        let companion = KeyPair::generate();
        let spk = signal::SignedPreKey::generate(&companion, 7);
        let order = KeyShareOrder {
            phone: Jid::pn("15550001111"),
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
            .to_stanza(&mut SessionRecord::new(), 1)
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
        let message = Message::decode(body).expect("a Message protobuf");
        let share = message
            .protocol_message
            .and_then(|p| p.app_state_sync_key_share)
            .expect("a key share");
        assert_eq!(share.keys.len(), 1);
    }
}
