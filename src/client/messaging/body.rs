//! What an outgoing message carries: a text (perhaps a reply) or a media
//! message pointing at an uploaded file; encoded for the recipients and,
//! wrapped with the chat, for our own other devices.
//!
//! Owns: those encodings and the stanza's `type` they imply. Must not
//! touch: encryption, the upload (`client::media`).

use prost::Message as _;

use crate::media::MediaMessage;
use crate::proto::text::{self, Quote};
use crate::proto::{DeviceSentMessage, Message};

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
            Body::Media(media) => Message {
                device_sent_message: Some(Box::new(DeviceSentMessage {
                    destination_jid: Some(chat.to_string()),
                    message: Some(Box::new(media.to_message())),
                    phash: None,
                })),
                ..Default::default()
            }
            .encode_to_vec(),
        }
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
