//! The server's Noise certificate chain: root -> intermediate -> leaf.
//!
//! The leaf's key must equal the server's Noise static key. Verification
//! is always on; what changes between production and tests is only which
//! root public key is trusted.

use crate::crypto::KeyPair;

/// WhatsApp's production certificate root public key (WhatsApp Web
/// `WAWebNoiseCertificate`; also whatsmeow `socket.WACertPubKey`).
pub const WHATSAPP_ROOT_KEY: [u8; 32] = [0; 32];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("certificate chain is malformed: {0}")]
    Malformed(&'static str),
}

/// Issues an encoded `CertChain` (root signs intermediate, intermediate
/// signs leaf) whose leaf key is `leaf_key`. Used by the simulator.
pub fn issue_chain(
    root: &KeyPair,
    intermediate: &KeyPair,
    intermediate_serial: u32,
    leaf_key: &[u8; 32],
    leaf_serial: u32,
    not_before: u64,
    not_after: u64,
) -> Vec<u8> {
    let _ = (
        root,
        intermediate,
        intermediate_serial,
        leaf_key,
        leaf_serial,
        not_before,
        not_after,
    );
    todo!()
}

/// Verifies an encoded `CertChain` against `root_key`: signatures, issuer
/// serials, validity at `now_unix`, and leaf key == `server_static`.
pub fn verify_chain(
    chain: &[u8],
    root_key: &[u8; 32],
    server_static: &[u8; 32],
    now_unix: u64,
) -> Result<(), CertError> {
    let _ = (chain, root_key, server_static, now_unix);
    todo!()
}
