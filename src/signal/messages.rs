//! Wire formats of Signal messages: pairwise `SignalMessage` ("msg") and
//! `PreKeySignalMessage` ("pkmsg"); group `SenderKeyMessage` ("skmsg")
//! and `SenderKeyDistributionMessage`.
//!
//! Layout (libsignal, and so WhatsApp): one version byte
//! `(message_version << 4) | current_version`, a protobuf body, and for
//! `SignalMessage` an 8-byte truncated HMAC-SHA256 over
//! `sender identity ‖ receiver identity ‖ version ‖ body`, the identities
//! serialized with the 0x05 key-type prefix.

use prost::Message;

use super::error::SignalError;
use super::prekeys::{serialize_public_key, DJB_KEY_TYPE};
use crate::crypto::hmac_sha256;

/// Protobufs generated from `proto/signal.proto`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/signal_wire.rs"));
}

/// The Signal message version WhatsApp speaks (libsignal
/// `CIPHERTEXT_MESSAGE_CURRENT_VERSION` without post-quantum keys).
pub const MESSAGE_VERSION: u8 = 3;

/// The version byte in front of every message we write: `(3 << 4) | 3`.
pub const VERSION_BYTE: u8 = (MESSAGE_VERSION << 4) | MESSAGE_VERSION;

/// Length of the truncated MAC at the end of a `SignalMessage`.
pub const MAC_LEN: usize = 8;

/// Parses a 33-byte serialized public key (0x05 ‖ 32 bytes).
pub fn parse_public_key(bytes: &[u8]) -> Result<[u8; 32], SignalError> {
    match bytes.split_first() {
        Some((&DJB_KEY_TYPE, key)) => key.try_into().map_err(|_| SignalError::InvalidPublicKey),
        _ => Err(SignalError::InvalidPublicKey),
    }
}

/// Splits off and checks the version byte.
fn check_version(bytes: &[u8]) -> Result<&[u8], SignalError> {
    let (&version, rest) = bytes.split_first().ok_or(SignalError::Truncated)?;
    let message_version = version >> 4;
    if message_version != MESSAGE_VERSION {
        return Err(SignalError::UnsupportedVersion(message_version));
    }
    Ok(rest)
}

/// A parsed (or freshly built) `SignalMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalMessage {
    pub ratchet_key: [u8; 32],
    pub counter: u32,
    pub previous_counter: u32,
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SignalMessage {
    /// Builds and MACs a message. `sender_identity` and `receiver_identity`
    /// are the raw 32-byte identity public keys.
    pub(crate) fn new(
        mac_key: &[u8; 32],
        ratchet_key: [u8; 32],
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
        sender_identity: &[u8; 32],
        receiver_identity: &[u8; 32],
    ) -> SignalMessage {
        let body = pb::SignalMessage {
            ratchet_key: Some(serialize_public_key(&ratchet_key).to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext.clone()),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len() + MAC_LEN);
        serialized.push(VERSION_BYTE);
        serialized.extend_from_slice(&body.encode_to_vec());
        let mac = compute_mac(mac_key, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        SignalMessage {
            ratchet_key,
            counter,
            previous_counter,
            ciphertext,
            serialized,
        }
    }

    /// Parses `bytes` (version ‖ body ‖ mac). The MAC is checked later,
    /// once the session has derived the key for it.
    pub fn parse(bytes: &[u8]) -> Result<SignalMessage, SignalError> {
        let rest = check_version(bytes)?;
        let body_len = rest
            .len()
            .checked_sub(MAC_LEN)
            .ok_or(SignalError::Truncated)?;
        let body = pb::SignalMessage::decode(rest.get(..body_len).unwrap_or_default())?;
        let ratchet_key = parse_public_key(
            body.ratchet_key
                .as_deref()
                .ok_or(SignalError::MissingField("ratchetKey"))?,
        )?;
        Ok(SignalMessage {
            ratchet_key,
            counter: body.counter.ok_or(SignalError::MissingField("counter"))?,
            previous_counter: body.previous_counter.unwrap_or(0),
            ciphertext: body
                .ciphertext
                .ok_or(SignalError::MissingField("ciphertext"))?,
            serialized: bytes.to_vec(),
        })
    }

    /// The full wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Whether the trailing MAC is the one `mac_key` gives.
    pub(crate) fn verify_mac(
        &self,
        mac_key: &[u8; 32],
        sender_identity: &[u8; 32],
        receiver_identity: &[u8; 32],
    ) -> bool {
        let split = self.serialized.len().saturating_sub(MAC_LEN);
        let (signed, their_mac) = self.serialized.split_at(split);
        let ours = compute_mac(mac_key, sender_identity, receiver_identity, signed);
        bool::from(subtle::ConstantTimeEq::ct_eq(&ours[..], their_mac))
    }
}

fn compute_mac(
    mac_key: &[u8; 32],
    sender_identity: &[u8; 32],
    receiver_identity: &[u8; 32],
    signed: &[u8],
) -> [u8; MAC_LEN] {
    let full = hmac_sha256(
        mac_key,
        &[
            &serialize_public_key(sender_identity),
            &serialize_public_key(receiver_identity),
            signed,
        ],
    );
    let mut mac = [0u8; MAC_LEN];
    mac.copy_from_slice(&full[..MAC_LEN]);
    mac
}

/// A parsed (or freshly built) `PreKeySignalMessage`: the first messages of
/// a session, carrying what the receiver needs to run X3DH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    pub registration_id: u32,
    pub prekey_id: Option<u32>,
    pub signed_prekey_id: u32,
    pub base_key: [u8; 32],
    pub identity_key: [u8; 32],
    pub message: SignalMessage,
    serialized: Vec<u8>,
}

impl PreKeySignalMessage {
    pub(crate) fn new(
        registration_id: u32,
        prekey_id: Option<u32>,
        signed_prekey_id: u32,
        base_key: [u8; 32],
        identity_key: [u8; 32],
        message: SignalMessage,
    ) -> PreKeySignalMessage {
        let body = pb::PreKeySignalMessage {
            registration_id: Some(registration_id),
            pre_key_id: prekey_id,
            signed_pre_key_id: Some(signed_prekey_id),
            base_key: Some(serialize_public_key(&base_key).to_vec()),
            identity_key: Some(serialize_public_key(&identity_key).to_vec()),
            message: Some(message.serialized().to_vec()),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len());
        serialized.push(VERSION_BYTE);
        serialized.extend_from_slice(&body.encode_to_vec());
        PreKeySignalMessage {
            registration_id,
            prekey_id,
            signed_prekey_id,
            base_key,
            identity_key,
            message,
            serialized,
        }
    }

    /// Parses `bytes` (version ‖ body), including the inner `SignalMessage`.
    pub fn parse(bytes: &[u8]) -> Result<PreKeySignalMessage, SignalError> {
        let body = pb::PreKeySignalMessage::decode(check_version(bytes)?)?;
        let key = |field: &Option<Vec<u8>>, name| {
            parse_public_key(field.as_deref().ok_or(SignalError::MissingField(name))?)
        };
        Ok(PreKeySignalMessage {
            registration_id: body.registration_id.unwrap_or(0),
            prekey_id: body.pre_key_id,
            signed_prekey_id: body
                .signed_pre_key_id
                .ok_or(SignalError::MissingField("signedPreKeyId"))?,
            base_key: key(&body.base_key, "baseKey")?,
            identity_key: key(&body.identity_key, "identityKey")?,
            message: SignalMessage::parse(
                body.message
                    .as_deref()
                    .ok_or(SignalError::MissingField("message"))?,
            )?,
            serialized: bytes.to_vec(),
        })
    }

    /// The full wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Only the sender's base key of `bytes` (which session the message
    /// belongs to), without parsing the rest.
    pub fn base_key_of(bytes: &[u8]) -> Option<[u8; 32]> {
        let body = pb::PreKeySignalMessage::decode(check_version(bytes).ok()?).ok()?;
        parse_public_key(body.base_key.as_deref()?).ok()
    }
}

/// Length of the XEdDSA signature at the end of a `SenderKeyMessage`.
pub const SIGNATURE_LEN: usize = 64;

/// A group message ("skmsg"): version ‖ body ‖ XEdDSA signature by the
/// sender's signing key over version ‖ body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyMessage {
    pub chain_id: u32,
    pub iteration: u32,
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    pub(crate) fn new(
        chain_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        signing_key: &[u8; 32],
    ) -> SenderKeyMessage {
        let body = pb::SenderKeyMessage {
            id: Some(chain_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext.clone()),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len() + SIGNATURE_LEN);
        serialized.push(VERSION_BYTE);
        serialized.extend_from_slice(&body.encode_to_vec());
        let signature = crate::crypto::xeddsa_sign(signing_key, &serialized);
        serialized.extend_from_slice(&signature);
        SenderKeyMessage {
            chain_id,
            iteration,
            ciphertext,
            serialized,
        }
    }

    /// Parses `bytes`; the signature is checked once the sender's signing
    /// key is known.
    pub fn parse(bytes: &[u8]) -> Result<SenderKeyMessage, SignalError> {
        let rest = check_version(bytes)?;
        let body_len = rest
            .len()
            .checked_sub(SIGNATURE_LEN)
            .ok_or(SignalError::Truncated)?;
        let body = pb::SenderKeyMessage::decode(rest.get(..body_len).unwrap_or_default())?;
        Ok(SenderKeyMessage {
            chain_id: body.id.ok_or(SignalError::MissingField("id"))?,
            iteration: body
                .iteration
                .ok_or(SignalError::MissingField("iteration"))?,
            ciphertext: body
                .ciphertext
                .ok_or(SignalError::MissingField("ciphertext"))?,
            serialized: bytes.to_vec(),
        })
    }

    /// The full wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    pub(crate) fn verify_signature(&self, signing_key: &[u8; 32]) -> bool {
        let split = self.serialized.len().saturating_sub(SIGNATURE_LEN);
        let (signed, signature) = self.serialized.split_at(split);
        let Ok(signature) = <[u8; SIGNATURE_LEN]>::try_from(signature) else {
            return false;
        };
        crate::crypto::xeddsa_verify(signing_key, signed, &signature)
    }
}

/// What a group sender hands each member (inside a pairwise message) so
/// the member can decrypt its `skmsg`: chain id, chain position, chain key
/// and the public signing key. Not signed itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    pub chain_id: u32,
    pub iteration: u32,
    pub chain_key: [u8; 32],
    pub signing_key: [u8; 32],
}

impl SenderKeyDistributionMessage {
    /// The wire bytes (version ‖ body).
    pub fn serialize(&self) -> Vec<u8> {
        let body = pb::SenderKeyDistributionMessage {
            id: Some(self.chain_id),
            iteration: Some(self.iteration),
            chain_key: Some(self.chain_key.to_vec()),
            signing_key: Some(serialize_public_key(&self.signing_key).to_vec()),
        };
        let mut out = Vec::with_capacity(1 + body.encoded_len());
        out.push(VERSION_BYTE);
        out.extend_from_slice(&body.encode_to_vec());
        out
    }

    pub fn parse(bytes: &[u8]) -> Result<SenderKeyDistributionMessage, SignalError> {
        let body = pb::SenderKeyDistributionMessage::decode(check_version(bytes)?)?;
        Ok(SenderKeyDistributionMessage {
            chain_id: body.id.ok_or(SignalError::MissingField("id"))?,
            iteration: body
                .iteration
                .ok_or(SignalError::MissingField("iteration"))?,
            chain_key: body
                .chain_key
                .as_deref()
                .ok_or(SignalError::MissingField("chainKey"))?
                .try_into()
                .map_err(|_| SignalError::Protobuf("chainKey is not 32 bytes".into()))?,
            signing_key: parse_public_key(
                body.signing_key
                    .as_deref()
                    .ok_or(SignalError::MissingField("signingKey"))?,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignalMessage {
        SignalMessage::new(&[1; 32], [2; 32], 7, 3, vec![9; 16], &[4; 32], &[5; 32])
    }

    #[test]
    fn signal_message_round_trips_and_macs() {
        let m = sample();
        assert_eq!(m.serialized()[0], 0x33);
        let back = SignalMessage::parse(m.serialized()).unwrap();
        assert_eq!(back, m);
        assert!(back.verify_mac(&[1; 32], &[4; 32], &[5; 32]));
        // Swapping sender and receiver changes the MAC.
        assert!(!back.verify_mac(&[1; 32], &[5; 32], &[4; 32]));
        assert!(!back.verify_mac(&[0; 32], &[4; 32], &[5; 32]));
    }

    #[test]
    fn prekey_message_round_trips() {
        let m = PreKeySignalMessage::new(77, Some(12), 3, [6; 32], [8; 32], sample());
        let back = PreKeySignalMessage::parse(m.serialized()).unwrap();
        assert_eq!(back, m);
        let m = PreKeySignalMessage::new(77, None, 3, [6; 32], [8; 32], sample());
        assert_eq!(
            PreKeySignalMessage::parse(m.serialized())
                .unwrap()
                .prekey_id,
            None
        );
        assert_eq!(
            PreKeySignalMessage::base_key_of(m.serialized()),
            Some([6; 32])
        );
        assert_eq!(PreKeySignalMessage::base_key_of(&m.serialized()[..9]), None);
        assert_eq!(PreKeySignalMessage::base_key_of(&[]), None);
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        assert_eq!(SignalMessage::parse(&[]), Err(SignalError::Truncated));
        assert_eq!(
            SignalMessage::parse(&[0x33, 1, 2]),
            Err(SignalError::Truncated)
        );
        assert_eq!(
            SignalMessage::parse(&[0x23; 20]),
            Err(SignalError::UnsupportedVersion(2))
        );
        let good = sample();
        for len in 0..good.serialized().len() {
            let _ = SignalMessage::parse(&good.serialized()[..len]);
            let _ = PreKeySignalMessage::parse(&good.serialized()[..len]);
        }
        // A key without the 0x05 prefix is refused.
        assert_eq!(
            parse_public_key(&[0x06; 33]),
            Err(SignalError::InvalidPublicKey)
        );
        assert_eq!(
            parse_public_key(&[0x05; 32]),
            Err(SignalError::InvalidPublicKey)
        );
    }
}
