//! Registration key material: identity key, registration id, signed
//! prekey and one-time prekeys.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::serde_b64;
use crate::crypto::KeyPair;

/// The account-independent identity key of this device.
pub type IdentityKeyPair = KeyPair;

/// Curve type byte Signal puts before a Curve25519 public key
/// (libsignal `DJB_TYPE`; whatsmeow `ecc.DjbType`).
pub const DJB_KEY_TYPE: u8 = 0x05;

/// Prekey ids travel as 3 bytes on the wire, so they live in 1..=2^24-1.
pub const MAX_PREKEY_ID: u32 = 0x00FF_FFFF;

/// The 33-byte Signal serialization of a public key: type byte + key.
pub fn serialize_public_key(public: &[u8; 32]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = DJB_KEY_TYPE;
    out[1..].copy_from_slice(public);
    out
}

/// A random registration id in 1..=16380, the 14-bit range libsignal's
/// `generateRegistrationId` produces.
pub fn registration_id() -> u32 {
    rand::thread_rng().gen_range(1..=16380)
}

/// The id after `id`, wrapping from [`MAX_PREKEY_ID`] back to 1.
pub fn next_prekey_id(id: u32) -> u32 {
    if id >= MAX_PREKEY_ID {
        1
    } else {
        id + 1
    }
}

/// A medium-term prekey signed by the identity key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedPreKey {
    pub id: u32,
    #[serde(rename = "private", with = "serde_b64::key_pair")]
    pub key_pair: KeyPair,
    #[serde(with = "serde_b64::bytes64")]
    pub signature: [u8; 64],
}

impl SignedPreKey {
    /// A fresh signed prekey. The XEdDSA signature covers the 33-byte
    /// serialized public key (type byte 0x05 + key), as libsignal and
    /// WhatsApp sign it (wacore `Device::new`, whatsmeow `NewSignedPreKey`).
    pub fn generate(identity: &IdentityKeyPair, id: u32) -> SignedPreKey {
        let key_pair = KeyPair::generate();
        let signature = identity.sign(&serialize_public_key(&key_pair.public));
        SignedPreKey {
            id,
            key_pair,
            signature,
        }
    }

    /// Whether `signature` is a valid signature by `identity_public`.
    pub fn verify(&self, identity_public: &[u8; 32]) -> bool {
        crate::crypto::xeddsa_verify(
            identity_public,
            &serialize_public_key(&self.key_pair.public),
            &self.signature,
        )
    }
}

/// A one-time prekey.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreKey {
    pub id: u32,
    #[serde(rename = "private", with = "serde_b64::key_pair")]
    pub key_pair: KeyPair,
}

/// `count` fresh one-time prekeys with consecutive ids starting at
/// `first_id` (wrapping within the 24-bit id space).
pub fn generate_prekeys(first_id: u32, count: u32) -> Vec<PreKey> {
    let mut id = first_id.clamp(1, MAX_PREKEY_ID);
    let mut keys = Vec::with_capacity(count as usize);
    for _ in 0..count {
        keys.push(PreKey {
            id,
            key_pair: KeyPair::generate(),
        });
        id = next_prekey_id(id);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_ids_stay_in_range() {
        for _ in 0..2000 {
            assert!((1..=16380).contains(&registration_id()));
        }
    }

    #[test]
    fn prekey_ids_increase_and_wrap_in_24_bits() {
        let keys = generate_prekeys(MAX_PREKEY_ID - 1, 3);
        let ids: Vec<u32> = keys.iter().map(|k| k.id).collect();
        assert_eq!(ids, vec![MAX_PREKEY_ID - 1, MAX_PREKEY_ID, 1]);
        let keys = generate_prekeys(7, 3);
        assert_eq!(keys.iter().map(|k| k.id).collect::<Vec<_>>(), vec![7, 8, 9]);
        assert_ne!(keys[0].key_pair.public, keys[1].key_pair.public);
    }

    #[test]
    fn serialized_public_key_has_the_djb_prefix() {
        let kp = KeyPair::generate();
        let s = serialize_public_key(&kp.public);
        assert_eq!(s[0], 0x05);
        assert_eq!(&s[1..], &kp.public);
    }

    #[test]
    fn prekeys_round_trip_through_json_without_the_public_half() {
        let pk = generate_prekeys(1, 1).remove(0);
        let json = serde_json::to_string(&pk).unwrap();
        assert!(!json.contains("public"));
        let back: PreKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back.id, 1);
        assert_eq!(back.key_pair.public, pk.key_pair.public);
        assert!(serde_json::from_str::<PreKey>(r#"{"id":1,"private":"AAAA"}"#).is_err());
    }

    // Needs the real XEdDSA (crypto helper); ignored while it is a stub.
    #[test]
    fn signed_prekey_signature_verifies() {
        let identity = KeyPair::generate();
        let spk = SignedPreKey::generate(&identity, 1);
        assert!(spk.verify(&identity.public));
        assert!(!spk.verify(&KeyPair::generate().public));
        let json = serde_json::to_string(&spk).unwrap();
        let back: SignedPreKey = serde_json::from_str(&json).unwrap();
        assert!(back.verify(&identity.public));
    }
}
