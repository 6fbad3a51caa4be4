//! The session's Signal state on disk, next to `creds.json`:
//! `session-<user>.<device>.json` per peer device (a two-slot file,
//! `store::slots`: `.a` and `.b` on disk) holds the Signal session record
//! and the ids of the last messages received from that device. Both
//! change together in one atomic write, so after a crash a
//! message is either fully received (ratchet advanced and id remembered)
//! or not at all (the server redelivers it and it decrypts again).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::address::DeviceAddress;
use crate::client::{creds, ClientError};
use crate::signal::SessionRecord;
use crate::store::SessionDir;

/// How many received message ids are remembered per peer device: enough
/// for any redelivery burst after a reconnect, small on disk.
pub const SEEN_PER_PEER: usize = 256;

/// What one peer device's file holds.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct PeerState {
    pub session: SessionRecord,
    /// Ids of messages already received from this device, newest last.
    #[serde(default)]
    pub seen: VecDeque<String>,
}

impl PeerState {
    pub fn has_seen(&self, id: &str) -> bool {
        self.seen.iter().any(|s| s == id)
    }

    pub fn remember(&mut self, id: &str) {
        self.seen.push_back(id.to_string());
        while self.seen.len() > SEEN_PER_PEER {
            self.seen.pop_front();
        }
    }
}

/// Loads and stores Signal state of one session directory.
#[derive(Clone, Copy)]
pub struct SignalStore<'a> {
    dir: &'a SessionDir,
}

impl<'a> SignalStore<'a> {
    pub fn new(dir: &'a SessionDir) -> Self {
        SignalStore { dir }
    }

    /// The peer's state; empty when we never spoke with that device.
    pub fn peer(&self, address: &DeviceAddress) -> Result<PeerState, ClientError> {
        match self.dir.read_slotted(&address.session_file())? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Creds(format!("{}: {e}", address.session_file()))),
            None => Ok(PeerState::default()),
        }
    }

    /// Replaces the peer's state atomically.
    pub fn save_peer(&self, address: &DeviceAddress, state: &PeerState) -> Result<(), ClientError> {
        self.save_peers(&[(address.clone(), state.clone())])
    }

    /// Replaces several peers' states with one group flush in all.
    pub fn save_peers(&self, peers: &[(DeviceAddress, PeerState)]) -> Result<(), ClientError> {
        // Serializing plain data cannot fail.
        let encoded: Vec<(String, Vec<u8>)> = peers
            .iter()
            .map(|(a, p)| (a.session_file(), serde_json::to_vec(p).unwrap_or_default()))
            .collect();
        let files: Vec<(&str, &[u8])> = encoded
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        self.dir.write_slotted(&files)?;
        Ok(())
    }

    pub fn remove_prekey(&self, id: u32) -> Result<(), ClientError> {
        creds::remove_prekey(self.dir, id)
    }
}
