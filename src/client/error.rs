//! Errors a client reports to its caller.

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
    #[error("timed out waiting for the server")]
    Timeout,
    #[error("server answered with error {code}: {text}")]
    Server { code: String, text: String },
    #[error("pairing rejected: {0}")]
    Pairing(String),
    #[error("stored credentials are unusable: {0}")]
    Creds(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Wire(#[from] WireError),
}
