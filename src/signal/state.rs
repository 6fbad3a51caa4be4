//! Session state (one Double Ratchet) and the record of a peer device's
//! sessions (the current one plus a bounded list of archived ones).

use serde::{Deserialize, Serialize};

use super::ratchet::ChainKey;
use super::serde_b64;
use crate::crypto::KeyPair;

/// Receiving chains kept per state (libsignal `MAX_RECEIVER_CHAINS`).
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Skipped message keys kept per receiving chain (libsignal `MAX_MESSAGE_KEYS`).
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// Furthest a counter may jump ahead in one message (libsignal
/// `MAX_FORWARD_JUMPS`, WhatsApp Web's `signalFutureMessagesMax`).
pub const MAX_FORWARD_JUMP: u32 = 2000;
/// Archived states kept per record (libsignal `ARCHIVED_STATES_MAX_LENGTH`).
pub const MAX_ARCHIVED_STATES: usize = 40;

/// Our sending chain and the ratchet key pair it was made with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SenderChain {
    #[serde(with = "serde_b64::key_pair")]
    pub ratchet: KeyPair,
    pub chain: ChainKey,
}

/// The message key seed of a skipped (not yet received) message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SkippedKey {
    pub index: u32,
    #[serde(with = "serde_b64::bytes32")]
    pub seed: [u8; 32],
}

/// A receiving chain for one of the peer's ratchet keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiverChain {
    #[serde(with = "serde_b64::bytes32")]
    pub ratchet_key: [u8; 32],
    pub chain: ChainKey,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedKey>,
}

impl ReceiverChain {
    pub fn new(ratchet_key: [u8; 32], chain: ChainKey) -> ReceiverChain {
        ReceiverChain {
            ratchet_key,
            chain,
            skipped: Vec::new(),
        }
    }
}

/// What an initiator repeats in every message until the peer answers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingPreKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prekey_id: Option<u32>,
    pub signed_prekey_id: u32,
    #[serde(with = "serde_b64::bytes32")]
    pub base_key: [u8; 32],
}

/// One Double Ratchet session with a peer device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionState {
    #[serde(with = "serde_b64::bytes32")]
    pub local_identity: [u8; 32],
    #[serde(with = "serde_b64::bytes32")]
    pub remote_identity: [u8; 32],
    pub local_registration_id: u32,
    pub remote_registration_id: u32,
    #[serde(with = "serde_b64::bytes32")]
    pub root_key: [u8; 32],
    pub sender: SenderChain,
    /// Oldest first.
    #[serde(default)]
    pub receivers: Vec<ReceiverChain>,
    pub previous_counter: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_prekey: Option<PendingPreKey>,
    /// The initiator's X3DH base key: names the session, so a repeated
    /// PreKeySignalMessage finds the state it already created.
    #[serde(with = "serde_b64::bytes32")]
    pub base_key: [u8; 32],
}

/// All sessions with one peer device: what the client persists per
/// address. Serializes compactly (keys as base64, private halves only).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SessionRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) current: Option<SessionState>,
    /// Newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) previous: Vec<SessionState>,
}

impl SessionRecord {
    /// An empty record (no session yet).
    pub fn new() -> SessionRecord {
        SessionRecord::default()
    }

    /// Whether a current session exists to encrypt with.
    pub fn has_session(&self) -> bool {
        self.current.is_some()
    }

    /// The peer's identity key of the current session.
    pub fn remote_identity(&self) -> Option<[u8; 32]> {
        self.current.as_ref().map(|s| s.remote_identity)
    }

    /// The peer's registration id of the current session.
    pub fn remote_registration_id(&self) -> Option<u32> {
        self.current.as_ref().map(|s| s.remote_registration_id)
    }

    /// Whether our current session still waits for the peer's first reply
    /// (so [`super::encrypt`] produces PreKeySignalMessages).
    pub fn is_pending_prekey(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.pending_prekey.is_some())
    }

    /// Archived (previous) session states kept for late messages.
    pub fn archived_count(&self) -> usize {
        self.previous.len()
    }

    /// Archives the current state, e.g. when the peer re-registered.
    pub fn archive_current(&mut self) {
        if let Some(current) = self.current.take() {
            self.previous.insert(0, current);
            self.previous.truncate(MAX_ARCHIVED_STATES);
        }
    }

    /// Makes `state` current, archiving the one it replaces.
    pub(crate) fn promote(&mut self, state: SessionState) {
        self.archive_current();
        self.current = Some(state);
    }

    /// Makes the state created from `base_key` current, if one exists.
    pub(crate) fn promote_matching(&mut self, base_key: &[u8; 32], identity: &[u8; 32]) -> bool {
        let matches = |s: &SessionState| &s.base_key == base_key && &s.remote_identity == identity;
        if self.current.as_ref().is_some_and(matches) {
            return true;
        }
        match self.previous.iter().position(matches) {
            Some(pos) => {
                let state = self.previous.remove(pos);
                self.promote(state);
                true
            }
            None => false,
        }
    }
}
