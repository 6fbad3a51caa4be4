//! What a phone reads of a decrypted message: a text, or a media message
//! (its caption as the text, the file kept to be fetched and checked
//! when the admin API lists it).
//!
//! Owns: that reading. Must not touch: decryption, the media hosts.

use prost::Message as _;

use crate::media::MediaMessage;
use crate::proto::text::{self, TextContent, TextError};
use crate::proto::Message;

/// A text or a media message, from an unpadded plaintext.
pub(crate) fn decode(plaintext: &[u8]) -> Result<(TextContent, Option<MediaMessage>), String> {
    match text::decode(plaintext) {
        Ok(content) => Ok((content, None)),
        Err(TextError::NoText) => {
            let message = Message::decode(plaintext).map_err(|e| e.to_string())?;
            let (inner, sent_to) = match message.device_sent_message {
                Some(sent) => (sent.message.map(|m| *m), sent.destination_jid),
                None => (Some(message), None),
            };
            let media = inner
                .as_ref()
                .and_then(MediaMessage::from_message)
                .ok_or_else(|| TextError::NoText.to_string())?;
            let content = TextContent {
                text: media.caption.clone().unwrap_or_default(),
                quoted: None,
                sent_to,
            };
            Ok((content, Some(media)))
        }
        Err(e) => Err(e.to_string()),
    }
}
