//! Files sent through the host: what a caller gives (the bytes, a kind,
//! perhaps a mimetype, caption and file name) made into what a session
//! sends, with sane defaults: the mimetype sniffed from the first bytes
//! when not given, voice notes only as OGG/Opus (what WhatsApp's apps
//! play as voice messages) unless an ffmpeg converts them (`voice`).
//!
//! Files received: a message event's `media` fetched, checked and
//! decrypted as a stream ([`MediaDownload`]).
//!
//! Owns: those defaults and checks, and turning a session's download into
//! a stream. Must not touch: the upload, the message or the file's
//! crypto (the session's `Client::send_file` and `download_media`).

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::AsyncReadExt as _;

use crate::client::media::OutgoingFile;
use crate::client::{Client, ClientError, IncomingMedia};
use crate::media::MediaKind;

/// Why a voice note is refused: WhatsApp's apps play only OGG/Opus as
/// voice messages.
const NOT_OGG: &str = "voice notes must be OGG/Opus (convert the file, send it as audio, or start wasp with --ffmpeg to convert voice notes)";

/// Whether a file's first bytes are an OGG stream carrying Opus (the
/// first page's packet is the `OpusHead`, RFC 7845 §5.1), not Vorbis.
fn is_ogg_opus(head: &[u8]) -> bool {
    head.starts_with(b"OggS") && head.windows(8).take(64).any(|w| w == b"OpusHead")
}

/// Bytes of plaintext held between the session's download and the reader.
const PIPE: usize = 64 * 1024;

/// A received file on its way to the caller: its mimetype and name, and
/// the plaintext as a stream. The file was fetched and its MAC and hash
/// checked before the first byte; a failure after that (a plaintext hash
/// that does not match) ends the stream with an error.
pub struct MediaDownload {
    pub mimetype: String,
    pub file_name: Option<String>,
    /// The plaintext's length as the message gives it (a file that
    /// decrypts to another length ends the stream with an error).
    pub length: Option<u64>,
    pub stream: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
}

/// Starts `client` downloading `media` and answers once the first bytes
/// of plaintext are there (or the download failed: then with its error).
/// `transfer` (the host's slot for it) is held until the stream ends.
pub(super) async fn download(
    client: Client,
    media: IncomingMedia,
    transfer: tokio::sync::OwnedSemaphorePermit,
) -> Result<MediaDownload, ClientError> {
    let reference = media.reference()?;
    let (mut writer, mut reader) = tokio::io::duplex(PIPE);
    let task = tokio::spawn(async move { client.download_media(&reference, &mut writer).await });
    let mut first = vec![0u8; PIPE];
    let n = reader
        .read(&mut first)
        .await
        .map_err(|e| ClientError::MediaTransfer(e.to_string()))?;
    let mut task = Some(task);
    if n == 0 {
        // The download ended before any plaintext: its outcome decides.
        if let Some(task) = task.take() {
            task.await
                .map_err(|e| ClientError::MediaTransfer(e.to_string()))??;
        }
    }
    first.truncate(n);
    let head = futures_util::stream::iter((n > 0).then(|| Ok(Bytes::from(first))));
    let rest = tokio_util::io::ReaderStream::with_capacity(reader, PIPE);
    // After the last byte, a download that failed late becomes an error
    // the HTTP layer turns into a cut-short response.
    let outcome = futures_util::stream::once(async move {
        let _transfer = transfer;
        match task?.await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(Err(std::io::Error::other(e.to_string()))),
            Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
        }
    });
    use futures_util::StreamExt as _;
    let stream = head
        .chain(rest)
        .chain(outcome.filter_map(|r| async move { r }));
    Ok(MediaDownload {
        mimetype: media.mimetype,
        file_name: media.file_name,
        length: (media.file_length > 0).then_some(media.file_length),
        stream: Box::pin(stream),
    })
}

/// Makes the sessions' media spool directory ready: created (0700) if
/// missing and, when it is this host's own (`purge`: under its data
/// directory), emptied of spool files a crash left behind — never a
/// shared temp directory, where another process's transfers spool too.
/// Failures are logged; transfers then report theirs.
pub(super) fn prepare_spool(dir: &std::path::Path, purge: bool) {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if let Err(e) = builder.create(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the media spool directory");
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    if !purge {
        return;
    }
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Only our own spool files: the directory may be a shared /tmp.
        if name.starts_with("wasp-media-") && name.ends_with(".tmp") {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %name, error = %e, "stale media spool file not removed");
            }
        }
    }
}

/// A file to send, as the API receives it.
#[derive(Clone, Debug, Default)]
pub struct SendFile {
    /// `image`, `video`, `audio`, `voice`, `document` or `sticker`.
    pub kind: String,
    /// The file; or empty, with `url` saying where to fetch it.
    pub data: Vec<u8>,
    /// Where to fetch the file (http or https) when `data` is empty.
    pub url: Option<String>,
    pub mimetype: Option<String>,
    pub caption: Option<String>,
    pub file_name: Option<String>,
}

/// The magic numbers of the formats a backend sends most.
fn sniff(data: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| data.starts_with(magic);
    Some(if starts(b"\xFF\xD8\xFF") {
        "image/jpeg"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"OggS") {
        "audio/ogg; codecs=opus"
    } else if data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        "image/webp"
    } else if data.len() > 8 && &data[4..8] == b"ftyp" {
        "video/mp4"
    } else if starts(b"ID3") || starts(b"\xFF\xFB") {
        "audio/mpeg"
    } else {
        return None;
    })
}

/// Where a file's bytes come from.
pub(super) enum Source {
    Data(Vec<u8>),
    /// Fetched; `mimetype_given` when the caller named the type (else it
    /// is sniffed from the first bytes, or taken from the server).
    Url {
        url: String,
        mimetype_given: bool,
    },
}

/// A streamed file's first bytes (fetched from a URL, or an uploaded
/// form part) decide what the caller did not say: its type (sniffed, else
/// the `Content-Type` it came with unless generic) and,
/// for a voice note, whether it is OGG. The reader goes on from the
/// start of the file.
pub(super) async fn first_bytes<R: tokio::io::AsyncRead + Unpin>(
    file: &mut OutgoingFile,
    mimetype_given: bool,
    convert_voice: bool,
    mut body: R,
    content_type: Option<String>,
) -> Result<impl tokio::io::AsyncRead + Unpin, ClientError> {
    let mut head = vec![0u8; 64];
    let mut got = 0;
    while got < head.len() {
        let n = body
            .read(&mut head[got..])
            .await
            .map_err(|e| ClientError::MediaTransfer(format!("reading the file: {e}")))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    head.truncate(got);
    if head.is_empty() {
        return Err(ClientError::InvalidMedia("the file is empty".into()));
    }
    if file.voice_note && !convert_voice && !is_ogg_opus(&head) {
        return Err(ClientError::InvalidMedia(NOT_OGG.into()));
    }
    if !mimetype_given {
        let served = content_type
            .filter(|t| !t.starts_with("application/octet-stream") && !t.trim().is_empty());
        if let Some(mimetype) = sniff(&head).map(str::to_string).or(served) {
            file.mimetype = mimetype;
        }
    }
    Ok(std::io::Cursor::new(head).chain(body))
}

impl SendFile {
    /// What the session sends; `InvalidMedia` for an unknown kind, an
    /// empty file, both or neither of `data` and `url`, or a voice note
    /// that is not OGG/Opus and no converter (`convert_voice`).
    pub(super) fn into_outgoing(
        self,
        convert_voice: bool,
    ) -> Result<(OutgoingFile, Source), ClientError> {
        let invalid = |why: &str| Err(ClientError::InvalidMedia(why.into()));
        match (&self.url, self.data.is_empty()) {
            (Some(_), false) => return invalid("give the file's data or its url, not both"),
            (None, true) => return invalid("the file is empty"),
            _ => {}
        }
        let (file, mimetype_given) = self.describe(convert_voice)?;
        let source = match self.url {
            Some(url) => Source::Url {
                url,
                mimetype_given,
            },
            None if file.voice_note && !convert_voice && !is_ogg_opus(&self.data) => {
                return invalid(NOT_OGG)
            }
            None => Source::Data(self.data),
        };
        Ok((file, source))
    }

    /// What the session sends of a file whose bytes stream in apart
    /// (a multipart upload), and whether its mimetype was given (else it
    /// is sniffed from the first bytes, see [`first_bytes`]).
    pub(super) fn into_streamed(
        self,
        convert_voice: bool,
    ) -> Result<(OutgoingFile, bool), ClientError> {
        if self.url.is_some() || !self.data.is_empty() {
            return Err(ClientError::InvalidMedia(
                "an uploaded file comes with no data or url besides".into(),
            ));
        }
        self.describe(convert_voice)
    }

    /// The file's kind, type, caption and name, checked; and whether the
    /// caller named the type. A voice note whose declared type is not
    /// OGG is refused here unless it will be converted (its bytes are
    /// checked where they are read).
    fn describe(&self, convert_voice: bool) -> Result<(OutgoingFile, bool), ClientError> {
        let invalid = |why: String| Err(ClientError::InvalidMedia(why));
        let (kind, voice_note) = match self.kind.as_str() {
            "voice" => (MediaKind::Audio, true),
            "history" => return invalid("history blobs are not sent as messages".into()),
            other => match other.parse::<MediaKind>() {
                Ok(kind) => (kind, false),
                Err(why) => return invalid(why),
            },
        };
        let given = self.mimetype.as_deref().filter(|m| !m.trim().is_empty());
        if voice_note && !convert_voice && given.is_some_and(|m| !m.contains("ogg")) {
            return invalid(NOT_OGG.into());
        }
        let mimetype = given
            .map(str::to_string)
            .or_else(|| sniff(&self.data).map(str::to_string))
            .unwrap_or_else(|| {
                match kind {
                    MediaKind::Image => "image/jpeg",
                    MediaKind::Video => "video/mp4",
                    MediaKind::Audio => "audio/mpeg",
                    MediaKind::Sticker => "image/webp",
                    MediaKind::Document | MediaKind::History => "application/octet-stream",
                }
                .to_string()
            });
        let mut file = OutgoingFile::new(kind, mimetype);
        file.voice_note = voice_note;
        // Stickers and voice notes carry no caption on WhatsApp.
        file.caption = self
            .caption
            .clone()
            .filter(|_| kind != MediaKind::Sticker && !voice_note);
        file.file_name = self.file_name.clone();
        Ok((file, given.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_is_created_and_only_our_leftovers_go() {
        let root = tempfile::tempdir().expect("dir");
        let spool = root.path().join(".spool");
        prepare_spool(&spool, true);
        assert!(spool.is_dir());
        std::fs::write(spool.join("wasp-media-00ff.tmp"), b"left by a crash").expect("write");
        std::fs::write(spool.join("someone-else.tmp"), b"not ours").expect("write");
        // A shared directory (the system's temp) is never purged.
        prepare_spool(&spool, false);
        assert!(spool.join("wasp-media-00ff.tmp").exists());
        prepare_spool(&spool, true);
        assert!(!spool.join("wasp-media-00ff.tmp").exists());
        assert!(spool.join("someone-else.tmp").exists());
    }

    fn send(kind: &str, data: &[u8]) -> Result<(OutgoingFile, Source), ClientError> {
        SendFile {
            kind: kind.into(),
            data: data.to_vec(),
            caption: Some("c".into()),
            ..Default::default()
        }
        .into_outgoing(false)
    }

    #[test]
    fn mimetypes_are_sniffed_and_voice_notes_must_be_ogg() {
        let (file, _) = send("document", b"%PDF-1.7 ...").unwrap();
        assert_eq!(file.mimetype, "application/pdf");
        assert_eq!(file.caption.as_deref(), Some("c"));
        let (file, _) = send("image", b"\x89PNG\r\n\x1a\nrest").unwrap();
        assert_eq!(file.mimetype, "image/png");
        let (file, _) = send("document", b"plain bytes").unwrap();
        assert_eq!(file.mimetype, "application/octet-stream");
        let (file, _) = send(
            "voice",
            b"OggS\0\x02\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x13OpusHead\x01\x01",
        )
        .unwrap();
        assert!(file.voice_note);
        assert_eq!(file.kind, MediaKind::Audio);
        assert_eq!(file.caption, None);
        for (kind, data) in [
            ("voice", &b"ID3 mp3"[..]),
            ("voice", b"OggS\0\x02 a vorbis stream: \x01vorbis\0\0"),
            ("gif", b"x"),
            ("image", b""),
            ("history", b"x"),
        ] {
            assert!(
                matches!(send(kind, data), Err(ClientError::InvalidMedia(_))),
                "{kind}"
            );
        }
    }
}
