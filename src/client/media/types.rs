//! What the media transfers give and take: an uploaded file, a
//! reference to a file to download, and what a sent media message says
//! of its file.

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

/// What a media message says of the file besides its keys and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingFile {
    pub kind: MediaKind,
    pub mimetype: String,
    pub caption: Option<String>,
    /// Documents: the name the recipient sees.
    pub file_name: Option<String>,
    /// Audio: send as a voice note (the recipient's app shows a voice
    /// message; WhatsApp expects OGG/Opus for these).
    pub voice_note: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub seconds: Option<u32>,
    /// Images: a small JPEG shown before the file is fetched (drawn from
    /// the image when not given).
    pub jpeg_thumbnail: Option<Vec<u8>>,
    /// Voice notes: 64 bars, 0–100 (`media::Waveform`).
    pub waveform: Option<Vec<u8>>,
}

impl OutgoingFile {
    /// A file of `kind` and `mimetype`, nothing else said.
    pub fn new(kind: MediaKind, mimetype: impl Into<String>) -> OutgoingFile {
        OutgoingFile {
            kind,
            mimetype: mimetype.into(),
            caption: None,
            file_name: None,
            voice_note: false,
            width: None,
            height: None,
            seconds: None,
            jpeg_thumbnail: None,
            waveform: None,
        }
    }
}
