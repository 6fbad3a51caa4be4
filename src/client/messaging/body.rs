//! What an outgoing message carries: a text (perhaps a reply) or a media
//! message pointing at an uploaded file; encoded for the recipients and,
//! wrapped with the chat, for our own other devices.
//!
//! Owns: those encodings and the stanza's `type` they imply. Must not
//! touch: encryption, the upload (`client::media`).

use prost::Message as _;

use crate::media::MediaMessage;
use crate::proto::text::{self, Quote};

/// An outgoing message's content.
#[derive(Clone, Debug)]
pub enum Body {
    Text { text: String, quoted: Option<Quote> },
    Media(Box<MediaMessage>),
}

impl Body {
    /// The unpadded `Message` the recipients decrypt.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Body::Text { text, quoted } => text::encode(text, quoted.as_ref()),
            Body::Media(media) => media.to_message().encode_to_vec(),
        }
    }

    /// The unpadded `DeviceSentMessage` our own other devices decrypt:
    /// the message and the chat it went to.
    pub fn encode_device_sent(&self, chat: &str) -> Vec<u8> {
        match self {
            Body::Text { text, quoted } => text::encode_device_sent(chat, text, quoted.as_ref()),
            Body::Media(media) => text::device_sent(chat, media.to_message()),
        }
    }

    /// The `<enc mediatype>` of a file's copies (whatsmeow
    /// `getMediaTypeFromMessage`): `image`, `video`, `ptt` for a voice
    /// note, `audio`, `document`, `sticker`; none for a text.
    pub fn media_type(&self) -> Option<&'static str> {
        use crate::media::MediaKind as K;
        let Body::Media(media) = self else {
            return None;
        };
        Some(match media.kind {
            K::Image | K::History => "image",
            K::Video => "video",
            K::Audio if media.voice_note => "ptt",
            K::Audio => "audio",
            K::Document => "document",
            K::Sticker => "sticker",
        })
    }

    /// An `<enc v="2" type>` for `bytes`, with the body's `mediatype`.
    pub fn enc(&self, kind: &str, bytes: Vec<u8>) -> crate::wire::Node {
        let node = crate::wire::Node::new("enc")
            .attr("v", "2")
            .attr("type", kind);
        let node = match self.media_type() {
            Some(media) => node.attr("mediatype", media),
            None => node,
        };
        node.bytes(bytes)
    }

    /// The `<message type>`: `media` for a file (whatsmeow
    /// `getTypeFromMessage`), else `text`.
    pub fn stanza_type(&self) -> &'static str {
        match self {
            Body::Text { .. } => "text",
            Body::Media(_) => "media",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MediaKind;

    fn media(kind: MediaKind, voice_note: bool) -> Body {
        Body::Media(Box::new(MediaMessage {
            kind,
            url: String::new(),
            direct_path: "/v/x.enc".into(),
            media_key: [1; 32],
            file_sha256: [2; 32],
            file_enc_sha256: [3; 32],
            file_length: 1,
            mimetype: "application/octet-stream".into(),
            caption: None,
            file_name: None,
            width: None,
            height: None,
            seconds: None,
            voice_note,
            page_count: None,
            media_key_timestamp: None,
            jpeg_thumbnail: None,
            waveform: None,
        }))
    }

    #[test]
    fn a_files_copies_say_its_media_type_and_a_texts_do_not() {
        let text = Body::Text {
            text: "hi".into(),
            quoted: None,
        };
        assert_eq!(text.stanza_type(), "text");
        assert_eq!(text.enc("msg", vec![1]).get_attr("mediatype"), None);
        let voice = media(MediaKind::Audio, true);
        assert_eq!(voice.stanza_type(), "media");
        let enc = voice.enc("pkmsg", vec![1]);
        assert_eq!(enc.get_attr("mediatype"), Some("ptt"));
        assert_eq!(enc.get_attr("type"), Some("pkmsg"));
        assert_eq!(enc.get_attr("v"), Some("2"));
        for (kind, want) in [
            (MediaKind::Audio, "audio"),
            (MediaKind::Image, "image"),
            (MediaKind::Video, "video"),
            (MediaKind::Document, "document"),
            (MediaKind::Sticker, "sticker"),
        ] {
            assert_eq!(media(kind, false).media_type(), Some(want));
        }
    }
}
