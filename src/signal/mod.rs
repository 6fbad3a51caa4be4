//! The Signal protocol as WhatsApp uses it (identity, prekeys, X3DH,
//! Double Ratchet, sender keys).
//!
//! Owns: Signal key material and session state, and the pure crypto over
//! it. Must not touch: sockets, stanzas, files (the client persists what
//! this layer hands it).
//!
//! Issue 2 needs only the registration material (identity key, signed
//! prekey, one-time prekeys); the ratchet arrives with messaging.

mod prekeys;
pub mod serde_b64;

pub use prekeys::{
    generate_prekeys, next_prekey_id, registration_id, serialize_public_key, IdentityKeyPair,
    PreKey, SignedPreKey, DJB_KEY_TYPE, MAX_PREKEY_ID,
};
