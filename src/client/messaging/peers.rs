//! What a session keeps with each peer device, in its [`AuthStore`]: the
//! Signal session record and the ids of the last messages received from
//! that device. Both change together in one write, so after a crash a
//! message is either fully received (ratchet advanced and id remembered)
//! or not at all (the server redelivers it and it decrypts again).
//!
//! On disk a state is binary: [`BINARY`], then `proto/stored.proto`'s
//! `PeerRecord`. Earlier versions wrote JSON (it starts with `{`); such a
//! record is read as before and becomes binary at its next write.

use prost::Message as _;
use serde::{Deserialize, Serialize};

use super::seen_ids::SeenIds;
use crate::client::ClientError;
use crate::proto::stored as pb;
use crate::signal::SessionRecord;
use crate::store::AuthStore;
use crate::types::DeviceAddress;

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

/// The first byte of a binary peer record. JSON records, kept by
/// earlier versions, start with `{`.
pub const BINARY: u8 = 0x01;

/// The peer's state; empty when we never spoke with that device.
pub fn load(store: &dyn AuthStore, device: &DeviceAddress) -> Result<PeerState, ClientError> {
    match store.peer(device)? {
        Some(bytes) => {
            decode(&bytes).map_err(|e| ClientError::Creds(format!("state of {device}: {e}")))
        }
        None => Ok(PeerState::default()),
    }
}

/// Replaces several peers' states with one durable write in all.
pub fn save(
    store: &dyn AuthStore,
    peers: &[(DeviceAddress, PeerState)],
) -> Result<(), ClientError> {
    let encoded = peers
        .iter()
        .map(|(_, p)| encode(p))
        .collect::<Result<Vec<_>, _>>()?;
    let writes: Vec<(&DeviceAddress, &[u8])> = peers
        .iter()
        .zip(&encoded)
        .map(|((d, _), bytes)| (d, bytes.as_slice()))
        .collect();
    store.save_peers(&writes)?;
    Ok(())
}

/// A state as it is stored: [`BINARY`], then its `PeerRecord`.
pub fn encode(peer: &PeerState) -> Result<Vec<u8>, ClientError> {
    let record = pb::PeerRecord {
        session: Some(peer.session.to_stored()),
        seen: peer.seen.packed().to_vec(),
        // Hex that does not decode (a damaged JSON record) reads as no
        // last plaintext, as `LastReceived::plaintext_of` takes it.
        last: peer.last.as_ref().and_then(|last| {
            Some(pb::LastReceived {
                id: last.id.clone(),
                plaintext: hex::decode(&last.plaintext).ok()?,
            })
        }),
    };
    let mut out = Vec::with_capacity(1 + record.encoded_len());
    out.push(BINARY);
    record
        .encode(&mut out)
        .map_err(|e| ClientError::Creds(format!("encoding a peer record: {e}")))?;
    Ok(out)
}

/// A stored state, binary or (from earlier versions) JSON.
pub fn decode(bytes: &[u8]) -> Result<PeerState, String> {
    match bytes.split_first() {
        Some((&BINARY, record)) => {
            let record = pb::PeerRecord::decode(record).map_err(|e| e.to_string())?;
            let session = record
                .session
                .map(SessionRecord::from_stored)
                .transpose()
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            Ok(PeerState {
                session,
                seen: SeenIds::from_packed(record.seen)?,
                last: record.last.map(|last| LastReceived {
                    id: last.id,
                    plaintext: hex::encode(last.plaintext),
                }),
            })
        }
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Some((first, _)) => Err(format!("unknown record format (first byte {first:#04x})")),
        None => Err("empty record".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_history() -> PeerState {
        let mut peer = PeerState::default();
        peer.remember("3EB0A1", b"first");
        peer.remember("3EB0A2", b"second\x00\x01");
        peer
    }

    fn as_json(peer: &PeerState) -> String {
        serde_json::to_string(peer).unwrap()
    }

    #[test]
    fn a_state_is_stored_binary_and_reads_back() {
        let peer = with_history();
        let bytes = encode(&peer).unwrap();
        assert_eq!(bytes[0], BINARY);
        let back = decode(&bytes).unwrap();
        assert_eq!(as_json(&back), as_json(&peer));
        assert!(back.has_seen("3EB0A1"));
        assert_eq!(back.last_plaintext("3EB0A2").unwrap(), b"second\x00\x01");
    }

    #[test]
    fn a_json_state_of_an_earlier_version_still_reads() {
        let peer = with_history();
        let json = serde_json::to_vec(&peer).unwrap();
        let back = decode(&json).unwrap();
        assert_eq!(as_json(&back), as_json(&peer));
    }

    #[test]
    fn a_json_last_plaintext_that_is_not_hex_stays_unreadable_in_binary() {
        let mut peer = with_history();
        if let Some(last) = peer.last.as_mut() {
            last.plaintext = "zz".to_string();
        }
        assert!(peer.last_plaintext("3EB0A2").is_none());
        let back = decode(&encode(&peer).unwrap()).unwrap();
        assert!(back.last_plaintext("3EB0A2").is_none());
        assert!(back.has_seen("3EB0A2"));
    }

    #[test]
    fn damaged_records_are_errors() {
        let bytes = encode(&with_history()).unwrap();
        for cut in 1..bytes.len() {
            // A cut record may still parse as a shorter valid protobuf
            // (fewer ids); it must never panic.
            let _ = decode(&bytes[..cut]);
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "a cut id");
        assert!(decode(&[]).is_err());
        let unknown = decode(&[0x7f, 1, 2]).err().unwrap_or_default();
        assert!(unknown.contains("unknown record format"), "{unknown}");
        assert!(decode(b"{\"session\":").is_err());
    }
}
