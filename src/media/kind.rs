//! The kinds of media a message can carry, each with the label its keys
//! are expanded under and the path segment its uploads go to.

use std::fmt;
use std::str::FromStr;

/// A kind of media file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
    /// Audio files and voice notes alike (a voice note is flagged in its
    /// message, not in its encryption).
    Audio,
    Document,
    /// Stickers are images to the media layer: same keys, same path.
    Sticker,
    /// A history sync blob the phone sends its companions.
    History,
}

impl MediaKind {
    pub const ALL: [MediaKind; 6] = [
        MediaKind::Image,
        MediaKind::Video,
        MediaKind::Audio,
        MediaKind::Document,
        MediaKind::Sticker,
        MediaKind::History,
    ];

    /// The HKDF info string the file's keys are expanded under (whatsmeow
    /// `MediaType`, wacore `MediaType::app_info`).
    pub fn key_label(self) -> &'static str {
        match self {
            MediaKind::Image | MediaKind::Sticker => "WhatsApp Image Keys",
            MediaKind::Video => "WhatsApp Video Keys",
            MediaKind::Audio => "WhatsApp Audio Keys",
            MediaKind::Document => "WhatsApp Document Keys",
            MediaKind::History => "WhatsApp History Keys",
        }
    }

    /// The path segment of uploads: `/mms/{segment}/{token}` (whatsmeow
    /// `mediaTypeToMMSType`).
    pub fn mms_segment(self) -> &'static str {
        match self {
            MediaKind::Image | MediaKind::Sticker => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::History => "md-msg-hist",
        }
    }

    /// The kind's name in the API and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
            MediaKind::History => "history",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MediaKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a kind of media"))
    }
}
