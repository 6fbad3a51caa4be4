//! What a decrypted message says: its text (or a media message's
//! caption), the message it replies to, the chat our own device sent it
//! to, and for a media message the file it points at.
//!
//! Owns: reading the unpadded `Message`. Must not touch: decryption,
//! what is reported (`decrypt::report`).

use prost::Message as _;

use crate::media::MediaMessage;
use crate::proto::text::{self, TextContent, TextError};
use crate::proto::Message;

/// A decrypted message's content.
pub struct Content {
    pub text: TextContent,
    pub media: Option<MediaMessage>,
}

/// Reads an unpadded message: a text, or a media message (its caption as
/// the text). `NoText` for anything else (protocol messages, content wasp
/// does not read yet).
pub fn decode(unpadded: &[u8]) -> Result<Content, TextError> {
    match text::decode(unpadded) {
        Ok(text) => Ok(Content { text, media: None }),
        Err(TextError::NoText) => media(unpadded),
        Err(e) => Err(e),
    }
}

fn media(unpadded: &[u8]) -> Result<Content, TextError> {
    let message = Message::decode(unpadded).map_err(|e| TextError::Protobuf(e.to_string()))?;
    // Our own device's copy wraps the message with the chat it went to.
    let (inner, sent_to) = match message.device_sent_message {
        Some(sent) => (sent.message.map(|m| *m), sent.destination_jid),
        None => (Some(message), None),
    };
    let media = inner
        .as_ref()
        .and_then(MediaMessage::from_message)
        .ok_or(TextError::NoText)?;
    Ok(Content {
        text: TextContent {
            text: media.caption.clone().unwrap_or_default(),
            quoted: None,
            sent_to,
        },
        media: Some(media),
    })
}
