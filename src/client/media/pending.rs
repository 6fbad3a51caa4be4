//! A re-upload request waiting for our phone's answer (`reupload` sends
//! it and reads the answer; the feature's state keeps these).

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::client::{ClientError, IncomingMedia};
use crate::media::MediaKey;

/// How long the phone has to answer (whatsapp-rust `MEDIA_RETRY_TIMEOUT`).
pub const REUPLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Who waits: the message's `media`, pointed at the new copy, or why not.
pub type Reply = oneshot::Sender<Result<IncomingMedia, ClientError>>;

/// A request sent, waiting for the phone.
pub struct PendingReupload {
    pub id: String,
    /// Opens the answer.
    pub media_key: MediaKey,
    pub deadline: Instant,
    pub reply: Reply,
}
