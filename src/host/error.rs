//! Errors the host reports; the API maps each to a status code.

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
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("host database: {0}")]
    Database(#[from] rusqlite::Error),
}
