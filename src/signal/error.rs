//! Errors of the Signal layer. Every hostile or damaged input maps to one
//! of these; none of them leaves a session half-updated.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignalError {
    #[error("signal message is truncated")]
    Truncated,
    #[error("unsupported signal message version {0}")]
    UnsupportedVersion(u8),
    #[error("malformed signal protobuf: {0}")]
    Protobuf(String),
    #[error("signal message lacks field `{0}`")]
    MissingField(&'static str),
    #[error("invalid public key encoding")]
    InvalidPublicKey,
    #[error("signed prekey signature does not verify with the identity key")]
    BadSignedPreKeySignature,
    #[error("no session with this peer")]
    NoSession,
    #[error("message authentication code mismatch")]
    BadMac,
    #[error("ciphertext does not decrypt (bad length or padding)")]
    InvalidCiphertext,
    #[error("duplicate message: counter {counter} was already received")]
    DuplicateMessage { counter: u32 },
    #[error("message counter jumps {jump} ahead, more than the {limit} allowed")]
    TooFarInFuture { jump: u32, limit: u32 },
    #[error("unknown signed prekey id {0}")]
    UnknownSignedPreKey(u32),
    #[error("unknown one-time prekey id {0}")]
    UnknownPreKey(u32),
    #[error("our identity key is not the one this session was made with")]
    LocalIdentityMismatch,
    #[error("sending chain counter exhausted")]
    CounterExhausted,
    #[error("no sender key for chain id {chain_id}")]
    NoSenderKey { chain_id: u32 },
    #[error("we have no sender key of our own to encrypt with")]
    NoOwnSenderKey,
    #[error("sender key message signature does not verify")]
    BadSignature,
}

impl From<prost::DecodeError> for SignalError {
    fn from(e: prost::DecodeError) -> Self {
        SignalError::Protobuf(e.to_string())
    }
}
