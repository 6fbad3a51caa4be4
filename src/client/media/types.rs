//! What the media transfers give and take: an uploaded file, and a
//! reference to a file to download.

use crate::media::{MediaKey, MediaKind};

/// A file on the media hosts, and what a message needs to point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedMedia {
    pub kind: MediaKind,
    pub url: String,
    pub direct_path: String,
    pub media_key: MediaKey,
    pub file_sha256: [u8; 32],
    pub file_enc_sha256: [u8; 32],
    /// The plaintext's length.
    pub file_length: u64,
}

/// What a message says of its file: enough to fetch and open it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRef {
    pub kind: MediaKind,
    pub direct_path: String,
    pub media_key: MediaKey,
    /// Checked when given (messages always give them).
    pub file_sha256: Option<[u8; 32]>,
    pub file_enc_sha256: Option<[u8; 32]>,
}
