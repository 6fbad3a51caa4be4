//! Media: uploading files to WhatsApp's media hosts and downloading the
//! files messages point at, encrypted and checked by `crate::media`.
//!
//! Owns: the `media_conn` iq and the hosts and token it gives, kept until
//! they expire (`conn`, asked through `commands`); the HTTP transfers (`http`); the streaming
//! upload (`upload`: encrypt to a spool file, then post it) and download
//! (`download`: fetch to a spool file while checking the MAC and hash,
//! then decrypt to the caller); sending a file (`send`: upload, then the
//! media message through `messaging`'s send path). Must not touch: how
//! messages are encrypted (`messaging`), the store.
//!
//! Transfers run in the caller's task, not the session's: only the
//! `media_conn` question passes through the session. A file of any size
//! passes through one fixed buffer; what waits in between is on disk, in
//! `ClientConfig::media_dir`, and removed when the transfer ends.

mod commands;
mod conn;
mod download;
mod http;
mod send;
mod spool;
mod types;
mod upload;

use super::core::Feature;
pub use conn::MediaConn;
pub use http::exchange;
pub use types::{MediaRef, OutgoingFile, UploadedMedia};

/// The media feature: the media hosts as last told (boxed: a session
/// that never sends media pays one pointer).
#[derive(Default)]
pub struct Media {
    conn: Option<Box<MediaConn>>,
}

/// Nothing arrives for media on the socket: the feature only answers
/// `media_conn` requests.
impl Feature for Media {}
