//! A [`SessionRecord`] in binary (`proto/stored.proto`), as the client
//! persists it with every message.
//!
//! JSON was the record's first format (still read: the serde derives
//! stay). Encoding and parsing it, keys in base64, was ~7% of serve's CPU
//! per text in `wasp bench`; the binary form is 60% of the size and has
//! no text to scan. A field that is missing or has the wrong length
//! makes the whole record unreadable: a half-read session could encrypt
//! with a wrong key.

use std::collections::VecDeque;

use super::{PendingPreKey, ReceiverChain, SenderChain, SessionRecord, SessionState, SkippedKey};
use crate::crypto::KeyPair;
use crate::proto::stored as pb;
use crate::signal::SignalError;

impl SessionRecord {
    /// The record as `proto/stored.proto`'s `SessionRecord`.
    pub fn to_stored(&self) -> pb::SessionRecord {
        pb::SessionRecord {
            current: self.current.as_ref().map(state_to_stored),
            archived: self.archived.iter().map(state_to_stored).collect(),
        }
    }

    /// The record back from `proto/stored.proto`'s `SessionRecord`.
    pub fn from_stored(stored: pb::SessionRecord) -> Result<SessionRecord, SignalError> {
        Ok(SessionRecord {
            current: stored.current.map(state_from_stored).transpose()?,
            archived: stored
                .archived
                .into_iter()
                .map(state_from_stored)
                .collect::<Result<VecDeque<_>, _>>()?,
        })
    }
}

fn state_to_stored(state: &SessionState) -> pb::SessionState {
    let sender = &state.sender;
    let mut ratchet = Vec::with_capacity(64);
    ratchet.extend_from_slice(&sender.ratchet.private);
    ratchet.extend_from_slice(&sender.ratchet.public);
    pb::SessionState {
        version: u32::from(state.version),
        local_identity: state.local_identity.to_vec(),
        remote_identity: state.remote_identity.to_vec(),
        local_registration_id: state.local_registration_id,
        remote_registration_id: state.remote_registration_id,
        base_key: state.base_key.to_vec(),
        root_key: state.root_key.to_vec(),
        previous_counter: state.previous_counter,
        sender: Some(pb::SenderChain {
            ratchet,
            chain_key: sender.chain_key.to_vec(),
            index: sender.index,
        }),
        receivers: state
            .receivers
            .iter()
            .map(|r| pb::ReceiverChain {
                ratchet_key: r.ratchet_key.to_vec(),
                chain_key: r.chain_key.to_vec(),
                index: r.index,
                skipped: r
                    .skipped
                    .iter()
                    .map(|k| pb::SkippedKey {
                        index: k.index,
                        seed: k.seed.to_vec(),
                    })
                    .collect(),
            })
            .collect(),
        pending_prekey: state.pending_prekey.as_ref().map(|p| pb::PendingPreKey {
            prekey_id: p.prekey_id,
            signed_prekey_id: p.signed_prekey_id,
        }),
    }
}

fn state_from_stored(stored: pb::SessionState) -> Result<SessionState, SignalError> {
    let version = u8::try_from(stored.version).map_err(|_| bad("version"))?;
    let sender = stored.sender.ok_or(SignalError::MissingField("sender"))?;
    if sender.ratchet.len() != 64 {
        return Err(bad("sender ratchet key pair"));
    }
    let (private, public) = sender.ratchet.split_at(32);
    Ok(SessionState {
        version,
        local_identity: key(&stored.local_identity, "local identity")?,
        remote_identity: key(&stored.remote_identity, "remote identity")?,
        local_registration_id: stored.local_registration_id,
        remote_registration_id: stored.remote_registration_id,
        base_key: key(&stored.base_key, "base key")?,
        root_key: key(&stored.root_key, "root key")?,
        previous_counter: stored.previous_counter,
        sender: SenderChain {
            ratchet: KeyPair::from_parts(
                key(private, "sender ratchet private key")?,
                key(public, "sender ratchet public key")?,
            ),
            chain_key: key(&sender.chain_key, "sender chain key")?,
            index: sender.index,
        },
        receivers: stored
            .receivers
            .into_iter()
            .map(receiver_from_stored)
            .collect::<Result<_, _>>()?,
        pending_prekey: stored.pending_prekey.map(|p| PendingPreKey {
            prekey_id: p.prekey_id,
            signed_prekey_id: p.signed_prekey_id,
        }),
    })
}

fn receiver_from_stored(stored: pb::ReceiverChain) -> Result<ReceiverChain, SignalError> {
    Ok(ReceiverChain {
        ratchet_key: key(&stored.ratchet_key, "receiver ratchet key")?,
        chain_key: key(&stored.chain_key, "receiver chain key")?,
        index: stored.index,
        skipped: stored
            .skipped
            .into_iter()
            .map(|k| {
                Ok(SkippedKey {
                    index: k.index,
                    seed: key(&k.seed, "skipped message key")?,
                })
            })
            .collect::<Result<_, SignalError>>()?,
    })
}

/// A 32-byte key or seed.
fn key(bytes: &[u8], what: &str) -> Result<[u8; 32], SignalError> {
    bytes.try_into().map_err(|_| bad(what))
}

fn bad(what: &str) -> SignalError {
    SignalError::Protobuf(format!("stored session: invalid {what}"))
}
