//! The Signal protocol as WhatsApp uses it (identity, prekeys, X3DH,
//! Double Ratchet, sender keys).
//!
//! Owns: Signal key material and session state, and the pure crypto over
//! it. Must not touch: sockets, stanzas, files (the client persists what
//! this layer hands it).
//!
//! Pairwise sessions ([`SessionRecord`], [`initiate_session`],
//! [`encrypt`], [`decrypt_message`], [`decrypt_prekey_message`]) follow
//! libsignal's protocol version 3 exactly, which is what WhatsApp speaks.
//! Group messages use sender keys ([`SenderKeyRecord`],
//! [`create_distribution`], [`process_distribution`], [`group_encrypt`],
//! [`group_decrypt`]), also as libsignal does them.

mod error;
pub mod messages;
mod prekeys;
mod ratchet;
mod sender_key;
pub mod serde_b64;
mod session;

pub use error::SignalError;
pub use messages::{
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage,
};
pub use prekeys::{
    generate_prekeys, next_prekey_id, registration_id, serialize_public_key, IdentityKeyPair,
    PreKey, SignedPreKey, DJB_KEY_TYPE, MAX_PREKEY_ID,
};
pub use sender_key::{
    create_distribution, group_decrypt, group_encrypt, process_distribution, SenderKeyRecord,
    MAX_SENDER_KEY_STATES,
};
pub use session::{
    check_identity, decrypt_message, decrypt_prekey_message, encrypt, initiate_session,
    CiphertextMessage, IdentityCheck, LocalPreKeys, PreKeyBundle, PreKeyDecryption, PreKeySource,
    SessionRecord, MAX_ARCHIVED_SESSIONS, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS,
};
