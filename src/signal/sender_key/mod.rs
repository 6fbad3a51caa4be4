//! Sender keys: group messages ("skmsg") as libsignal (and so WhatsApp)
//! does them. Each group member keeps one [`SenderKeyRecord`] per
//! (group, sender device): for itself the chain it sends on, for others
//! the chains they distributed to it.
//!
//! Labels and rules (libsignal `group_cipher` / `sender_keys`):
//! - chain step: HMAC(chain key, 0x01) = message key seed,
//!   HMAC(chain key, 0x02) = next chain key;
//! - message key: HKDF(seed) info "WhisperGroup" -> 16-byte IV then
//!   32-byte AES key; AES-256-CBC with PKCS#7;
//! - each message is XEdDSA-signed by the chain's signing key;
//! - at most 5 chains per record, 2000 skipped keys per chain, and one
//!   message may jump at most 2000 iterations ahead.
//!
//! Like pairwise sessions, decryption is transactional: on any error the
//! record is unchanged.

use std::collections::VecDeque;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::error::SignalError;
use super::messages::{SenderKeyDistributionMessage, SenderKeyMessage};
use super::ratchet::{
    aes_cbc_decrypt, aes_cbc_encrypt, message_seed, next_chain_key, ChainCursor, SkippedKey,
};
use super::serde_b64;
use super::session::MAX_SKIPPED_KEYS;
use crate::crypto::{hkdf_sha256, KeyPair};

/// Most chains a sender key record keeps (libsignal `MAX_SENDER_KEY_STATES`).
pub const MAX_SENDER_KEY_STATES: usize = 5;

/// One sender's chains for one group, newest first.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct SenderKeyRecord {
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    states: VecDeque<SenderKeyState>,
}

#[derive(Clone, Serialize, Deserialize)]
struct SenderKeyState {
    #[serde(rename = "id")]
    chain_id: u32,
    #[serde(rename = "i")]
    iteration: u32,
    #[serde(rename = "ck", with = "serde_b64::bytes32")]
    chain_key: [u8; 32],
    #[serde(rename = "sk", with = "serde_b64::bytes32")]
    signing_public: [u8; 32],
    /// Present only on our own sending chain.
    #[serde(rename = "sp", default, skip_serializing_if = "Option::is_none")]
    signing_private: Option<SigningPrivate>,
    #[serde(rename = "mk", default, skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<SkippedKey>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct SigningPrivate(#[serde(with = "serde_b64::bytes32")] [u8; 32]);

/// Never prints key material.
impl std::fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chains: Vec<(u32, u32)> = self
            .states
            .iter()
            .map(|s| (s.chain_id, s.iteration))
            .collect();
        f.debug_struct("SenderKeyRecord")
            .field("chains", &chains)
            .finish()
    }
}

impl SenderKeyRecord {
    pub fn new() -> SenderKeyRecord {
        SenderKeyRecord::default()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Adds a chain, as libsignal's `add_sender_key_state` does: a chain we
    /// already hold (same id and signing key) keeps its progress, another
    /// chain with the same id is replaced, and the oldest chains beyond
    /// [`MAX_SENDER_KEY_STATES`] are dropped.
    fn add_state(&mut self, state: SenderKeyState) {
        let existing = self
            .states
            .iter()
            .position(|s| s.chain_id == state.chain_id && s.signing_public == state.signing_public)
            .and_then(|pos| self.states.remove(pos));
        self.states.retain(|s| s.chain_id != state.chain_id);
        self.states.truncate(MAX_SENDER_KEY_STATES - 1);
        self.states.push_front(existing.unwrap_or(state));
    }
}

/// The IV and AES key of one group message.
fn group_message_key(seed: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let okm = hkdf_sha256::<48>(seed, &[], b"WhisperGroup");
    let mut iv = [0u8; 16];
    let mut key = [0u8; 32];
    iv.copy_from_slice(&okm[..16]);
    key.copy_from_slice(&okm[16..]);
    (iv, key)
}

/// Our distribution message for a group, creating our sending chain on
/// first use. Send it (pairwise-encrypted) to every member device that
/// has not had it yet.
pub fn create_distribution(record: &mut SenderKeyRecord) -> SenderKeyDistributionMessage {
    let own = record
        .states
        .front()
        .filter(|s| s.signing_private.is_some())
        .cloned();
    let state = match own {
        Some(state) => state,
        None => {
            let mut chain_key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut chain_key);
            let signing = KeyPair::generate();
            // 31-bit chain ids, as libsignal draws them.
            let state = SenderKeyState {
                chain_id: rand::rngs::OsRng.next_u32() >> 1,
                iteration: 0,
                chain_key,
                signing_public: signing.public,
                signing_private: Some(SigningPrivate(signing.private)),
                skipped: Vec::new(),
            };
            record.add_state(state.clone());
            state
        }
    };
    SenderKeyDistributionMessage {
        chain_id: state.chain_id,
        iteration: state.iteration,
        chain_key: state.chain_key,
        signing_key: state.signing_public,
    }
}

/// Stores a chain another member distributed to us (its SKDM bytes).
pub fn process_distribution(record: &mut SenderKeyRecord, bytes: &[u8]) -> Result<(), SignalError> {
    let message = SenderKeyDistributionMessage::parse(bytes)?;
    record.add_state(SenderKeyState {
        chain_id: message.chain_id,
        iteration: message.iteration,
        chain_key: message.chain_key,
        signing_public: message.signing_key,
        signing_private: None,
        skipped: Vec::new(),
    });
    Ok(())
}

/// Encrypts a group message on our own chain (see [`create_distribution`]).
pub fn group_encrypt(
    record: &mut SenderKeyRecord,
    plaintext: &[u8],
) -> Result<Vec<u8>, SignalError> {
    let state = record
        .states
        .front_mut()
        .filter(|s| s.signing_private.is_some())
        .ok_or(SignalError::NoOwnSenderKey)?;
    let Some(SigningPrivate(signing_private)) = &state.signing_private else {
        return Err(SignalError::NoOwnSenderKey);
    };
    let next_iteration = state
        .iteration
        .checked_add(1)
        .ok_or(SignalError::CounterExhausted)?;
    let (iv, key) = group_message_key(&message_seed(&state.chain_key));
    let message = SenderKeyMessage::new(
        state.chain_id,
        state.iteration,
        aes_cbc_encrypt(&key, &iv, plaintext),
        signing_private,
    );
    state.chain_key = next_chain_key(&state.chain_key);
    state.iteration = next_iteration;
    Ok(message.serialized().to_vec())
}

/// Decrypts a group message from the sender this record belongs to. On
/// any error the record is unchanged.
pub fn group_decrypt(record: &mut SenderKeyRecord, bytes: &[u8]) -> Result<Vec<u8>, SignalError> {
    let message = SenderKeyMessage::parse(bytes)?;
    let mut staged = record.clone();
    let state = staged
        .states
        .iter_mut()
        .find(|s| s.chain_id == message.chain_id)
        .ok_or(SignalError::NoSenderKey {
            chain_id: message.chain_id,
        })?;
    if !message.verify_signature(&state.signing_public) {
        return Err(SignalError::BadSignature);
    }
    let seed = group_message_seed(state, message.iteration)?;
    let (iv, key) = group_message_key(&seed);
    let plaintext = aes_cbc_decrypt(&key, &iv, &message.ciphertext)?;
    *record = staged;
    Ok(plaintext)
}

/// The message key seed at `iteration`: a stored skipped one, or the chain
/// advanced to it (keeping the keys it skips, at most [`MAX_SKIPPED_KEYS`]).
fn group_message_seed(state: &mut SenderKeyState, iteration: u32) -> Result<[u8; 32], SignalError> {
    let seed = ChainCursor {
        chain_key: &mut state.chain_key,
        index: &mut state.iteration,
        skipped: &mut state.skipped,
    }
    .seed_at(iteration, MAX_SKIPPED_KEYS)?;
    let excess = state.skipped.len().saturating_sub(MAX_SKIPPED_KEYS);
    state.skipped.drain(..excess);
    Ok(seed)
}

#[cfg(test)]
mod tests;
