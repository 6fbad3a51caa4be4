//! The phone's LID mapping push: when the primary phone learns its
//! contacts' LIDs (its chats moving to LID addressing), it tells its
//! companions in a `ProtocolMessage` of type `LID_MIGRATION_MAPPING_SYNC`
//! whose payload is an encoded list of phone number → LID pairs (waproto
//! `LIDMigrationMappingSyncMessage`; whatsapp-rust `lid_pn.rs` reads it).
//!
//! Owns: the message's plaintext. Pure. Must not touch: who gets it
//! (`phone::lid_sync`), encryption.

use prost::Message as _;

use crate::proto::protocol_message::Type as ProtocolMessageType;
use crate::proto::{
    LidMigrationMapping, LidMigrationMappingSyncMessage, LidMigrationMappingSyncPayload,
    ProtocolMessage,
};

/// One contact: its phone number and LID, both as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LidPair {
    pub pn: u64,
    pub lid: u64,
}

/// The unpadded `Message` carrying `pairs`; `migrated_at` is the time the
/// phone's chat database moved to LIDs (seconds).
pub fn mapping_sync(pairs: &[LidPair], migrated_at: u64) -> Vec<u8> {
    let payload = LidMigrationMappingSyncPayload {
        pn_to_lid_mappings: pairs
            .iter()
            .map(|p| LidMigrationMapping {
                pn: Some(p.pn),
                assigned_lid: Some(p.lid),
                latest_lid: None,
            })
            .collect(),
        chat_db_migration_timestamp: Some(migrated_at),
    };
    crate::proto::protocol_message(ProtocolMessage {
        r#type: Some(ProtocolMessageType::LidMigrationMappingSync.into()),
        lid_migration_mapping_sync_message: Some(LidMigrationMappingSyncMessage {
            encoded_mapping_payload: Some(payload.encode_to_vec()),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Message;

    #[test]
    fn the_pairs_ride_in_the_encoded_payload() {
        let bytes = mapping_sync(
            &[LidPair {
                pn: 15550001111,
                lid: 700001,
            }],
            5,
        );
        let message = Message::decode(bytes.as_slice()).unwrap();
        let protocol = message.protocol_message.unwrap();
        assert_eq!(protocol.r#type, Some(22));
        let encoded = protocol
            .lid_migration_mapping_sync_message
            .unwrap()
            .encoded_mapping_payload
            .unwrap();
        let payload = LidMigrationMappingSyncPayload::decode(encoded.as_slice()).unwrap();
        assert_eq!(payload.pn_to_lid_mappings[0].pn, Some(15550001111));
        assert_eq!(payload.pn_to_lid_mappings[0].assigned_lid, Some(700001));
        assert_eq!(payload.chat_db_migration_timestamp, Some(5));
    }
}
