//! The plaintext of a WhatsApp text message: the `Message` protobuf
//! (`conversation`, or `extendedTextMessage` for replies), wrapped in a
//! `DeviceSentMessage` for the sender's own other devices, then padded.
//!
//! Padding (v2, wacore `messages.rs` / whatsmeow `padMessage`): 1 to 16
//! bytes appended, each equal to the pad length, so ciphertext lengths do
//! not give away the text length exactly.

use prost::Message as _;
use rand::Rng as _;

use super::{ContextInfo, DeviceSentMessage, ExtendedTextMessage, Message};

/// Why a decrypted plaintext is not a message we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("plaintext padding is invalid")]
    BadPadding,
    #[error("plaintext is not a Message protobuf: {0}")]
    Protobuf(String),
    #[error("message carries no text (unsupported content)")]
    NoText,
}

/// Appends WhatsApp's v2 padding: 1..=16 bytes of the pad length.
pub fn pad(plaintext: &[u8]) -> Vec<u8> {
    let pad: u8 = rand::thread_rng().gen_range(1..=16);
    let mut out = Vec::with_capacity(plaintext.len() + usize::from(pad));
    out.extend_from_slice(plaintext);
    out.resize(plaintext.len() + usize::from(pad), pad);
    out
}

/// Strips the padding [`pad`] added.
pub fn unpad(padded: &[u8]) -> Result<&[u8], TextError> {
    let n = usize::from(*padded.last().ok_or(TextError::BadPadding)?);
    if n == 0 || n > padded.len() {
        return Err(TextError::BadPadding);
    }
    Ok(&padded[..padded.len() - n])
}

/// A reply's reference to the message it quotes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    pub id: String,
    pub participant: Option<String>,
    pub text: Option<String>,
}

/// What a text message says, after unwrapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextContent {
    pub text: String,
    pub quoted: Option<Quote>,
    /// Set when this was a `DeviceSentMessage`: the chat our other device
    /// sent it to.
    pub sent_to: Option<String>,
}

/// The encoded `Message` for `text` (a reply when `quoted` is set).
pub fn encode(text: &str, quoted: Option<&Quote>) -> Vec<u8> {
    message(text, quoted).encode_to_vec()
}

/// The encoded `Message{deviceSentMessage{destinationJid, message}}` our own
/// other devices receive for a text we sent to `chat`.
pub fn encode_device_sent(chat: &str, text: &str, quoted: Option<&Quote>) -> Vec<u8> {
    device_sent(chat, message(text, quoted))
}

/// The encoded `Message{deviceSentMessage{destinationJid, message}}` our own
/// other devices receive for any `message` we sent to `chat` (a text, a
/// media message).
pub fn device_sent(chat: &str, message: Message) -> Vec<u8> {
    Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some(chat.to_string()),
            message: Some(Box::new(message)),
            phash: None,
        })),
        ..Default::default()
    }
    .encode_to_vec()
}

fn message(text: &str, quoted: Option<&Quote>) -> Message {
    match quoted {
        None => Message {
            conversation: Some(text.to_string()),
            ..Default::default()
        },
        Some(q) => Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some(text.to_string()),
                context_info: Some(Box::new(ContextInfo {
                    stanza_id: Some(q.id.clone()),
                    participant: q.participant.clone(),
                    quoted_message: q.text.as_ref().map(|t| {
                        Box::new(Message {
                            conversation: Some(t.clone()),
                            ..Default::default()
                        })
                    }),
                    remote_jid: None,
                })),
            })),
            ..Default::default()
        },
    }
}

/// Reads an unpadded `Message`; only text content is understood.
pub fn decode(bytes: &[u8]) -> Result<TextContent, TextError> {
    let message = Message::decode(bytes).map_err(|e| TextError::Protobuf(e.to_string()))?;
    if let Some(sent) = message.device_sent_message {
        let inner = sent.message.ok_or(TextError::NoText)?;
        let mut content = text_of(*inner)?;
        content.sent_to = sent.destination_jid;
        return Ok(content);
    }
    text_of(message)
}

fn text_of(message: Message) -> Result<TextContent, TextError> {
    if let Some(text) = message.conversation {
        return Ok(TextContent {
            text,
            quoted: None,
            sent_to: None,
        });
    }
    let ext = message.extended_text_message.ok_or(TextError::NoText)?;
    let quoted = ext.context_info.and_then(|c| {
        let id = c.stanza_id?;
        Some(Quote {
            id,
            participant: c.participant,
            text: c.quoted_message.and_then(|m| {
                let m = *m;
                m.conversation
                    .or(m.extended_text_message.and_then(|e| e.text))
            }),
        })
    });
    Ok(TextContent {
        text: ext.text.ok_or(TextError::NoText)?,
        quoted,
        sent_to: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_and_rejects_garbage() {
        for _ in 0..64 {
            let padded = pad(b"abc");
            let n = usize::from(*padded.last().unwrap());
            assert!((1..=16).contains(&n));
            assert!(padded[3..].iter().all(|&b| usize::from(b) == n));
            assert_eq!(unpad(&padded).unwrap(), b"abc");
        }
        assert_eq!(unpad(&[]), Err(TextError::BadPadding));
        assert_eq!(unpad(&[1, 2, 0]), Err(TextError::BadPadding));
        assert_eq!(unpad(&[9, 9]), Err(TextError::BadPadding));
    }

    #[test]
    fn plain_reply_and_device_sent_texts_decode() {
        let plain = decode(&encode("hi", None)).unwrap();
        assert_eq!(plain.text, "hi");
        assert_eq!(plain.quoted, None);

        let quote = Quote {
            id: "ABC".into(),
            participant: Some("1555@s.whatsapp.net".into()),
            text: Some("original".into()),
        };
        let reply = decode(&encode("re", Some(&quote))).unwrap();
        assert_eq!(reply.text, "re");
        assert_eq!(reply.quoted, Some(quote));

        let mine = decode(&encode_device_sent("1666@s.whatsapp.net", "yo", None)).unwrap();
        assert_eq!(mine.text, "yo");
        assert_eq!(mine.sent_to.as_deref(), Some("1666@s.whatsapp.net"));
    }

    #[test]
    fn non_text_and_garbage_are_errors() {
        assert_eq!(decode(&[]), Err(TextError::NoText));
        assert!(matches!(decode(&[0xff, 0xff]), Err(TextError::Protobuf(_))));
    }
}
