//! What a session keeps with each peer device, in its [`AuthStore`]: the
//! Signal session record and the ids of the last messages received from
//! that device. Both change together in one write, so after a crash a
//! message is either fully received (ratchet advanced and id remembered)
//! or not at all (the server redelivers it and it decrypts again).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::client::ClientError;
use crate::signal::SessionRecord;
use crate::store::AuthStore;
use crate::types::DeviceAddress;

/// How many received message ids are remembered per peer device: enough
/// for any redelivery burst after a reconnect, small on disk.
pub const SEEN_PER_PEER: usize = 256;

/// What is kept with one peer device.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct PeerState {
    pub session: SessionRecord,
    /// Ids of messages already received from this device, newest last.
    #[serde(default)]
    pub seen: SeenIds,
    /// The last message received from this device, as decrypted: stored
    /// with its id and the advanced ratchet, so that a crash after this
    /// write and before its report was durable reports it after all when
    /// the server delivers it again (its ratchet step is spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastReceived>,
}

/// The last message received from one device.
#[derive(Clone, Serialize, Deserialize)]
pub struct LastReceived {
    pub id: String,
    /// The plaintext, hex, as its reader takes it: padded for a pairwise
    /// message (`decrypt`), unpadded for a group one (`group_receive`).
    pub plaintext: String,
}

impl PeerState {
    pub fn has_seen(&self, id: &str) -> bool {
        self.seen.has(id)
    }

    /// Remembers message `id` as received, and its plaintext as the last
    /// one.
    pub fn remember(&mut self, id: &str, plaintext: &[u8]) {
        self.seen.remember(id);
        self.last = Some(LastReceived::new(id, plaintext));
    }

    /// The plaintext of message `id` when it is the last one received.
    pub fn last_plaintext(&self, id: &str) -> Option<Vec<u8>> {
        self.last.as_ref()?.plaintext_of(id)
    }
}

impl LastReceived {
    pub fn new(id: &str, plaintext: &[u8]) -> LastReceived {
        LastReceived {
            id: id.to_string(),
            plaintext: hex::encode(plaintext),
        }
    }

    /// The plaintext, when this is message `id`.
    pub fn plaintext_of(&self, id: &str) -> Option<Vec<u8>> {
        (self.id == id).then(|| hex::decode(&self.plaintext).ok())?
    }
}

/// The ids of the last [`SEEN_PER_PEER`] messages received on one
/// record, newest last (a JSON array of strings on disk).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeenIds(VecDeque<String>);

impl SeenIds {
    pub fn has(&self, id: &str) -> bool {
        self.0.iter().any(|s| s == id)
    }

    pub fn remember(&mut self, id: &str) {
        self.0.push_back(id.to_string());
        while self.0.len() > SEEN_PER_PEER {
            self.0.pop_front();
        }
    }
}

/// The peer's state; empty when we never spoke with that device.
pub fn load(store: &dyn AuthStore, device: &DeviceAddress) -> Result<PeerState, ClientError> {
    match store.peer(device)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Creds(format!("state of {device}: {e}"))),
        None => Ok(PeerState::default()),
    }
}

/// Replaces several peers' states with one durable write in all.
pub fn save(
    store: &dyn AuthStore,
    peers: &[(DeviceAddress, PeerState)],
) -> Result<(), ClientError> {
    // Serializing plain data cannot fail.
    let encoded: Vec<Vec<u8>> = peers
        .iter()
        .map(|(_, p)| serde_json::to_vec(p).unwrap_or_default())
        .collect();
    let writes: Vec<(&DeviceAddress, &[u8])> = peers
        .iter()
        .zip(&encoded)
        .map(|((d, _), bytes)| (d, bytes.as_slice()))
        .collect();
    store.save_peers(&writes)?;
    Ok(())
}
