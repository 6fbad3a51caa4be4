//! The phone's half of the companion device identity (ADV): issuing a
//! signed device identity at pairing, checking the companion's signature
//! on it.
//!
//! Signature prefixes are protocol facts (WhatsApp Web; whatsmeow
//! `pair.go` `AdvPrefixAccountSignature` / `AdvPrefixDeviceSignatureGenerate`).
//!
//! Owns: issuing and checking device identities, signing key index lists.
//! Pure. Must not touch: which device is linked (`linking`), state.

use prost::Message as _;

use crate::crypto::{hmac_sha256, xeddsa_verify, KeyPair};
use crate::proto::{
    AdvDeviceIdentity, AdvKeyIndexList, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
    AdvSignedKeyIndexList,
};

/// Prefix of the message the account key signs: `[6, 0] ++ details ++
/// device identity key`.
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the message the device key signs: `[6, 1] ++ details ++
/// device identity key ++ account signature key`.
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];

/// Prefix of the message the account key signs for a key index list:
/// `[6, 2] ++ details` (WhatsApp Web `WAWebAdvSignatureConstants`
/// `ADV_PREFIX_KEY_INDEX_LIST_ACCOUNT_SIGNATURE`).
pub const KEY_INDEX_LIST_SIGNATURE_PREFIX: [u8; 2] = [6, 2];

/// The account's signed list of companion key indexes still valid: the
/// content of `<key-index-list ts=..>` in device-list answers, which clients
/// need before they trust any companion in the list.
pub fn sign_key_index_list(
    account: &KeyPair,
    raw_id: u32,
    timestamp: u64,
    current_index: u32,
    valid_indexes: Vec<u32>,
) -> Vec<u8> {
    let details = AdvKeyIndexList {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        current_index: Some(current_index),
        valid_indexes,
        account_type: None,
    }
    .encode_to_vec();
    let message = [&KEY_INDEX_LIST_SIGNATURE_PREFIX[..], &details].concat();
    let account_signature = account.sign(&message);
    AdvSignedKeyIndexList {
        details: Some(details),
        account_signature: Some(account_signature.to_vec()),
        account_signature_key: None,
    }
    .encode_to_vec()
}

/// A device identity the phone issued, kept until the companion signs it.
#[derive(Clone, Debug)]
pub struct IssuedIdentity {
    /// Encoded `ADVDeviceIdentity`.
    pub details: Vec<u8>,
    /// The account's public signing key.
    pub account_signature_key: [u8; 32],
    pub account_signature: [u8; 64],
    /// Encoded `ADVSignedDeviceIdentityHMAC`: the `<device-identity>`
    /// content of `<pair-success>`.
    pub hmac_container: Vec<u8>,
    pub key_index: u32,
}

/// Why the companion's `<pair-device-sign>` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvError {
    #[error("device identity is not a valid ADVSignedDeviceIdentity")]
    Malformed,
    #[error("device identity details differ from what the phone issued")]
    DetailsChanged,
    #[error("account signature or key differ from what the phone issued")]
    AccountSignatureChanged,
    #[error("device signature is missing or not 64 bytes")]
    MissingDeviceSignature,
    #[error("device signature does not verify with the companion's identity key")]
    BadDeviceSignature,
    #[error("key-index attribute {0:?} does not match the issued key index")]
    KeyIndexMismatch(Option<String>),
}

/// Issues the signed device identity for a companion whose identity key
/// is `device_identity_key`, HMAC'd with the ADV secret from its QR.
pub fn issue_device_identity(
    account: &KeyPair,
    device_identity_key: &[u8; 32],
    adv_secret: &[u8; 32],
    raw_id: u32,
    key_index: u32,
    timestamp: u64,
) -> IssuedIdentity {
    let details = AdvDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        key_index: Some(key_index),
        account_type: None,
        device_type: None,
    }
    .encode_to_vec();
    let message = [
        &ACCOUNT_SIGNATURE_PREFIX[..],
        &details,
        &device_identity_key[..],
    ]
    .concat();
    let account_signature = account.sign(&message);
    let signed = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account.public.to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = hmac_sha256(adv_secret, &[&signed]);
    let hmac_container = AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac.to_vec()),
        account_type: None,
    }
    .encode_to_vec();
    IssuedIdentity {
        details,
        account_signature_key: account.public,
        account_signature,
        hmac_container,
        key_index,
    }
}

/// Checks the companion's answer (`<device-identity key-index=..>` content
/// of `<pair-device-sign>`): the identity it signed must be the one issued,
/// and its device signature must verify with its identity key.
pub fn verify_device_signature(
    issued: &IssuedIdentity,
    device_identity_key: &[u8; 32],
    signed_identity: &[u8],
    key_index_attr: Option<&str>,
) -> Result<(), AdvError> {
    if key_index_attr.and_then(|v| v.parse::<u32>().ok()) != Some(issued.key_index) {
        return Err(AdvError::KeyIndexMismatch(
            key_index_attr.map(str::to_owned),
        ));
    }
    let signed =
        AdvSignedDeviceIdentity::decode(signed_identity).map_err(|_| AdvError::Malformed)?;
    if signed.details.as_deref() != Some(issued.details.as_slice()) {
        return Err(AdvError::DetailsChanged);
    }
    // WhatsApp Web and whatsmeow strip the account signature key from
    // their answer (the server knows it); whatsapp-rust keeps it. Both are
    // accepted, but a key that is present must be the one issued.
    let key_ok = match signed.account_signature_key.as_deref() {
        None | Some([]) => true,
        Some(key) => key == &issued.account_signature_key[..],
    };
    if !key_ok || signed.account_signature.as_deref() != Some(&issued.account_signature[..]) {
        return Err(AdvError::AccountSignatureChanged);
    }
    let device_signature: [u8; 64] = signed
        .device_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(AdvError::MissingDeviceSignature)?;
    let message = [
        &DEVICE_SIGNATURE_PREFIX[..],
        &issued.details,
        &device_identity_key[..],
        &issued.account_signature_key[..],
    ]
    .concat();
    if xeddsa_verify(device_identity_key, &message, &device_signature) {
        Ok(())
    } else {
        Err(AdvError::BadDeviceSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_index_list_is_signed_by_the_account_over_prefixed_details() {
        let account = KeyPair::generate();
        let bytes = sign_key_index_list(&account, 77, 1_700_000_000, 3, vec![1, 3]);
        let signed = AdvSignedKeyIndexList::decode(bytes.as_slice()).unwrap();
        let details = signed.details.unwrap();
        let sig: [u8; 64] = signed.account_signature.unwrap().try_into().unwrap();
        let message = [&KEY_INDEX_LIST_SIGNATURE_PREFIX[..], &details].concat();
        assert!(xeddsa_verify(&account.public, &message, &sig));
        assert!(!xeddsa_verify(&account.public, &details, &sig));
        let list = AdvKeyIndexList::decode(details.as_slice()).unwrap();
        assert_eq!(list.raw_id, Some(77));
        assert_eq!(list.timestamp, Some(1_700_000_000));
        assert_eq!(list.current_index, Some(3));
        assert_eq!(list.valid_indexes, vec![1, 3]);
    }

    /// What an honest companion does with the `<device-identity>` bytes:
    /// check the HMAC and account signature, add its device signature.
    fn companion_signs(container: &[u8], adv_secret: &[u8; 32], identity: &KeyPair) -> Vec<u8> {
        let container = AdvSignedDeviceIdentityHmac::decode(container).unwrap();
        let signed_bytes = container.details.unwrap();
        assert_eq!(
            hmac_sha256(adv_secret, &[&signed_bytes]).to_vec(),
            container.hmac.unwrap()
        );
        let mut signed = AdvSignedDeviceIdentity::decode(signed_bytes.as_slice()).unwrap();
        let details = signed.details.clone().unwrap();
        let account_key: [u8; 32] = signed
            .account_signature_key
            .as_deref()
            .unwrap()
            .try_into()
            .unwrap();
        let account_sig: [u8; 64] = signed
            .account_signature
            .as_deref()
            .unwrap()
            .try_into()
            .unwrap();
        let account_msg = [&ACCOUNT_SIGNATURE_PREFIX[..], &details, &identity.public].concat();
        assert!(xeddsa_verify(&account_key, &account_msg, &account_sig));
        let device_msg = [
            &DEVICE_SIGNATURE_PREFIX[..],
            &details,
            &identity.public,
            &account_key,
        ]
        .concat();
        signed.device_signature = Some(identity.sign(&device_msg).to_vec());
        signed.encode_to_vec()
    }

    #[test]
    fn issued_identity_round_trips_through_an_honest_companion() {
        let account = KeyPair::generate();
        let device = KeyPair::generate();
        let adv = [9u8; 32];
        let issued = issue_device_identity(&account, &device.public, &adv, 77, 3, 1_700_000_000);
        let details = AdvDeviceIdentity::decode(issued.details.as_slice()).unwrap();
        assert_eq!(details.raw_id, Some(77));
        assert_eq!(details.key_index, Some(3));
        assert_eq!(details.timestamp, Some(1_700_000_000));

        let answer = companion_signs(&issued.hmac_container, &adv, &device);
        assert_eq!(
            verify_device_signature(&issued, &device.public, &answer, Some("3")),
            Ok(())
        );
    }

    #[test]
    fn an_answer_without_the_account_key_is_accepted_but_a_different_key_is_not() {
        let account = KeyPair::generate();
        let device = KeyPair::generate();
        let adv = [4u8; 32];
        let issued = issue_device_identity(&account, &device.public, &adv, 5, 2, 1);
        let answer = companion_signs(&issued.hmac_container, &adv, &device);
        let mut signed = AdvSignedDeviceIdentity::decode(answer.as_slice()).unwrap();

        // WhatsApp Web strips the key the server already knows.
        signed.account_signature_key = None;
        let stripped = signed.encode_to_vec();
        assert_eq!(
            verify_device_signature(&issued, &device.public, &stripped, Some("2")),
            Ok(())
        );

        signed.account_signature_key = Some(KeyPair::generate().public.to_vec());
        let swapped = signed.encode_to_vec();
        assert_eq!(
            verify_device_signature(&issued, &device.public, &swapped, Some("2")),
            Err(AdvError::AccountSignatureChanged)
        );
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let account = KeyPair::generate();
        let device = KeyPair::generate();
        let impostor = KeyPair::generate();
        let adv = [1u8; 32];
        let issued = issue_device_identity(&account, &device.public, &adv, 1, 1, 1);
        // The impostor signs as if it were the device, but the server
        // verifies with the key the device registered.
        let container = AdvSignedDeviceIdentityHmac::decode(issued.hmac_container.as_slice())
            .unwrap()
            .details
            .unwrap();
        let mut signed = AdvSignedDeviceIdentity::decode(container.as_slice()).unwrap();
        let msg = [
            &DEVICE_SIGNATURE_PREFIX[..],
            &issued.details,
            &device.public,
            &account.public,
        ]
        .concat();
        signed.device_signature = Some(impostor.sign(&msg).to_vec());
        assert_eq!(
            verify_device_signature(&issued, &device.public, &signed.encode_to_vec(), Some("1")),
            Err(AdvError::BadDeviceSignature)
        );
    }

    #[test]
    fn tampered_or_malformed_answers_are_refused() {
        let account = KeyPair::generate();
        let device = KeyPair::generate();
        let issued = issue_device_identity(&account, &device.public, &[0; 32], 1, 2, 1);
        assert_eq!(
            verify_device_signature(&issued, &device.public, &[0xff, 0xff, 0xff], Some("2")),
            Err(AdvError::Malformed)
        );
        let unsigned = AdvSignedDeviceIdentity {
            details: Some(issued.details.clone()),
            account_signature_key: Some(account.public.to_vec()),
            account_signature: Some(issued.account_signature.to_vec()),
            device_signature: None,
        };
        assert_eq!(
            verify_device_signature(
                &issued,
                &device.public,
                &unsigned.encode_to_vec(),
                Some("2")
            ),
            Err(AdvError::MissingDeviceSignature)
        );
        let changed = AdvSignedDeviceIdentity {
            details: Some(vec![1, 2, 3]),
            ..unsigned.clone()
        };
        assert_eq!(
            verify_device_signature(&issued, &device.public, &changed.encode_to_vec(), Some("2")),
            Err(AdvError::DetailsChanged)
        );
        assert_eq!(
            verify_device_signature(
                &issued,
                &device.public,
                &unsigned.encode_to_vec(),
                Some("7")
            ),
            Err(AdvError::KeyIndexMismatch(Some("7".into())))
        );
    }
}
