//! The phone's history sync: a zlib-compressed `HistorySync` chunk (here
//! with the contacts' phone number ↔ LID pairs, the part wasp reads) and
//! the `ProtocolMessage` of type `HISTORY_SYNC_NOTIFICATION` that tells a
//! companion where it is — uploaded as media, or inline for a small first
//! chunk (waproto `Message.HistorySyncNotification`; whatsmeow and
//! whatsapp-rust download, inflate and decode it).
//!
//! Owns: the chunk and the message's plaintext. Pure. Must not touch: who
//! gets it (`phone::history_sync`), encryption, the media hosts.

use super::lid_sync::LidPair;
use crate::media::Encrypted;
use crate::proto::protocol_message::Type as ProtocolMessageType;
use crate::proto::{
    HistorySync, HistorySyncNotification, HistorySyncType, PhoneNumberToLidMapping, ProtocolMessage,
};

/// The first chunk of a new companion's history, compressed: `pairs` as
/// JIDs.
pub fn bootstrap_chunk(pairs: &[LidPair]) -> Vec<u8> {
    crate::proto::history::compress(&HistorySync {
        sync_type: Some(HistorySyncType::InitialBootstrap.into()),
        chunk_order: Some(1),
        progress: Some(100),
        phone_number_to_lid_mappings: pairs
            .iter()
            .map(|p| PhoneNumberToLidMapping {
                pn_jid: Some(format!("{}@s.whatsapp.net", p.pn)),
                lid_jid: Some(format!("{}@lid", p.lid)),
            })
            .collect(),
    })
}

/// Where the chunk is.
pub enum ChunkAt<'a> {
    /// In the message itself.
    Inline(Vec<u8>),
    /// Uploaded: the upload's keys and hashes, and its path on the hosts.
    Uploaded {
        info: &'a Encrypted,
        direct_path: String,
    },
}

/// The unpadded `Message` announcing the chunk.
pub fn notification(at: ChunkAt<'_>) -> Vec<u8> {
    let mut n = HistorySyncNotification {
        sync_type: Some(HistorySyncType::InitialBootstrap.into()),
        chunk_order: Some(1),
        progress: Some(100),
        ..Default::default()
    };
    match at {
        ChunkAt::Inline(chunk) => n.initial_hist_bootstrap_inline_payload = Some(chunk),
        ChunkAt::Uploaded { info, direct_path } => {
            n.file_sha256 = Some(info.file_sha256.to_vec());
            n.file_length = Some(info.file_length);
            n.media_key = Some(info.media_key.to_vec());
            n.file_enc_sha256 = Some(info.file_enc_sha256.to_vec());
            n.direct_path = Some(direct_path);
        }
    }
    crate::proto::protocol_message(ProtocolMessage {
        r#type: Some(ProtocolMessageType::HistorySyncNotification.into()),
        history_sync_notification: Some(n),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::proto::Message;

    #[test]
    fn the_chunk_inflates_to_the_pairs_as_jids() {
        let chunk = bootstrap_chunk(&[LidPair {
            pn: 15550001111,
            lid: 700001,
        }]);
        let pairs = crate::proto::history::lid_pairs(&chunk).expect("readable");
        assert_eq!(
            pairs[0].pn_jid.as_deref(),
            Some("15550001111@s.whatsapp.net")
        );
        assert_eq!(pairs[0].lid_jid.as_deref(), Some("700001@lid"));
    }

    #[test]
    fn an_inline_chunk_rides_in_the_notification() {
        let bytes = notification(ChunkAt::Inline(vec![1, 2, 3]));
        let protocol = Message::decode(bytes.as_slice())
            .expect("message")
            .protocol_message
            .expect("protocol message");
        assert_eq!(protocol.r#type, Some(5));
        let n = protocol.history_sync_notification.expect("notification");
        assert_eq!(n.initial_hist_bootstrap_inline_payload, Some(vec![1, 2, 3]));
        assert_eq!(n.sync_type, Some(0));
    }
}
