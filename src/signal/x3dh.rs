//! X3DH key agreement as libsignal runs it (message version 3): the
//! initiator from a prekey bundle, the responder from a PreKeySignalMessage.

use super::error::SignalError;
use super::prekeys::{serialize_public_key, IdentityKeyPair};
use super::ratchet::{derive_initial_keys, ratchet_root};
use super::state::{PendingPreKey, ReceiverChain, SenderChain, SessionState};
use super::wire::PreKeySignalMessage;
use crate::crypto::{xeddsa_verify, KeyPair};

/// 32 bytes of 0xFF before the DH outputs: libsignal's "discontinuity
/// bytes" for Curve25519 (X3DH spec section 2.2).
const DISCONTINUITY: [u8; 32] = [0xFF; 32];

/// What a peer device publishes so others can start a session with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    pub registration_id: u32,
    pub identity_key: [u8; 32],
    pub signed_prekey_id: u32,
    pub signed_prekey: [u8; 32],
    pub signed_prekey_signature: [u8; 64],
    /// The one-time prekey `(id, public key)`, when the server had one.
    pub prekey: Option<(u32, [u8; 32])>,
}

/// Our own long-term keys as a session needs them.
#[derive(Clone, Copy)]
pub struct LocalIdentity<'a> {
    pub identity: &'a IdentityKeyPair,
    pub registration_id: u32,
}

fn master_secret(dhs: &[[u8; 32]]) -> Vec<u8> {
    let mut secret = Vec::with_capacity(32 * (1 + dhs.len()));
    secret.extend_from_slice(&DISCONTINUITY);
    for dh in dhs {
        secret.extend_from_slice(dh);
    }
    secret
}

/// The initiator's (Alice's) side: a fresh session state towards the
/// owner of `bundle`. The bundle's signed prekey signature must verify.
pub fn initiate(local: LocalIdentity<'_>, bundle: &PreKeyBundle) -> Result<SessionState, SignalError> {
    if !xeddsa_verify(
        &bundle.identity_key,
        &serialize_public_key(&bundle.signed_prekey),
        &bundle.signed_prekey_signature,
    ) {
        return Err(SignalError::BadSignedPreKeySignature);
    }
    let base = KeyPair::generate();
    let mut dhs = vec![
        local.identity.dh(&bundle.signed_prekey),
        base.dh(&bundle.identity_key),
        base.dh(&bundle.signed_prekey),
    ];
    if let Some((_, one_time)) = &bundle.prekey {
        dhs.push(base.dh(one_time));
    }
    let (root_key, receiving) = derive_initial_keys(&master_secret(&dhs));
    // Alice ratchets once at once, so her first message already carries a
    // new ratchet key Bob's signed prekey combines with.
    let sending_ratchet = KeyPair::generate();
    let (root_key, sending) = ratchet_root(&root_key, &sending_ratchet, &bundle.signed_prekey);
    Ok(SessionState {
        local_identity: local.identity.public,
        remote_identity: bundle.identity_key,
        local_registration_id: local.registration_id,
        remote_registration_id: bundle.registration_id,
        root_key,
        sender: SenderChain {
            ratchet: sending_ratchet,
            chain: sending,
        },
        receivers: vec![ReceiverChain::new(bundle.signed_prekey, receiving)],
        previous_counter: 0,
        pending_prekey: Some(PendingPreKey {
            prekey_id: bundle.prekey.map(|(id, _)| id),
            signed_prekey_id: bundle.signed_prekey_id,
            base_key: base.public,
        }),
        base_key: base.public,
    })
}

/// The responder's (Bob's) side, from the keys `message` names.
pub fn accept(
    local: LocalIdentity<'_>,
    signed_prekey: &KeyPair,
    one_time_prekey: Option<&KeyPair>,
    message: &PreKeySignalMessage,
) -> SessionState {
    let mut dhs = vec![
        signed_prekey.dh(&message.identity_key),
        local.identity.dh(&message.base_key),
        signed_prekey.dh(&message.base_key),
    ];
    if let Some(one_time) = one_time_prekey {
        dhs.push(one_time.dh(&message.base_key));
    }
    let (root_key, sending) = derive_initial_keys(&master_secret(&dhs));
    SessionState {
        local_identity: local.identity.public,
        remote_identity: message.identity_key,
        local_registration_id: local.registration_id,
        remote_registration_id: message.registration_id,
        root_key,
        sender: SenderChain {
            ratchet: signed_prekey.clone(),
            chain: sending,
        },
        receivers: Vec::new(),
        previous_counter: 0,
        pending_prekey: None,
        base_key: message.base_key,
    }
}
