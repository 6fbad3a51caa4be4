//! Errors the host reports; the API maps each to a status code. What a
//! session refused or could not do arrives here in the host's own words
//! (`SessionErrorKind`), so nothing above the host needs the client's
//! error type.

use crate::client::ClientError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("no session with id {0:?}")]
    NotFound(String),
    #[error("a session with id {0:?} already exists")]
    AlreadyExists(String),
    #[error("invalid session id {0:?}: use 1-64 of A-Z a-z 0-9 _ -")]
    InvalidId(String),
    #[error("capacity exhausted: {max} sessions already run")]
    CapacityExhausted { max: usize },
    #[error("the host is shutting down")]
    ShuttingDown,
    #[error("invalid webhook: {0}")]
    InvalidWebhook(String),
    /// A session refused the request or could not carry it out.
    #[error("{message}")]
    Session {
        kind: SessionErrorKind,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("host database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The cluster refused this node, or Redis did not answer.
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("no node with id {0:?} in the cluster")]
    NodeNotFound(String),
    /// A drain that would leave sessions with nowhere to go.
    #[error("cannot drain: {0}")]
    CannotDrain(String),
    /// A hand-over or rebalance the cluster cannot make.
    #[error("cannot move sessions: {0}")]
    CannotMove(String),
}

/// What kind of refusal or failure a session reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionErrorKind {
    /// Not logged in (or not connected at all) right now.
    NotConnected,
    /// The session's task has ended.
    Stopped,
    /// The recipient is neither a phone number nor a user JID.
    InvalidRecipient,
    /// A recipient of a kind not supported yet (LID addresses).
    UnsupportedRecipient,
    NotOnWhatsApp,
    /// Not a group JID (or invite code).
    InvalidGroup,
    /// No such group, or we are not a member.
    GroupNotFound,
    /// Only a group admin may do that.
    NotGroupAdmin,
    /// The WhatsApp server did not answer in time.
    Timeout,
    /// The WhatsApp server refused.
    ServerRefused,
    NotImplemented,
    AlreadyLinked,
    /// No QR code shown yet: a linking code cannot be asked for.
    NotPairing,
    PairCodeBusy,
    /// Invalid phone number, or the server refused the linking code.
    PairCodeRefused,
    /// The media hosts no longer have the file.
    MediaGone,
    /// A media file over the configured size.
    MediaTooLarge,
    /// A media upload or download failed, or the file was damaged.
    MediaFailed,
    /// A media reference that cannot be fetched (bad path or key).
    InvalidMedia,
    /// Every media transfer slot is taken.
    MediaBusy,
    /// No file is kept for that message id (never received, no file, or
    /// kept past its time).
    UnknownMessage,
    /// Anything else (storage, the wire): the session's own failure.
    Internal,
}

impl From<ClientError> for HostError {
    fn from(e: ClientError) -> Self {
        use SessionErrorKind as K;
        let kind = match &e {
            ClientError::NotConnected => K::NotConnected,
            ClientError::Stopped => K::Stopped,
            ClientError::InvalidRecipient(_) => K::InvalidRecipient,
            ClientError::UnsupportedRecipient(_) => K::UnsupportedRecipient,
            ClientError::NotOnWhatsApp(_) => K::NotOnWhatsApp,
            ClientError::InvalidGroup(_) => K::InvalidGroup,
            ClientError::GroupNotFound(_) => K::GroupNotFound,
            ClientError::NotGroupAdmin(_) => K::NotGroupAdmin,
            ClientError::Timeout => K::Timeout,
            ClientError::Server { .. } => K::ServerRefused,
            ClientError::Unsupported(_) => K::NotImplemented,
            ClientError::AlreadyLinked => K::AlreadyLinked,
            ClientError::NotPairing => K::NotPairing,
            ClientError::PairCodeBusy => K::PairCodeBusy,
            ClientError::PairCode(_) => K::PairCodeRefused,
            ClientError::Pairing(_)
            | ClientError::Creds(_)
            | ClientError::Store(_)
            | ClientError::Wire(_) => K::Internal,
            ClientError::MediaGone(_) => K::MediaGone,
            ClientError::MediaTooLarge(_) => K::MediaTooLarge,
            ClientError::MediaTransfer(_) | ClientError::MediaDamaged(_) => K::MediaFailed,
            ClientError::InvalidMedia(_) => K::InvalidMedia,
            ClientError::UnknownMessage(_) => K::UnknownMessage,
        };
        HostError::Session {
            kind,
            message: e.to_string(),
        }
    }
}
