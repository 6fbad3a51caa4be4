//! The Double Ratchet's key derivations and message cipher, with
//! libsignal's (and so WhatsApp's) labels:
//! - X3DH master secret -> root key + chain key: HKDF info "WhisperText";
//! - DH ratchet step: HKDF(salt = root key, ikm = DH) info "WhisperRatchet";
//! - chain step: HMAC(chain key, 0x01) = message key seed,
//!   HMAC(chain key, 0x02) = next chain key;
//! - message keys: HKDF(seed) info "WhisperMessageKeys" -> 32-byte AES key,
//!   32-byte MAC key, 16-byte IV;
//! - AES-256-CBC with PKCS#7 padding.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::error::SignalError;
use crate::crypto::{hkdf_sha256, hmac_sha256, KeyPair};

/// Splits 64 bytes of HKDF output into (root key, chain key).
fn split64(okm: [u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut root = [0u8; 32];
    let mut chain = [0u8; 32];
    root.copy_from_slice(&okm[..32]);
    chain.copy_from_slice(&okm[32..]);
    (root, chain)
}

/// X3DH: the master secret's root key and first chain key. No salt
/// (HKDF's default of 32 zero bytes, which an empty salt equals).
pub(crate) fn derive_initial_keys(master_secret: &[u8]) -> ([u8; 32], [u8; 32]) {
    split64(hkdf_sha256::<64>(master_secret, &[], b"WhisperText"))
}

/// One DH ratchet step: (new root key, new chain key).
pub(crate) fn ratchet_root(
    root_key: &[u8; 32],
    their_ratchet_key: &[u8; 32],
    our_ratchet_key: &KeyPair,
) -> ([u8; 32], [u8; 32]) {
    let shared = our_ratchet_key.dh(their_ratchet_key);
    split64(hkdf_sha256::<64>(&shared, root_key, b"WhisperRatchet"))
}

/// The message key seed at a chain position.
pub(crate) fn message_seed(chain_key: &[u8; 32]) -> [u8; 32] {
    hmac_sha256(chain_key, &[&[0x01]])
}

/// The chain key of the next position.
pub(crate) fn next_chain_key(chain_key: &[u8; 32]) -> [u8; 32] {
    hmac_sha256(chain_key, &[&[0x02]])
}

/// A message key seed kept for a message that has not arrived yet.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SkippedKey {
    #[serde(rename = "i")]
    pub index: u32,
    #[serde(rename = "s", with = "super::serde_b64::bytes32")]
    pub seed: [u8; 32],
}

/// A receiving chain's position: its current chain key, the index that key
/// is at, and the seeds it skipped (oldest first). Pairwise sessions and
/// sender keys walk their chains the same way.
pub(crate) struct ChainCursor<'a> {
    pub chain_key: &'a mut [u8; 32],
    pub index: &'a mut u32,
    pub skipped: &'a mut Vec<SkippedKey>,
}

impl ChainCursor<'_> {
    /// The message key seed at `target`: a stored skipped one (taken out,
    /// so a replay fails), or the chain advanced to it, storing the seeds
    /// it passes. Jumps beyond `max_jump` are refused; trimming the stored
    /// seeds is the caller's policy.
    pub fn seed_at(&mut self, target: u32, max_jump: usize) -> Result<[u8; 32], SignalError> {
        if target < *self.index {
            let pos = self
                .skipped
                .iter()
                .position(|k| k.index == target)
                .ok_or(SignalError::DuplicateMessage { counter: target })?;
            return Ok(self.skipped.remove(pos).seed);
        }
        let jump = target - *self.index;
        if jump as usize > max_jump {
            return Err(SignalError::TooFarInFuture {
                jump,
                limit: u32::try_from(max_jump).unwrap_or(u32::MAX),
            });
        }
        while *self.index < target {
            self.skipped.push(SkippedKey {
                index: *self.index,
                seed: message_seed(self.chain_key),
            });
            *self.chain_key = next_chain_key(self.chain_key);
            *self.index += 1;
        }
        let seed = message_seed(self.chain_key);
        *self.chain_key = next_chain_key(self.chain_key);
        *self.index = target.checked_add(1).ok_or(SignalError::CounterExhausted)?;
        Ok(seed)
    }
}

/// The keys that encrypt and authenticate one message.
pub(crate) struct MessageKeys {
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    pub iv: [u8; 16],
}

impl MessageKeys {
    pub(crate) fn from_seed(seed: &[u8; 32]) -> MessageKeys {
        let okm = hkdf_sha256::<80>(seed, &[], b"WhisperMessageKeys");
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..]);
        keys
    }

    pub(crate) fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        aes_cbc_encrypt(&self.cipher_key, &self.iv, plaintext)
    }

    pub(crate) fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, SignalError> {
        aes_cbc_decrypt(&self.cipher_key, &self.iv, ciphertext)
    }
}

/// AES-256-CBC with PKCS#7 padding.
pub(crate) fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// The inverse of [`aes_cbc_encrypt`]; a bad length or padding is an error.
pub(crate) fn aes_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SignalError> {
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(SignalError::InvalidCiphertext);
    }
    cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| SignalError::InvalidCiphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_round_trips_and_rejects_bad_padding() {
        let keys = MessageKeys::from_seed(&[3; 32]);
        for len in [0usize, 1, 15, 16, 17, 100] {
            let pt = vec![0xAB; len];
            let ct = keys.encrypt(&pt);
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            assert_eq!(keys.decrypt(&ct).unwrap(), pt);
        }
        assert_eq!(keys.decrypt(&[]), Err(SignalError::InvalidCiphertext));
        assert_eq!(keys.decrypt(&[0; 15]), Err(SignalError::InvalidCiphertext));
    }

    #[test]
    fn chain_steps_differ() {
        let ck = [9u8; 32];
        assert_ne!(message_seed(&ck), next_chain_key(&ck));
        let a = MessageKeys::from_seed(&message_seed(&ck));
        assert_ne!(a.cipher_key, a.mac_key);
    }

    #[test]
    fn ratchet_step_agrees_on_both_sides() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        let root = [5u8; 32];
        assert_eq!(
            ratchet_root(&root, &b.public, &a),
            ratchet_root(&root, &a.public, &b)
        );
    }
}
