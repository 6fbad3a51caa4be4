//! The one app-state patch the simulated phone has written: the account's
//! push name (`setting_pushName`) in the `critical_block` collection.
//!
//! Clients treat a missing push name as "initial app-state sync not done"
//! and redo the critical sync (waiting for a key share) on every login; the
//! real account always has one. The patch is encrypted and MACed with the
//! account's app-state key exactly as a phone writes it, so clients verify
//! it like any other. Nothing else of app-state (snapshots, other
//! collections, client-written patches) lives here.
//!
//! Owns: building that patch. Pure. Must not touch: which client gets it
//! (the `w:sync:app:state` handler in `iq`), the account's key (`state`).
//!
//! Protocol facts (wacore-appstate 0.7 `keys.rs`, `hash.rs`, `lthash.rs`;
//! whatsmeow `appstate/`): sub-keys = HKDF(key, "WhatsApp Mutation Keys",
//! 160) split index/value-enc/value-mac/snapshot-mac/patch-mac; value MAC =
//! HMAC-SHA512(op+1 || key id || iv+ciphertext || 7 zero bytes, len(key id)+1)
//! truncated to 32; the LT-hash adds HKDF(value MAC, "WhatsApp Patch
//! Integrity", 128) as little-endian u16 lanes; snapshot MAC = HMAC-SHA256
//! (lt-hash || version BE || name); patch MAC = HMAC-SHA256(snapshot MAC ||
//! value MACs || version BE || name).

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use prost::Message as _;
use rand::Rng as _;
use sha2::Sha512;

use super::key_share::AppStateKey;
use crate::crypto::{hkdf_sha256, hmac_sha256};
use crate::proto::sync_action_value::PushNameSetting;
use crate::proto::syncd_mutation::SyncdOperation;
use crate::proto::{
    KeyId, SyncActionData, SyncActionValue, SyncdIndex, SyncdMutation, SyncdPatch, SyncdRecord,
    SyncdValue, SyncdVersion,
};

/// The collection that carries the push name.
pub const PUSH_NAME_COLLECTION: &str = "critical_block";
/// The version the push-name patch brings the collection to.
pub const PUSH_NAME_VERSION: u64 = 1;
/// SyncActionData.version of a push-name setting (whatsmeow appstate).
const PUSH_NAME_ACTION_VERSION: i32 = 1;

/// `SyncdPatch` bytes setting the push name to `name`, version 0 → 1.
pub fn push_name_patch(key: &AppStateKey, name: &str) -> Vec<u8> {
    let keys: [u8; 160] = hkdf_sha256(&key.data, &[0u8; 32], b"WhatsApp Mutation Keys");
    let (index_key, rest) = keys.split_at(32);
    let (value_key, rest) = rest.split_at(32);
    let (value_mac_key, rest) = rest.split_at(32);
    let (snapshot_mac_key, patch_mac_key) = rest.split_at(32);

    let index = br#"["setting_pushName"]"#;
    let action = SyncActionData {
        index: Some(index.to_vec()),
        value: Some(SyncActionValue {
            timestamp: Some(key.timestamp),
            push_name_setting: Some(PushNameSetting {
                name: Some(name.to_string()),
            }),
        }),
        padding: Some(Vec::new()),
        version: Some(PUSH_NAME_ACTION_VERSION),
    }
    .encode_to_vec();

    let iv: [u8; 16] = rand::thread_rng().gen();
    let mut value = iv.to_vec();
    if let Ok(enc) = cbc::Encryptor::<aes::Aes256>::new_from_slices(value_key, &iv) {
        value.extend(enc.encrypt_padded_vec_mut::<Pkcs7>(&action));
    }
    let value_mac = content_mac(value_mac_key, &key.id, &value);
    value.extend_from_slice(&value_mac);

    let mut lt_hash = [0u8; 128];
    let lanes: [u8; 128] = hkdf_sha256(&value_mac, &[0u8; 32], b"WhatsApp Patch Integrity");
    for (acc, add) in lt_hash.chunks_exact_mut(2).zip(lanes.chunks_exact(2)) {
        let sum =
            u16::from_le_bytes([acc[0], acc[1]]).wrapping_add(u16::from_le_bytes([add[0], add[1]]));
        acc.copy_from_slice(&sum.to_le_bytes());
    }
    let version = PUSH_NAME_VERSION.to_be_bytes();
    let name_bytes = PUSH_NAME_COLLECTION.as_bytes();
    let snapshot_mac = hmac_sha256(snapshot_mac_key, &[&lt_hash, &version, name_bytes]);
    let patch_mac = hmac_sha256(
        patch_mac_key,
        &[&snapshot_mac, &value_mac, &version, name_bytes],
    );

    SyncdPatch {
        version: Some(SyncdVersion {
            version: Some(PUSH_NAME_VERSION),
        }),
        mutations: vec![SyncdMutation {
            operation: Some(SyncdOperation::Set.into()),
            record: Some(SyncdRecord {
                index: Some(SyncdIndex {
                    blob: Some(hmac_sha256(index_key, &[index]).to_vec()),
                }),
                value: Some(SyncdValue { blob: Some(value) }),
                key_id: Some(KeyId {
                    id: Some(key.id.to_vec()),
                }),
            }),
        }],
        snapshot_mac: Some(snapshot_mac.to_vec()),
        patch_mac: Some(patch_mac.to_vec()),
        key_id: Some(KeyId {
            id: Some(key.id.to_vec()),
        }),
    }
    .encode_to_vec()
}

/// The value MAC of a SET mutation.
fn content_mac(mac_key: &[u8], key_id: &[u8], iv_and_ciphertext: &[u8]) -> [u8; 32] {
    let mut trailer = [0u8; 8];
    // One byte of length, as WhatsApp Web packs it; key ids are 6 bytes.
    trailer[7] = u8::try_from(key_id.len() + 1).unwrap_or(u8::MAX);
    let mut out = [0u8; 32];
    if let Ok(mut mac) = <Hmac<Sha512> as Mac>::new_from_slice(mac_key) {
        // The operation byte is SyncdOperation + 1 (SET = 0).
        mac.update(&[SyncdOperation::Set as u8 + 1]);
        mac.update(key_id);
        mac.update(iv_and_ciphertext);
        mac.update(&trailer);
        out.copy_from_slice(&mac.finalize().into_bytes()[..32]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_is_version_one_with_one_set_mutation_under_the_shared_key() {
        let key = AppStateKey::generate(7, 1_700_000_000_000);
        let patch = SyncdPatch::decode(push_name_patch(&key, "Sim").as_slice()).expect("decodes");
        assert_eq!(patch.version.and_then(|v| v.version), Some(1));
        assert_eq!(patch.key_id.and_then(|k| k.id), Some(key.id.to_vec()));
        assert_eq!(patch.mutations.len(), 1);
        let value = patch.mutations[0]
            .record
            .as_ref()
            .and_then(|r| r.value.as_ref())
            .and_then(|v| v.blob.clone())
            .unwrap_or_default();
        // iv, at least one AES block, 32-byte MAC.
        assert!(value.len() >= 16 + 16 + 32);
        let value_mac: [u8; 32] = value[value.len() - 32..].try_into().unwrap();
        assert_eq!(
            value_mac,
            content_mac(
                &hkdf_sha256::<160>(&key.data, &[0u8; 32], b"WhatsApp Mutation Keys")[64..96],
                &key.id,
                &value[..value.len() - 32],
            )
        );
    }
}
