//! Errors a client reports to its caller.

use super::pairing::code::PairCodeError;
use crate::store::StoreError;
use crate::wire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("not supported yet: {0}")]
    Unsupported(&'static str),
    #[error("the session task has ended")]
    Stopped,
    #[error("not connected")]
    NotConnected,
    #[error("invalid recipient: {0}")]
    InvalidRecipient(String),
    #[error("unsupported recipient: {0}")]
    UnsupportedRecipient(String),
    #[error("{0} is not on WhatsApp")]
    NotOnWhatsApp(String),
    #[error("invalid group: {0}")]
    InvalidGroup(String),
    #[error("no such group, or we are not a member: {0}")]
    GroupNotFound(String),
    #[error("not allowed in this group (an admin must do it): {0}")]
    NotGroupAdmin(String),
    #[error("timed out waiting for the server")]
    Timeout,
    #[error("server answered with error {code}: {text}")]
    Server { code: String, text: String },
    #[error("this session is already linked; log out to link it again")]
    AlreadyLinked,
    #[error("the session is not waiting to be linked yet (wait for the first QR code)")]
    NotPairing,
    #[error("a linking code request is already in flight")]
    PairCodeBusy,
    #[error(transparent)]
    PairCode(#[from] PairCodeError),
    #[error("pairing rejected: {0}")]
    Pairing(String),
    #[error("stored credentials are unusable: {0}")]
    Creds(String),
    #[error("media transfer failed: {0}")]
    MediaTransfer(String),
    #[error("the media is no longer on WhatsApp's servers: {0}")]
    MediaGone(String),
    #[error("the media file is larger than the {0} bytes allowed")]
    MediaTooLarge(u64),
    #[error("the media file is damaged: {0}")]
    MediaDamaged(#[from] crate::media::MediaError),
    #[error("invalid media reference: {0}")]
    InvalidMedia(String),
    #[error("no file is kept for message {0:?}")]
    UnknownMessage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Wire(#[from] WireError),
}
