//! A file's keys: its random media key expanded with HKDF-SHA256 (no
//! salt, the kind's label as info) into 112 bytes, of which the first 16
//! are the IV, the next 32 the AES key and the next 32 the MAC key (the
//! last 32, a "ref key", are unused; whatsmeow `getMediaKeys`).

use rand::RngCore;

use super::kind::MediaKind;

/// The random 32 bytes a message carries as `mediaKey`.
pub type MediaKey = [u8; 32];

/// What one file is encrypted and authenticated with.
pub struct MediaKeys {
    pub iv: [u8; 16],
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
}

impl MediaKeys {
    /// A fresh random media key.
    pub fn generate_key() -> MediaKey {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        key
    }

    /// The keys of a file of kind `kind` under `media_key`.
    pub fn expand(media_key: &MediaKey, kind: MediaKind) -> MediaKeys {
        let expanded: [u8; 112] =
            crate::crypto::hkdf_sha256(media_key, &[], kind.key_label().as_bytes());
        let mut keys = MediaKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
        };
        keys.iv.copy_from_slice(&expanded[..16]);
        keys.cipher_key.copy_from_slice(&expanded[16..48]);
        keys.mac_key.copy_from_slice(&expanded[48..80]);
        keys
    }
}
