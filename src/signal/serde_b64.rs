//! Serde helpers that store keys and byte strings as standard base64.
//!
//! Long-lived key pairs (identity, prekeys) are stored by their private
//! half only; the public half is derived again on load, so such a file can
//! never hold a mismatched pair. Ratchet key pairs, loaded with every
//! message, are stored with their public half ([`key_pair_full`]): deriving
//! it was a quarter of the engine's CPU per message in `wasp bench`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

use crate::crypto::KeyPair;

fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD
        .decode(text.as_bytes())
        .map_err(|e| D::Error::custom(format!("invalid base64: {e}")))
}

fn decode_array<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    let bytes = decode(d)?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| D::Error::custom(format!("expected {N} bytes, got {len}")))
}

/// `Vec<u8>` as base64.
pub mod bytes {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        decode(d)
    }
}

/// `Option<Vec<u8>>` as base64 or null.
pub mod opt_bytes {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&STANDARD.encode(v)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            STANDARD
                .decode(t.as_bytes())
                .map_err(|e| D::Error::custom(format!("invalid base64: {e}")))
        })
        .transpose()
    }
}

/// `[u8; 32]` as base64.
pub mod bytes32 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        decode_array(d)
    }
}

/// `[u8; 64]` as base64.
pub mod bytes64 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        decode_array(d)
    }
}

/// A [`KeyPair`] as the base64 of its private key.
pub mod key_pair {
    use super::*;
    pub fn serialize<S: Serializer>(v: &KeyPair, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v.private))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
        Ok(KeyPair::from_private(decode_array(d)?))
    }
}

/// A [`KeyPair`] as the base64 of private ‖ public (64 bytes). A 32-byte
/// value (the private half alone, as older records hold) is accepted and
/// its public half derived.
pub mod key_pair_full {
    use super::*;
    pub fn serialize<S: Serializer>(v: &KeyPair, s: S) -> Result<S::Ok, S::Error> {
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&v.private);
        both[32..].copy_from_slice(&v.public);
        s.serialize_str(&STANDARD.encode(both))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
        let bytes = decode(d)?;
        match bytes.len() {
            32 => {
                let mut private = [0u8; 32];
                private.copy_from_slice(&bytes);
                Ok(KeyPair::from_private(private))
            }
            64 => {
                let mut private = [0u8; 32];
                let mut public = [0u8; 32];
                private.copy_from_slice(&bytes[..32]);
                public.copy_from_slice(&bytes[32..]);
                Ok(KeyPair::from_parts(private, public))
            }
            n => Err(D::Error::custom(format!(
                "expected 32 or 64 bytes, got {n}"
            ))),
        }
    }
}
