//! Media: uploading files to WhatsApp's media hosts and downloading the
//! files messages point at, encrypted and checked by `crate::media`.
//!
//! Owns: the `media_conn` iq and the hosts and token it gives, kept until
//! they expire (`conn`, asked through `commands`); the HTTP transfers (`http`); the streaming
//! upload (`upload`: encrypt to a spool file, then post it) and download
//! (`download`: fetch to a spool file while checking the MAC and hash,
//! then decrypt to the caller); sending a file (`send`: upload, then the
//! media message through `messaging`'s send path, with the size,
//! thumbnail and duration `probe` reads from the bytes on the way). Must not touch: how
//! messages are encrypted (`messaging`), the store.
//!
//! Asking our phone to upload a received file again once the media hosts
//! forgot it (`reupload`: the request, and the answer it waits for).
//!
//! Transfers run in the caller's task, not the session's: only the
//! `media_conn` question passes through the session. A file of any size
//! passes through one fixed buffer; what waits in between is on disk, in
//! `ClientConfig::media_dir`, and removed when the transfer ends.

mod commands;
mod conn;
mod download;
mod http;
mod pending;
mod probe;
mod reupload;
mod send;
mod spool;
mod types;
mod upload;

use tokio::time::Instant;

use super::core::{Action, Ctx, Feature};
use crate::wire::Node;
pub use conn::MediaConn;
pub use http::exchange;
pub use pending::REUPLOAD_TIMEOUT;
pub use types::{MediaRef, OutgoingFile, UploadedMedia};

/// The media feature: the media hosts as last told (boxed: a session
/// that never sends media pays one pointer), and the re-upload requests
/// waiting for the phone.
#[derive(Default)]
pub struct Media {
    conn: Option<Box<MediaConn>>,
    reuploads: Vec<pending::PendingReupload>,
}

/// The phone's answers to re-upload requests arrive on the socket; the
/// rest of media goes through `media_conn` and the transfers.
impl Feature for Media {
    fn on_node(&mut self, _: &mut Ctx, node: &Node, _: Instant) -> Option<Vec<Action>> {
        (node.tag == "notification" && node.get_attr("type") == Some("mediaretry"))
            .then(|| self.on_answer(node))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.next_reupload_deadline()
    }

    fn on_timer(&mut self, _: &mut Ctx, now: Instant) -> Vec<Action> {
        self.expire_reuploads(now);
        Vec::new()
    }

    fn on_disconnected(&mut self, _: &mut Ctx) {
        self.drop_reuploads();
    }
}
