//! Sending a file: upload it, then send the media message that points at
//! it, through the same send path as a text (1:1 or group).
//!
//! Owns: [`Client::send_media`] and [`Client::send_file`] (with what the
//! file's bytes say of it, `probe`). Must not touch: the
//! encryption of the message (`messaging`) or of the file (`upload`).

use tokio::io::AsyncRead;
use tokio::sync::oneshot;

use super::probe::{FileProbe, Probed};
use super::types::OutgoingFile;
use crate::client::messaging::{self, Body};
use crate::client::{Client, ClientError, SentMessage};
use crate::media::{MediaKind, MediaMessage};

impl Client {
    /// Sends a media message whose file is already uploaded. Errors as
    /// for [`Client::send_text`].
    pub async fn send_media(
        &self,
        to: &str,
        media: MediaMessage,
    ) -> Result<SentMessage, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(messaging::send(
            to.to_string(),
            Body::Media(Box::new(media)),
            reply,
        ))
        .await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Uploads what `reader` gives as `file` and sends it to `to`. What
    /// `file` does not say of an image (its size, a thumbnail) or an
    /// OGG/Opus file (its duration) is read from the bytes on the way.
    /// Errors as for [`Client::upload_media`] and [`Client::send_text`].
    pub async fn send_file<R: AsyncRead + Unpin>(
        &self,
        to: &str,
        mut file: OutgoingFile,
        reader: R,
    ) -> Result<SentMessage, ClientError> {
        if file.kind == MediaKind::History {
            return Err(ClientError::InvalidMedia(
                "history blobs are not sent as messages".into(),
            ));
        }
        let mut probe = FileProbe::for_file(&file);
        let uploaded = self
            .upload_media(file.kind, Probed::new(reader, &mut probe))
            .await?;
        probe.fill(&mut file).await;
        let media = MediaMessage {
            kind: file.kind,
            url: uploaded.url,
            direct_path: uploaded.direct_path,
            media_key: uploaded.media_key,
            file_sha256: uploaded.file_sha256,
            file_enc_sha256: uploaded.file_enc_sha256,
            file_length: uploaded.file_length,
            mimetype: file.mimetype,
            caption: file.caption,
            file_name: file.file_name,
            width: file.width,
            height: file.height,
            seconds: file.seconds,
            voice_note: file.voice_note && file.kind == MediaKind::Audio,
            page_count: None,
            media_key_timestamp: i64::try_from(self.config.clock.unix_secs()).ok(),
            jpeg_thumbnail: file.jpeg_thumbnail,
            waveform: file.waveform.filter(|_| file.voice_note),
        };
        self.send_media(to, media).await
    }
}
