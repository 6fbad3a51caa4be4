//! What a session keeps per (group, sender device) in its store: the
//! sender-key record (ours to send on, or the chains a member
//! distributed to us) and the ids of the last messages received on it.
//! Both change in one write, so after a crash a group message is either
//! fully received or not at all — the same promise `peers` keeps for
//! pairwise sessions.
//!
//! Owns: that document, and the plaintext a distribution travels in
//! (`Message.senderKeyDistributionMessage`, padded, sent pairwise).
//! Must not touch: stanzas, the pairwise sessions.

use prost::Message as _;
use serde::{Deserialize, Serialize};

use super::peers::LastReceived;
use super::seen_ids::SeenIds;
use crate::client::ClientError;
use crate::proto::{self, text};
use crate::signal::{SenderKeyDistributionMessage, SenderKeyRecord};
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid};

/// The sender-key state of one sender in one group.
#[derive(Default, Serialize, Deserialize)]
pub struct SenderKeyState {
    pub record: SenderKeyRecord,
    /// Messages already received on this record (empty for our own).
    #[serde(default)]
    pub seen: SeenIds,
    /// The last text received on it, unpadded (as `peers` keeps a
    /// device's last message: reported again when a crash cut its report
    /// short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastReceived>,
}

/// The state of `sender` in `group`; empty when none is kept. A damaged
/// document reads as empty (the sender's next distribution replaces it;
/// meanwhile its messages ask for a retry).
pub fn load(
    store: &dyn AuthStore,
    group: &Jid,
    sender: &DeviceAddress,
) -> Result<SenderKeyState, ClientError> {
    let Some(bytes) = store.sender_key(&group.user, sender)? else {
        return Ok(SenderKeyState::default());
    };
    Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        tracing::warn!(%group, %sender, error = %e, "unreadable sender key; starting over");
        SenderKeyState::default()
    }))
}

/// Replaces the state of `sender` in `group` with one durable write.
pub fn save(
    store: &dyn AuthStore,
    group: &Jid,
    sender: &DeviceAddress,
    state: &SenderKeyState,
) -> Result<(), ClientError> {
    // Serializing plain data cannot fail.
    let bytes = serde_json::to_vec(state).unwrap_or_default();
    store.save_sender_key(&group.user, sender, &bytes)?;
    Ok(())
}

/// The padded plaintext that hands `distribution` to a member device:
/// `Message{senderKeyDistributionMessage{groupId, axolotl…}}` (wacore
/// `send/group.rs`, whatsmeow `send.go`).
pub fn distribution_plaintext(group: &Jid, distribution: &SenderKeyDistributionMessage) -> Vec<u8> {
    let message = proto::Message {
        sender_key_distribution_message: Some(proto::SenderKeyDistribution {
            group_id: Some(group.to_string()),
            axolotl_sender_key_distribution_message: Some(distribution.serialize()),
        }),
        ..Default::default()
    };
    text::pad(&message.encode_to_vec())
}

/// The padded plaintext of text `message` (an encoded `Message`) that
/// also hands `distribution` to its reader: a group text resent pairwise
/// to a member that could not read it (whatsmeow `retry.go`).
pub fn with_distribution(
    message: &[u8],
    group: &Jid,
    distribution: &SenderKeyDistributionMessage,
) -> Vec<u8> {
    // Our own encoding of a text: it always decodes.
    let mut message = proto::Message::decode(message).unwrap_or_default();
    message.sender_key_distribution_message = Some(proto::SenderKeyDistribution {
        group_id: Some(group.to_string()),
        axolotl_sender_key_distribution_message: Some(distribution.serialize()),
    });
    text::pad(&message.encode_to_vec())
}

/// The distribution a decrypted pairwise plaintext (padding removed)
/// carries, if any: the Signal-level message's bytes.
pub fn distribution_in(plaintext: &[u8]) -> Option<Vec<u8>> {
    proto::Message::decode(plaintext)
        .ok()?
        .sender_key_distribution_message?
        .axolotl_sender_key_distribution_message
}
