//! The contacts' LIDs the account's phone pushes to its companions: a
//! `ProtocolMessage` of type `LID_MIGRATION_MAPPING_SYNC` whose payload
//! lists phone number → LID pairs (whatsmeow `message.go`
//! storeLIDSyncMessage, whatsapp-rust `lid_pn.rs`
//! handle_lid_migration_mapping_sync).
//!
//! Owns: reading the payload into pairs, and keeping the pairs our phone
//! gives (its push, its history chunks: [`keep_pairs`]). Must not touch:
//! whether the sender may teach us mappings (only our own account may:
//! the caller checks).

use prost::Message as _;

use crate::proto::protocol_message::Type as ProtocolMessageType;
use crate::proto::{LidMigrationMappingSyncPayload, Message};
use crate::store::{AuthStore, StoreError};

/// Stores `(lid, phone number)` user pairs our phone gave; `source`
/// names where they came from in the log.
pub fn keep_pairs(
    store: &dyn AuthStore,
    pairs: &[(String, String)],
    source: &'static str,
) -> Result<(), StoreError> {
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(l, p)| (l.as_str(), p.as_str()))
        .collect();
    store.put_lid_mappings(&refs)?;
    tracing::info!(pairs = refs.len(), source, "contacts' LIDs from our phone");
    Ok(())
}

/// Where more pairs than this arrive, the rest are ignored: a bound on
/// the store writes one message can cause.
pub const MAX_PAIRS: usize = 10_000;

/// The `(lid, phone number)` user pairs in an unpadded message, when it
/// is a LID mapping sync; `None` for any other message. A pair with a zero
/// number is skipped; `latestLid` wins over `assignedLid` (whatsapp-rust
/// reads it so: a contact's LID may have changed since it was assigned).
pub fn shared_mappings(plaintext: &[u8]) -> Option<Vec<(String, String)>> {
    let protocol = Message::decode(plaintext).ok()?.protocol_message?;
    if protocol.r#type != Some(ProtocolMessageType::LidMigrationMappingSync.into()) {
        return None;
    }
    let encoded = protocol
        .lid_migration_mapping_sync_message?
        .encoded_mapping_payload?;
    let payload = match LidMigrationMappingSyncPayload::decode(encoded.as_slice()) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::debug!(error = %e, "unreadable LID mapping payload");
            return Some(Vec::new());
        }
    };
    let pairs = payload
        .pn_to_lid_mappings
        .iter()
        .filter_map(|m| {
            let pn = m.pn.filter(|&n| n != 0)?;
            let lid = m
                .latest_lid
                .filter(|&n| n != 0)
                .or(m.assigned_lid.filter(|&n| n != 0))?;
            Some((lid.to_string(), pn.to_string()))
        })
        .take(MAX_PAIRS)
        .collect();
    Some(pairs)
}

/// A mapping sync carrying `mappings`, as our phone sends it.
#[cfg(test)]
pub(super) fn sync_message(mappings: Vec<crate::proto::LidMigrationMapping>) -> Vec<u8> {
    use crate::proto::{LidMigrationMappingSyncMessage, ProtocolMessage};
    let payload = LidMigrationMappingSyncPayload {
        pn_to_lid_mappings: mappings,
        chat_db_migration_timestamp: Some(1_700_000_000),
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
pub(super) mod tests {
    use super::*;
    use crate::proto::{LidMigrationMapping, LidMigrationMappingSyncMessage, ProtocolMessage};

    pub(crate) fn mapping(pn: u64, assigned: u64, latest: Option<u64>) -> LidMigrationMapping {
        LidMigrationMapping {
            pn: Some(pn),
            assigned_lid: Some(assigned),
            latest_lid: latest,
        }
    }

    #[test]
    fn pairs_are_read_with_the_latest_lid_and_zeros_skipped() {
        let message = sync_message(vec![
            mapping(15550001111, 700001, None),
            mapping(15550002222, 700002, Some(800002)),
            mapping(15550003333, 700003, Some(0)),
            mapping(0, 700004, None),
            mapping(15550005555, 0, None),
        ]);
        assert_eq!(
            shared_mappings(&message).expect("a mapping sync"),
            [
                ("700001".to_string(), "15550001111".to_string()),
                ("800002".to_string(), "15550002222".to_string()),
                ("700003".to_string(), "15550003333".to_string()),
            ]
        );
    }

    #[test]
    fn other_messages_and_garbage_are_not_mappings() {
        assert_eq!(
            shared_mappings(&crate::proto::text::encode("hi", None)),
            None
        );
        assert_eq!(shared_mappings(&[0xff, 0xff]), None);
        let key_share = Message {
            protocol_message: Some(ProtocolMessage {
                r#type: Some(ProtocolMessageType::AppStateSyncKeyShare.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(shared_mappings(&key_share), None);
        // A mapping sync whose payload is garbage teaches nothing.
        let broken = Message {
            protocol_message: Some(ProtocolMessage {
                r#type: Some(ProtocolMessageType::LidMigrationMappingSync.into()),
                lid_migration_mapping_sync_message: Some(LidMigrationMappingSyncMessage {
                    encoded_mapping_payload: Some(vec![0xff, 0xff, 0xff]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(shared_mappings(&broken), Some(Vec::new()));
    }
}
