//! Encrypting and decrypting pairwise messages with a [`SessionRecord`].
//!
//! Pure functions: state in, state out. Every decrypt works on a staged
//! copy of the record and writes it back only on success, so a forged,
//! corrupted or replayed message never changes what the caller persists.

use super::error::SignalError;
use super::prekeys::IdentityKeyPair;
use super::ratchet::{ratchet_root, MessageKeys};
use super::state::{
    ReceiverChain, SenderChain, SessionRecord, SessionState, SkippedKey, MAX_FORWARD_JUMP,
    MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS,
};
use super::wire::{PreKeySignalMessage, SignalMessage};
use super::x3dh::{self, LocalIdentity, PreKeyBundle};
use crate::crypto::KeyPair;

/// An encrypted pairwise message, as WhatsApp's `<enc type=...>` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncryptedMessage {
    /// `pkmsg`: a PreKeySignalMessage (the peer has not answered yet).
    PreKey(Vec<u8>),
    /// `msg`: a SignalMessage.
    Whisper(Vec<u8>),
}

impl EncryptedMessage {
    /// WhatsApp's `enc` type attribute for this message.
    pub fn enc_type(&self) -> &'static str {
        match self {
            EncryptedMessage::PreKey(_) => "pkmsg",
            EncryptedMessage::Whisper(_) => "msg",
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            EncryptedMessage::PreKey(b) | EncryptedMessage::Whisper(b) => b,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            EncryptedMessage::PreKey(b) | EncryptedMessage::Whisper(b) => b,
        }
    }
}

/// How a presented identity key compares with the one we knew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityStatus {
    /// We knew no identity for this peer (first contact).
    New,
    /// Same key as before.
    Unchanged,
    /// A different key: the peer reinstalled, or someone impersonates it.
    /// WhatsApp accepts it and shows "security code changed".
    Changed,
}

/// Compares a presented identity key with the one on record.
pub fn identity_status(known: Option<&[u8; 32]>, presented: &[u8; 32]) -> IdentityStatus {
    match known {
        None => IdentityStatus::New,
        Some(k) if k == presented => IdentityStatus::Unchanged,
        Some(_) => IdentityStatus::Changed,
    }
}

/// Where the responder finds the prekeys a PreKeySignalMessage names.
pub trait PreKeySource {
    fn signed_prekey(&self, id: u32) -> Option<KeyPair>;
    fn one_time_prekey(&self, id: u32) -> Option<KeyPair>;
}

/// Starts a new session towards the owner of `bundle` (X3DH initiator),
/// making it current in `record` (older states are archived; on an
/// identity change they are dropped). Returns how the bundle's identity
/// compares with the one on record.
pub fn initiate_session(
    record: &mut SessionRecord,
    local: LocalIdentity<'_>,
    bundle: &PreKeyBundle,
) -> Result<IdentityStatus, SignalError> {
    let state = x3dh::initiate(local, bundle)?;
    let status = identity_status(record.remote_identity().as_ref(), &bundle.identity_key);
    if status == IdentityStatus::Changed {
        record.previous.clear();
    }
    record.promote(state);
    Ok(status)
}

/// Encrypts `plaintext` with the current session: a PreKeySignalMessage
/// while the peer has not answered, a SignalMessage afterwards. Advances
/// the sending chain: persist `record` before the bytes leave.
pub fn encrypt(record: &mut SessionRecord, plaintext: &[u8]) -> Result<EncryptedMessage, SignalError> {
    let state = record.current.as_mut().ok_or(SignalError::NoSession)?;
    let keys = MessageKeys::from_seed(&state.sender.chain.message_key_seed());
    let message = SignalMessage::encode(
        &keys.mac_key,
        &state.local_identity,
        &state.remote_identity,
        &state.sender.ratchet.public,
        state.sender.chain.index,
        state.previous_counter,
        keys.encrypt(plaintext),
    );
    state.sender.chain = state.sender.chain.next();
    Ok(match &state.pending_prekey {
        Some(pending) => EncryptedMessage::PreKey(PreKeySignalMessage::encode(
            state.local_registration_id,
            pending.prekey_id,
            pending.signed_prekey_id,
            &pending.base_key,
            &state.local_identity,
            message,
        )),
        None => EncryptedMessage::Whisper(message),
    })
}

/// Decrypts a SignalMessage (`msg`) with the record's sessions.
pub fn decrypt_message(record: &mut SessionRecord, bytes: &[u8]) -> Result<Vec<u8>, SignalError> {
    let message = SignalMessage::decode(bytes)?;
    let mut staged = record.clone();
    let plaintext = decrypt_in_record(&mut staged, &message)?;
    *record = staged;
    Ok(plaintext)
}

/// The result of decrypting a PreKeySignalMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyDecrypted {
    pub plaintext: Vec<u8>,
    /// The one-time prekey this message used up: delete it (in the same
    /// write as the record). `None` when no one-time prekey was named or
    /// the session already existed.
    pub consumed_prekey_id: Option<u32>,
    /// The sender's identity key, and how it compares with the record's.
    pub sender_identity: [u8; 32],
    pub identity: IdentityStatus,
}

/// Decrypts a PreKeySignalMessage (`pkmsg`), creating the session (X3DH
/// responder) unless a state from the same base key already exists.
pub fn decrypt_prekey_message(
    record: &mut SessionRecord,
    local: LocalIdentity<'_>,
    prekeys: &impl PreKeySource,
    bytes: &[u8],
) -> Result<PreKeyDecrypted, SignalError> {
    let message = PreKeySignalMessage::decode(bytes)?;
    let mut staged = record.clone();
    let identity = identity_status(staged.remote_identity().as_ref(), &message.identity_key);
    let consumed_prekey_id = if staged.promote_matching(&message.base_key, &message.identity_key) {
        None
    } else {
        let signed = prekeys
            .signed_prekey(message.signed_prekey_id)
            .ok_or(SignalError::UnknownSignedPreKey(message.signed_prekey_id))?;
        let one_time = match message.prekey_id {
            Some(id) => Some(
                prekeys
                    .one_time_prekey(id)
                    .ok_or(SignalError::UnknownPreKey(id))?,
            ),
            None => None,
        };
        let state = x3dh::accept(local, &signed, one_time.as_ref(), &message);
        if identity == IdentityStatus::Changed {
            staged.previous.clear();
        }
        staged.promote(state);
        message.prekey_id
    };
    let plaintext = decrypt_in_record(&mut staged, &message.message)?;
    *record = staged;
    Ok(PreKeyDecrypted {
        plaintext,
        consumed_prekey_id,
        sender_identity: message.identity_key,
        identity,
    })
}

/// Tries the current state, then archived ones (libsignal's order); a
/// state that decrypts becomes current. A replay stops the search.
fn decrypt_in_record(record: &mut SessionRecord, message: &SignalMessage) -> Result<Vec<u8>, SignalError> {
    let current = record.current.as_ref().ok_or(SignalError::NoSession)?;
    let mut staged = current.clone();
    let first_error = match decrypt_with_state(&mut staged, message) {
        Ok(plaintext) => {
            record.current = Some(staged);
            return Ok(plaintext);
        }
        Err(e @ SignalError::Duplicate { .. }) => return Err(e),
        Err(e) => e,
    };
    for pos in 0..record.previous.len() {
        let Some(mut staged) = record.previous.get(pos).cloned() else {
            break;
        };
        match decrypt_with_state(&mut staged, message) {
            Ok(plaintext) => {
                record.previous.remove(pos);
                record.promote(staged);
                return Ok(plaintext);
            }
            Err(e @ SignalError::Duplicate { .. }) => return Err(e),
            Err(_) => continue,
        }
    }
    Err(first_error)
}

fn decrypt_with_state(state: &mut SessionState, message: &SignalMessage) -> Result<Vec<u8>, SignalError> {
    let chain = receiver_chain(state, &message.ratchet_key);
    let keys = message_keys(chain, message.counter)?;
    message.verify_mac(&keys.mac_key, &state.remote_identity, &state.local_identity)?;
    let plaintext = keys.decrypt(&message.ciphertext)?;
    // The peer has our session: stop sending PreKeySignalMessages.
    state.pending_prekey = None;
    Ok(plaintext)
}

/// The receiving chain for `their_ratchet`, taking a DH ratchet step
/// (new receiving chain, new sending ratchet key) when it is new.
fn receiver_chain<'s>(state: &'s mut SessionState, their_ratchet: &[u8; 32]) -> &'s mut ReceiverChain {
    let pos = match state
        .receivers
        .iter()
        .position(|c| &c.ratchet_key == their_ratchet)
    {
        Some(pos) => pos,
        None => {
            let (root_key, receiving) = ratchet_root(&state.root_key, &state.sender.ratchet, their_ratchet);
            let ours = KeyPair::generate();
            let (root_key, sending) = ratchet_root(&root_key, &ours, their_ratchet);
            state.root_key = root_key;
            state.previous_counter = state.sender.chain.index.saturating_sub(1);
            state.sender = SenderChain {
                ratchet: ours,
                chain: sending,
            };
            state
                .receivers
                .push(ReceiverChain::new(*their_ratchet, receiving));
            if state.receivers.len() > MAX_RECEIVER_CHAINS {
                state.receivers.remove(0);
            }
            state.receivers.len() - 1
        }
    };
    &mut state.receivers[pos]
}

/// The keys of message `counter` on `chain`: a stored skipped key for an
/// older counter, else the chain advanced (storing the keys it skips).
fn message_keys(chain: &mut ReceiverChain, counter: u32) -> Result<MessageKeys, SignalError> {
    if counter < chain.chain.index {
        return match chain.skipped.iter().position(|k| k.index == counter) {
            Some(pos) => Ok(MessageKeys::from_seed(&chain.skipped.remove(pos).seed)),
            None => Err(SignalError::Duplicate { counter }),
        };
    }
    let jump = counter - chain.chain.index;
    if jump > MAX_FORWARD_JUMP {
        return Err(SignalError::TooFarInFuture {
            jump,
            max: MAX_FORWARD_JUMP,
        });
    }
    let mut key = chain.chain.clone();
    while key.index < counter {
        chain.skipped.push(SkippedKey {
            index: key.index,
            seed: key.message_key_seed(),
        });
        key = key.next();
    }
    if chain.skipped.len() > MAX_SKIPPED_KEYS {
        let excess = chain.skipped.len() - MAX_SKIPPED_KEYS;
        chain.skipped.drain(..excess);
    }
    let keys = MessageKeys::from_seed(&key.message_key_seed());
    chain.chain = key.next();
    Ok(keys)
}

/// Local keys bundled for [`LocalIdentity`] construction convenience.
pub fn local_identity(identity: &IdentityKeyPair, registration_id: u32) -> LocalIdentity<'_> {
    LocalIdentity {
        identity,
        registration_id,
    }
}
