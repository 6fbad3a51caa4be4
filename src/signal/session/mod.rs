//! Pairwise sessions: X3DH set-up (both roles), the Double Ratchet, and
//! the `SessionRecord` the client persists per peer device.
//!
//! Everything here is pure: a record goes in, a record comes out. Every
//! decrypt works on a copy of the record and only replaces the caller's
//! record when it succeeded, so a corrupted, replayed or forged message
//! never moves a ratchet.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::error::SignalError;
use super::messages::{PreKeySignalMessage, SignalMessage, MESSAGE_VERSION};
use super::prekeys::{serialize_public_key, IdentityKeyPair, PreKey, SignedPreKey};
use super::ratchet::{
    derive_initial_keys, message_seed, next_chain_key, ratchet_root, ChainCursor, MessageKeys,
    SkippedKey,
};
use super::serde_b64;
use crate::crypto::{xeddsa_verify, KeyPair};

/// Most message keys a session keeps for messages not yet arrived
/// (wacore-libsignal `MAX_MESSAGE_KEYS`, and its `MAX_FORWARD_JUMPS`:
/// one message may not skip more than this many either).
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// Most receiving chains (peer ratchet keys) a session remembers
/// (libsignal `MAX_RECEIVER_CHAINS`).
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Most archived sessions a record keeps for late messages of an older
/// session (libsignal `ARCHIVED_STATES_MAX_LENGTH`).
pub const MAX_ARCHIVED_SESSIONS: usize = 40;

/// X3DH's discontinuity bytes in front of the master secret (32 × 0xFF).
const DISCONTINUITY: [u8; 32] = [0xFF; 32];

/// What a peer publishes so others can start a session with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    pub registration_id: u32,
    pub identity_key: [u8; 32],
    pub signed_prekey_id: u32,
    pub signed_prekey: [u8; 32],
    pub signed_prekey_signature: [u8; 64],
    /// `(id, public key)` of a one-time prekey, when the server had one.
    pub one_time_prekey: Option<(u32, [u8; 32])>,
}

/// An encrypted message ready for a stanza: `pkmsg` or `msg`.
/// (Group `skmsg` will join as a further variant.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiphertextMessage {
    PreKey(Vec<u8>),
    Whisper(Vec<u8>),
}

impl CiphertextMessage {
    /// The wire bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            CiphertextMessage::PreKey(b) | CiphertextMessage::Whisper(b) => b,
        }
    }

    /// The `type` attribute of WhatsApp's `<enc>` node.
    pub fn enc_type(&self) -> &'static str {
        match self {
            CiphertextMessage::PreKey(_) => "pkmsg",
            CiphertextMessage::Whisper(_) => "msg",
        }
    }
}

/// How a presented identity key compares to the one we knew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityCheck {
    /// We knew no identity for this peer (trust on first use).
    New,
    Unchanged,
    /// The peer presents a different identity key than before: WhatsApp
    /// accepts it and shows a "security code changed" notice.
    Changed,
}

/// Compares an identity key a peer presents with the one stored for it.
pub fn check_identity(known: Option<&[u8; 32]>, presented: &[u8; 32]) -> IdentityCheck {
    match known {
        None => IdentityCheck::New,
        Some(k) if k == presented => IdentityCheck::Unchanged,
        Some(_) => IdentityCheck::Changed,
    }
}

/// Where the receiving side of X3DH finds its own prekeys by id.
pub trait PreKeySource {
    fn signed_prekey(&self, id: u32) -> Option<KeyPair>;
    fn one_time_prekey(&self, id: u32) -> Option<KeyPair>;
}

/// A [`PreKeySource`] over slices of our registration material.
pub struct LocalPreKeys<'a> {
    pub signed: &'a [SignedPreKey],
    pub one_time: &'a [PreKey],
}

impl PreKeySource for LocalPreKeys<'_> {
    fn signed_prekey(&self, id: u32) -> Option<KeyPair> {
        self.signed
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.key_pair.clone())
    }
    fn one_time_prekey(&self, id: u32) -> Option<KeyPair> {
        self.one_time
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.key_pair.clone())
    }
}

/// The result of decrypting a `pkmsg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyDecryption {
    pub plaintext: Vec<u8>,
    /// The one-time prekey this message used up: delete it (and never hand
    /// it out again). `None` when the message named none, or when it
    /// belonged to a session we had already set up.
    pub consumed_prekey_id: Option<u32>,
    /// The sender's identity key as the message presents it.
    pub sender_identity: [u8; 32],
    /// That identity compared with the record's previous session.
    pub identity: IdentityCheck,
    /// The sender's registration id.
    pub sender_registration_id: u32,
}

/// Every session with one peer device: the current one and a bounded
/// list of archived ones (newest first) for late messages.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct SessionRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<SessionState>,
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    archived: VecDeque<SessionState>,
}

#[derive(Clone, Serialize, Deserialize)]
struct SessionState {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "li", with = "serde_b64::bytes32")]
    local_identity: [u8; 32],
    #[serde(rename = "ri", with = "serde_b64::bytes32")]
    remote_identity: [u8; 32],
    #[serde(rename = "lr")]
    local_registration_id: u32,
    #[serde(rename = "rr")]
    remote_registration_id: u32,
    /// The initiator's X3DH base key: identifies the session on both sides.
    #[serde(rename = "bk", with = "serde_b64::bytes32")]
    base_key: [u8; 32],
    #[serde(rename = "rk", with = "serde_b64::bytes32")]
    root_key: [u8; 32],
    #[serde(rename = "pc")]
    previous_counter: u32,
    #[serde(rename = "s")]
    sender: SenderChain,
    #[serde(rename = "r", default)]
    receivers: Vec<ReceiverChain>,
    /// Set on the initiator until the peer answers: every message is then
    /// wrapped in a `PreKeySignalMessage`.
    #[serde(rename = "pp", default, skip_serializing_if = "Option::is_none")]
    pending_prekey: Option<PendingPreKey>,
}

#[derive(Clone, Serialize, Deserialize)]
struct SenderChain {
    #[serde(rename = "k", with = "serde_b64::key_pair_full")]
    ratchet: KeyPair,
    #[serde(rename = "ck", with = "serde_b64::bytes32")]
    chain_key: [u8; 32],
    #[serde(rename = "i")]
    index: u32,
}

#[derive(Clone, Serialize, Deserialize)]
struct ReceiverChain {
    #[serde(rename = "k", with = "serde_b64::bytes32")]
    ratchet_key: [u8; 32],
    #[serde(rename = "ck", with = "serde_b64::bytes32")]
    chain_key: [u8; 32],
    #[serde(rename = "i")]
    index: u32,
    /// Seeds of message keys skipped over, oldest first.
    #[serde(rename = "sk", default, skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<SkippedKey>,
}

#[derive(Clone, Serialize, Deserialize)]
struct PendingPreKey {
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    prekey_id: Option<u32>,
    #[serde(rename = "s")]
    signed_prekey_id: u32,
}

/// Never prints key material: only which peer and how many sessions.
impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("remote_identity", &self.remote_identity().map(hex::encode))
            .field("awaiting_reply", &self.awaiting_reply())
            .field("archived", &self.archived.len())
            .finish()
    }
}

impl SessionRecord {
    /// An empty record (no session yet).
    pub fn new() -> SessionRecord {
        SessionRecord::default()
    }

    /// Whether there is a current session to encrypt with.
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// The peer's identity key as last known: the current session's, else
    /// the newest archived one's (so a session dropped after a retry still
    /// tells an identity change apart from a first contact).
    pub fn remote_identity(&self) -> Option<[u8; 32]> {
        self.current
            .as_ref()
            .or_else(|| self.archived.front())
            .map(|s| s.remote_identity)
    }

    /// The peer's registration id in the current session.
    pub fn remote_registration_id(&self) -> Option<u32> {
        self.current.as_ref().map(|s| s.remote_registration_id)
    }

    /// Whether our next message will be a `pkmsg` (the peer has not
    /// answered yet).
    pub fn awaiting_reply(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.pending_prekey.is_some())
    }

    /// Number of archived sessions.
    pub fn archived_count(&self) -> usize {
        self.archived.len()
    }

    /// Moves the current session to the archive (e.g. after a retry
    /// receipt, before fetching a fresh bundle).
    pub fn archive_current(&mut self) {
        if let Some(state) = self.current.take() {
            self.archived.push_front(state);
            self.archived.truncate(MAX_ARCHIVED_SESSIONS);
        }
    }

    /// Makes `state` current, archiving the one it replaces.
    fn promote(&mut self, state: SessionState) {
        self.archive_current();
        self.current = Some(state);
    }
}

/// Starts a session as the initiator (X3DH with the peer's bundle). The
/// record's previous session, if any, is archived. Returns how the
/// bundle's identity compares with that previous session's.
pub fn initiate_session(
    record: &mut SessionRecord,
    our_identity: &IdentityKeyPair,
    our_registration_id: u32,
    bundle: &PreKeyBundle,
) -> Result<IdentityCheck, SignalError> {
    if !xeddsa_verify(
        &bundle.identity_key,
        &serialize_public_key(&bundle.signed_prekey),
        &bundle.signed_prekey_signature,
    ) {
        return Err(SignalError::BadSignedPreKeySignature);
    }
    let identity = check_identity(record.remote_identity().as_ref(), &bundle.identity_key);

    let base = KeyPair::generate();
    let mut secret = Vec::with_capacity(32 * 5);
    secret.extend_from_slice(&DISCONTINUITY);
    secret.extend_from_slice(&our_identity.dh(&bundle.signed_prekey));
    secret.extend_from_slice(&base.dh(&bundle.identity_key));
    secret.extend_from_slice(&base.dh(&bundle.signed_prekey));
    if let Some((_, one_time)) = &bundle.one_time_prekey {
        secret.extend_from_slice(&base.dh(one_time));
    }
    let (root_key, chain_key) = derive_initial_keys(&secret);

    // The signed prekey doubles as the peer's first ratchet key.
    let sending_ratchet = KeyPair::generate();
    let (root_key, sending_chain_key) =
        ratchet_root(&root_key, &bundle.signed_prekey, &sending_ratchet);

    record.promote(SessionState {
        version: MESSAGE_VERSION,
        local_identity: our_identity.public,
        remote_identity: bundle.identity_key,
        local_registration_id: our_registration_id,
        remote_registration_id: bundle.registration_id,
        base_key: base.public,
        root_key,
        previous_counter: 0,
        sender: SenderChain {
            ratchet: sending_ratchet,
            chain_key: sending_chain_key,
            index: 0,
        },
        receivers: vec![ReceiverChain {
            ratchet_key: bundle.signed_prekey,
            chain_key,
            index: 0,
            skipped: Vec::new(),
        }],
        pending_prekey: Some(PendingPreKey {
            prekey_id: bundle.one_time_prekey.map(|(id, _)| id),
            signed_prekey_id: bundle.signed_prekey_id,
        }),
    });
    Ok(identity)
}

/// Encrypts `plaintext` with the current session: a `pkmsg` until the peer
/// has answered, a `msg` afterwards. Advances the sending chain.
pub fn encrypt(
    record: &mut SessionRecord,
    our_identity: &IdentityKeyPair,
    plaintext: &[u8],
) -> Result<CiphertextMessage, SignalError> {
    let state = record.current.as_mut().ok_or(SignalError::NoSession)?;
    if state.local_identity != our_identity.public {
        return Err(SignalError::LocalIdentityMismatch);
    }
    let next_index = state
        .sender
        .index
        .checked_add(1)
        .ok_or(SignalError::CounterExhausted)?;
    let keys = MessageKeys::from_seed(&message_seed(&state.sender.chain_key));
    let message = SignalMessage::new(
        &keys.mac_key,
        state.sender.ratchet.public,
        state.sender.index,
        state.previous_counter,
        keys.encrypt(plaintext),
        &state.local_identity,
        &state.remote_identity,
    );
    let out = match &state.pending_prekey {
        Some(pending) => CiphertextMessage::PreKey(
            PreKeySignalMessage::new(
                state.local_registration_id,
                pending.prekey_id,
                pending.signed_prekey_id,
                state.base_key,
                state.local_identity,
                message,
            )
            .serialized()
            .to_vec(),
        ),
        None => CiphertextMessage::Whisper(message.serialized().to_vec()),
    };
    state.sender.chain_key = next_chain_key(&state.sender.chain_key);
    state.sender.index = next_index;
    Ok(out)
}

/// Decrypts a `msg`. On any error `record` is left exactly as it was.
pub fn decrypt_message(
    record: &mut SessionRecord,
    our_identity: &IdentityKeyPair,
    bytes: &[u8],
) -> Result<Vec<u8>, SignalError> {
    let message = SignalMessage::parse(bytes)?;
    let mut staged = record.clone();
    let plaintext = decrypt_with_record(&mut staged, our_identity, &message)?;
    *record = staged;
    Ok(plaintext)
}

/// Decrypts a `pkmsg`, setting up the responder side of X3DH unless the
/// message belongs to a session the record already holds (a duplicate or
/// a later `pkmsg` of the same session). On any error `record` is left
/// exactly as it was and no prekey counts as consumed.
pub fn decrypt_prekey_message(
    record: &mut SessionRecord,
    our_identity: &IdentityKeyPair,
    our_registration_id: u32,
    prekeys: &dyn PreKeySource,
    bytes: &[u8],
) -> Result<PreKeyDecryption, SignalError> {
    let message = PreKeySignalMessage::parse(bytes)?;
    let identity = check_identity(record.remote_identity().as_ref(), &message.identity_key);
    let mut staged = record.clone();
    let mut consumed_prekey_id = None;

    let known = |s: &SessionState| {
        s.base_key == message.base_key && s.remote_identity == message.identity_key
    };
    if staged.current.as_ref().is_some_and(known) {
        // Already current: nothing to set up.
    } else if let Some(pos) = staged.archived.iter().position(known) {
        if let Some(state) = staged.archived.remove(pos) {
            staged.promote(state);
        }
    } else {
        let state =
            respond_to_prekey_message(our_identity, our_registration_id, prekeys, &message)?;
        staged.promote(state);
        consumed_prekey_id = message.prekey_id;
    }

    let plaintext = decrypt_with_record(&mut staged, our_identity, &message.message)?;
    *record = staged;
    Ok(PreKeyDecryption {
        plaintext,
        consumed_prekey_id,
        sender_identity: message.identity_key,
        identity,
        sender_registration_id: message.registration_id,
    })
}

/// The responder's half of X3DH.
fn respond_to_prekey_message(
    our_identity: &IdentityKeyPair,
    our_registration_id: u32,
    prekeys: &dyn PreKeySource,
    message: &PreKeySignalMessage,
) -> Result<SessionState, SignalError> {
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
    let mut secret = Vec::with_capacity(32 * 5);
    secret.extend_from_slice(&DISCONTINUITY);
    secret.extend_from_slice(&signed.dh(&message.identity_key));
    secret.extend_from_slice(&our_identity.dh(&message.base_key));
    secret.extend_from_slice(&signed.dh(&message.base_key));
    if let Some(one_time) = &one_time {
        secret.extend_from_slice(&one_time.dh(&message.base_key));
    }
    let (root_key, chain_key) = derive_initial_keys(&secret);
    Ok(SessionState {
        version: MESSAGE_VERSION,
        local_identity: our_identity.public,
        remote_identity: message.identity_key,
        local_registration_id: our_registration_id,
        remote_registration_id: message.registration_id,
        base_key: message.base_key,
        root_key,
        previous_counter: 0,
        // Our signed prekey is our first ratchet key.
        sender: SenderChain {
            ratchet: signed,
            chain_key,
            index: 0,
        },
        receivers: Vec::new(),
        pending_prekey: None,
    })
}

/// Tries the current session, then the archived ones (newest first); the
/// one that decrypts becomes current. A duplicate stops the search: the
/// message was for that session, it is just a replay.
fn decrypt_with_record(
    record: &mut SessionRecord,
    our_identity: &IdentityKeyPair,
    message: &SignalMessage,
) -> Result<Vec<u8>, SignalError> {
    let mut first_error = None;
    if let Some(current) = &record.current {
        let mut state = current.clone();
        match decrypt_with_state(&mut state, our_identity, message) {
            Ok(plaintext) => {
                record.current = Some(state);
                return Ok(plaintext);
            }
            Err(e @ SignalError::DuplicateMessage { .. }) => return Err(e),
            Err(e) => first_error = Some(e),
        }
    }
    for pos in 0..record.archived.len() {
        let Some(mut state) = record.archived.get(pos).cloned() else {
            break;
        };
        match decrypt_with_state(&mut state, our_identity, message) {
            Ok(plaintext) => {
                record.archived.remove(pos);
                record.promote(state);
                return Ok(plaintext);
            }
            Err(e @ SignalError::DuplicateMessage { .. }) => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(SignalError::NoSession))
}

fn decrypt_with_state(
    state: &mut SessionState,
    our_identity: &IdentityKeyPair,
    message: &SignalMessage,
) -> Result<Vec<u8>, SignalError> {
    if state.local_identity != our_identity.public {
        return Err(SignalError::LocalIdentityMismatch);
    }
    let chain = receiver_chain(state, &message.ratchet_key);
    let seed = message_key_seed(state, chain, message.counter)?;
    let keys = MessageKeys::from_seed(&seed);
    if !message.verify_mac(&keys.mac_key, &state.remote_identity, &state.local_identity) {
        return Err(SignalError::BadMac);
    }
    let plaintext = keys.decrypt(&message.ciphertext)?;
    // The peer has answered, so it has our session: no more pkmsg.
    state.pending_prekey = None;
    Ok(plaintext)
}

/// The index of the receiving chain for `their_ratchet_key`, making it
/// (one DH ratchet step, and a fresh sending chain) when it is new.
fn receiver_chain(state: &mut SessionState, their_ratchet_key: &[u8; 32]) -> usize {
    if let Some(pos) = state
        .receivers
        .iter()
        .position(|c| &c.ratchet_key == their_ratchet_key)
    {
        return pos;
    }
    let (root_key, receiving_chain_key) =
        ratchet_root(&state.root_key, their_ratchet_key, &state.sender.ratchet);
    let new_ratchet = KeyPair::generate();
    let (root_key, sending_chain_key) = ratchet_root(&root_key, their_ratchet_key, &new_ratchet);
    state.root_key = root_key;
    state.receivers.push(ReceiverChain {
        ratchet_key: *their_ratchet_key,
        chain_key: receiving_chain_key,
        index: 0,
        skipped: Vec::new(),
    });
    if state.receivers.len() > MAX_RECEIVER_CHAINS {
        state.receivers.remove(0);
    }
    state.previous_counter = state.sender.index.saturating_sub(1);
    state.sender = SenderChain {
        ratchet: new_ratchet,
        chain_key: sending_chain_key,
        index: 0,
    };
    state.receivers.len() - 1
}

/// The message key seed for `counter` on receiving chain `chain`: a stored
/// skipped key, or the chain advanced to it (storing the keys it skips).
fn message_key_seed(
    state: &mut SessionState,
    chain: usize,
    counter: u32,
) -> Result<[u8; 32], SignalError> {
    let receiver = state
        .receivers
        .get_mut(chain)
        .ok_or(SignalError::NoSession)?;
    let seed = ChainCursor {
        chain_key: &mut receiver.chain_key,
        index: &mut receiver.index,
        skipped: &mut receiver.skipped,
    }
    .seed_at(counter, MAX_SKIPPED_KEYS)?;
    evict_excess_skipped_keys(state);
    Ok(seed)
}

/// Keeps at most [`MAX_SKIPPED_KEYS`] skipped keys in the whole session,
/// dropping the oldest chains' oldest keys first.
fn evict_excess_skipped_keys(state: &mut SessionState) {
    let total: usize = state.receivers.iter().map(|c| c.skipped.len()).sum();
    let mut excess = total.saturating_sub(MAX_SKIPPED_KEYS);
    for chain in &mut state.receivers {
        if excess == 0 {
            break;
        }
        let drop = excess.min(chain.skipped.len());
        chain.skipped.drain(..drop);
        excess -= drop;
    }
}

mod stored;

#[cfg(test)]
mod tests;
