//! Media messages: the protobuf a chat message carries for a file (an
//! `ImageMessage`, `VideoMessage`, `AudioMessage`, `DocumentMessage` or
//! `StickerMessage`) read into one shape, and written from it, with the
//! fields WhatsApp clients fill (whatsmeow `upload.go` docs, Baileys
//! `prepareWAMessageMedia`).

use crate::proto::{
    AudioMessage, DocumentMessage, ImageMessage, Message, StickerMessage, VideoMessage,
};

use super::keys::MediaKey;
use super::kind::MediaKind;

/// One media message, whatever its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaMessage {
    pub kind: MediaKind,
    pub url: String,
    pub direct_path: String,
    pub media_key: MediaKey,
    pub file_sha256: [u8; 32],
    pub file_enc_sha256: [u8; 32],
    pub file_length: u64,
    pub mimetype: String,
    pub caption: Option<String>,
    /// Documents: the file's name.
    pub file_name: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Audio and video: the duration.
    pub seconds: Option<u32>,
    /// Audio: a voice note (push to talk) rather than a file.
    pub voice_note: bool,
    /// Documents: pages, where known.
    pub page_count: Option<u32>,
    /// When the media key was made (seconds).
    pub media_key_timestamp: Option<i64>,
    /// Images, videos and documents: a small JPEG the recipient sees
    /// before fetching the file.
    pub jpeg_thumbnail: Option<Vec<u8>>,
    /// Voice notes: 64 bars, 0–100 (see `waveform`).
    pub waveform: Option<Vec<u8>>,
}

fn array(bytes: Option<&Vec<u8>>) -> Option<[u8; 32]> {
    bytes?.as_slice().try_into().ok()
}

impl MediaMessage {
    /// The media a message carries; `None` for other messages and for a
    /// media message without a usable key, hashes or path (nothing could
    /// be fetched or checked).
    pub fn from_message(message: &Message) -> Option<MediaMessage> {
        let m = Fields::of(message)?;
        Some(MediaMessage {
            kind: m.kind,
            url: m.url.cloned().unwrap_or_default(),
            direct_path: m.direct_path?.clone(),
            media_key: array(m.media_key)?,
            file_sha256: array(m.file_sha256)?,
            file_enc_sha256: array(m.file_enc_sha256)?,
            file_length: m.file_length.unwrap_or_default(),
            mimetype: m.mimetype.cloned().unwrap_or_default(),
            caption: m.caption.cloned(),
            file_name: m.file_name.cloned(),
            width: m.width,
            height: m.height,
            seconds: m.seconds,
            voice_note: m.ptt,
            page_count: m.page_count,
            media_key_timestamp: m.media_key_timestamp,
            jpeg_thumbnail: m.jpeg_thumbnail.cloned(),
            waveform: m.waveform.cloned(),
        })
    }

    /// The message carrying this media.
    pub fn to_message(&self) -> Message {
        let mut message = Message::default();
        let key = Some(self.media_key.to_vec());
        let sha = Some(self.file_sha256.to_vec());
        let enc = Some(self.file_enc_sha256.to_vec());
        let url = Some(self.url.clone());
        let path = Some(self.direct_path.clone());
        let mime = Some(self.mimetype.clone());
        let length = Some(self.file_length);
        match self.kind {
            MediaKind::Image | MediaKind::History => {
                message.image_message = Some(Box::new(ImageMessage {
                    url,
                    mimetype: mime,
                    caption: self.caption.clone(),
                    file_sha256: sha,
                    file_length: length,
                    height: self.height,
                    width: self.width,
                    media_key: key,
                    file_enc_sha256: enc,
                    direct_path: path,
                    media_key_timestamp: self.media_key_timestamp,
                    jpeg_thumbnail: self.jpeg_thumbnail.clone(),
                    ..Default::default()
                }))
            }
            MediaKind::Video => {
                message.video_message = Some(Box::new(VideoMessage {
                    url,
                    mimetype: mime,
                    file_sha256: sha,
                    file_length: length,
                    seconds: self.seconds,
                    media_key: key,
                    caption: self.caption.clone(),
                    height: self.height,
                    width: self.width,
                    file_enc_sha256: enc,
                    direct_path: path,
                    media_key_timestamp: self.media_key_timestamp,
                    jpeg_thumbnail: self.jpeg_thumbnail.clone(),
                    ..Default::default()
                }))
            }
            MediaKind::Audio => {
                message.audio_message = Some(Box::new(AudioMessage {
                    url,
                    mimetype: mime,
                    file_sha256: sha,
                    file_length: length,
                    seconds: self.seconds,
                    ptt: Some(self.voice_note),
                    media_key: key,
                    file_enc_sha256: enc,
                    direct_path: path,
                    media_key_timestamp: self.media_key_timestamp,
                    waveform: self.waveform.clone(),
                    ..Default::default()
                }))
            }
            MediaKind::Document => {
                message.document_message = Some(Box::new(DocumentMessage {
                    url,
                    mimetype: mime,
                    title: self.file_name.clone(),
                    file_sha256: sha,
                    file_length: length,
                    page_count: self.page_count,
                    media_key: key,
                    file_name: self.file_name.clone(),
                    file_enc_sha256: enc,
                    direct_path: path,
                    media_key_timestamp: self.media_key_timestamp,
                    caption: self.caption.clone(),
                    jpeg_thumbnail: self.jpeg_thumbnail.clone(),
                    ..Default::default()
                }))
            }
            MediaKind::Sticker => {
                message.sticker_message = Some(Box::new(StickerMessage {
                    url,
                    file_sha256: sha,
                    file_enc_sha256: enc,
                    media_key: key,
                    mimetype: mime,
                    height: self.height,
                    width: self.width,
                    direct_path: path,
                    file_length: length,
                    media_key_timestamp: self.media_key_timestamp,
                    ..Default::default()
                }))
            }
        }
        message
    }
}

/// The fields the five messages share, borrowed from whichever is set.
struct Fields<'a> {
    kind: MediaKind,
    url: Option<&'a String>,
    direct_path: Option<&'a String>,
    media_key: Option<&'a Vec<u8>>,
    file_sha256: Option<&'a Vec<u8>>,
    file_enc_sha256: Option<&'a Vec<u8>>,
    file_length: Option<u64>,
    mimetype: Option<&'a String>,
    caption: Option<&'a String>,
    file_name: Option<&'a String>,
    width: Option<u32>,
    height: Option<u32>,
    seconds: Option<u32>,
    ptt: bool,
    page_count: Option<u32>,
    media_key_timestamp: Option<i64>,
    jpeg_thumbnail: Option<&'a Vec<u8>>,
    waveform: Option<&'a Vec<u8>>,
}

impl<'a> Fields<'a> {
    fn of(message: &'a Message) -> Option<Fields<'a>> {
        if let Some(m) = &message.image_message {
            return Some(Fields {
                kind: MediaKind::Image,
                url: m.url.as_ref(),
                direct_path: m.direct_path.as_ref(),
                media_key: m.media_key.as_ref(),
                file_sha256: m.file_sha256.as_ref(),
                file_enc_sha256: m.file_enc_sha256.as_ref(),
                file_length: m.file_length,
                mimetype: m.mimetype.as_ref(),
                caption: m.caption.as_ref(),
                file_name: None,
                width: m.width,
                height: m.height,
                seconds: None,
                ptt: false,
                page_count: None,
                media_key_timestamp: m.media_key_timestamp,
                jpeg_thumbnail: m.jpeg_thumbnail.as_ref(),
                waveform: None,
            });
        }
        if let Some(m) = &message.video_message {
            return Some(Fields {
                kind: MediaKind::Video,
                url: m.url.as_ref(),
                direct_path: m.direct_path.as_ref(),
                media_key: m.media_key.as_ref(),
                file_sha256: m.file_sha256.as_ref(),
                file_enc_sha256: m.file_enc_sha256.as_ref(),
                file_length: m.file_length,
                mimetype: m.mimetype.as_ref(),
                caption: m.caption.as_ref(),
                file_name: None,
                width: m.width,
                height: m.height,
                seconds: m.seconds,
                ptt: false,
                page_count: None,
                media_key_timestamp: m.media_key_timestamp,
                jpeg_thumbnail: m.jpeg_thumbnail.as_ref(),
                waveform: None,
            });
        }
        if let Some(m) = &message.audio_message {
            return Some(Fields {
                kind: MediaKind::Audio,
                url: m.url.as_ref(),
                direct_path: m.direct_path.as_ref(),
                media_key: m.media_key.as_ref(),
                file_sha256: m.file_sha256.as_ref(),
                file_enc_sha256: m.file_enc_sha256.as_ref(),
                file_length: m.file_length,
                mimetype: m.mimetype.as_ref(),
                caption: None,
                file_name: None,
                width: None,
                height: None,
                seconds: m.seconds,
                ptt: m.ptt.unwrap_or(false),
                page_count: None,
                media_key_timestamp: m.media_key_timestamp,
                jpeg_thumbnail: None,
                waveform: m.waveform.as_ref(),
            });
        }
        if let Some(m) = &message.document_message {
            return Some(Fields {
                kind: MediaKind::Document,
                url: m.url.as_ref(),
                direct_path: m.direct_path.as_ref(),
                media_key: m.media_key.as_ref(),
                file_sha256: m.file_sha256.as_ref(),
                file_enc_sha256: m.file_enc_sha256.as_ref(),
                file_length: m.file_length,
                mimetype: m.mimetype.as_ref(),
                caption: m.caption.as_ref(),
                file_name: m.file_name.as_ref().or(m.title.as_ref()),
                width: None,
                height: None,
                seconds: None,
                ptt: false,
                page_count: m.page_count,
                media_key_timestamp: m.media_key_timestamp,
                jpeg_thumbnail: m.jpeg_thumbnail.as_ref(),
                waveform: None,
            });
        }
        let m = message.sticker_message.as_ref()?;
        Some(Fields {
            kind: MediaKind::Sticker,
            url: m.url.as_ref(),
            direct_path: m.direct_path.as_ref(),
            media_key: m.media_key.as_ref(),
            file_sha256: m.file_sha256.as_ref(),
            file_enc_sha256: m.file_enc_sha256.as_ref(),
            file_length: m.file_length,
            mimetype: m.mimetype.as_ref(),
            caption: None,
            file_name: None,
            width: m.width,
            height: m.height,
            seconds: None,
            ptt: false,
            page_count: None,
            media_key_timestamp: m.media_key_timestamp,
            jpeg_thumbnail: None,
            waveform: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: MediaKind) -> MediaMessage {
        MediaMessage {
            kind,
            url: "https://mmg.whatsapp.net/v/x.enc".into(),
            direct_path: "/v/x.enc?ccb=11-4".into(),
            media_key: [1; 32],
            file_sha256: [2; 32],
            file_enc_sha256: [3; 32],
            file_length: 1234,
            mimetype: "application/pdf".into(),
            caption: (kind != MediaKind::Audio && kind != MediaKind::Sticker)
                .then(|| "look".to_string()),
            file_name: (kind == MediaKind::Document).then(|| "invoice.pdf".to_string()),
            width: matches!(
                kind,
                MediaKind::Image | MediaKind::Video | MediaKind::Sticker
            )
            .then_some(640),
            height: matches!(
                kind,
                MediaKind::Image | MediaKind::Video | MediaKind::Sticker
            )
            .then_some(480),
            seconds: matches!(kind, MediaKind::Audio | MediaKind::Video).then_some(9),
            voice_note: kind == MediaKind::Audio,
            page_count: (kind == MediaKind::Document).then_some(2),
            media_key_timestamp: Some(1_700_000_000),
            jpeg_thumbnail: matches!(
                kind,
                MediaKind::Image | MediaKind::Video | MediaKind::Document
            )
            .then(|| b"\xFF\xD8\xFF thumb".to_vec()),
            waveform: (kind == MediaKind::Audio).then(|| vec![7; 64]),
        }
    }

    #[test]
    fn every_kind_round_trips_through_its_protobuf() {
        use prost::Message as _;
        for kind in [
            MediaKind::Image,
            MediaKind::Video,
            MediaKind::Audio,
            MediaKind::Document,
            MediaKind::Sticker,
        ] {
            let media = sample(kind);
            let bytes = media.to_message().encode_to_vec();
            let back = MediaMessage::from_message(&Message::decode(bytes.as_slice()).unwrap());
            assert_eq!(back, Some(media), "{kind}");
        }
    }

    #[test]
    fn a_media_message_without_its_key_or_path_is_none() {
        let mut message = sample(MediaKind::Image).to_message();
        if let Some(image) = message.image_message.as_mut() {
            image.media_key = Some(vec![1; 31]);
        }
        assert_eq!(MediaMessage::from_message(&message), None);
        let mut message = sample(MediaKind::Document).to_message();
        if let Some(doc) = message.document_message.as_mut() {
            doc.direct_path = None;
        }
        assert_eq!(MediaMessage::from_message(&message), None);
        assert_eq!(MediaMessage::from_message(&Message::default()), None);
    }
}
