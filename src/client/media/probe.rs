//! What a sent file says of itself, read as it streams to the upload:
//! an image's size and thumbnail, an OGG/Opus file's duration. The
//! caller's own figures win; the probe fills only what it was not told.
//!
//! Owns: which bytes are kept to read them (an image whole up to
//! [`KEEP_IMAGE_BYTES`], else its head; nothing of other files) and the
//! reader that feeds the probe. Must not touch: the upload; the formats
//! themselves are `crate::media`'s.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::types::OutgoingFile;
use crate::media::{image_preview, MediaKind, OpusDuration};

/// Images up to this size are kept whole to draw a thumbnail from
/// (WhatsApp's own limit for images, 16 MB); larger ones only give their
/// size, from their head.
pub const KEEP_IMAGE_BYTES: usize = 16 * 1024 * 1024;

/// An image's head, kept when the whole is too large: enough for any
/// header, EXIF included (a JPEG segment is at most 64 KiB).
const IMAGE_HEAD_BYTES: usize = 256 * 1024;

/// Reads a file's facts from the bytes that pass.
#[derive(Debug)]
pub enum FileProbe {
    /// Nothing to learn (or nothing the caller did not say).
    Nothing,
    Image {
        bytes: Vec<u8>,
        whole: bool,
    },
    Audio(OpusDuration),
}

impl FileProbe {
    /// The probe `file` needs: images without a size or thumbnail, audio
    /// without a duration.
    pub fn for_file(file: &OutgoingFile) -> FileProbe {
        match file.kind {
            MediaKind::Image | MediaKind::Sticker
                if file.width.is_none() || file.jpeg_thumbnail.is_none() =>
            {
                FileProbe::Image {
                    bytes: Vec::new(),
                    whole: true,
                }
            }
            MediaKind::Audio if file.seconds.is_none() => FileProbe::Audio(OpusDuration::new()),
            _ => FileProbe::Nothing,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            FileProbe::Nothing => {}
            FileProbe::Audio(duration) => duration.update(data),
            FileProbe::Image { bytes, whole } => {
                if *whole && bytes.len() + data.len() > KEEP_IMAGE_BYTES {
                    *whole = false;
                    bytes.truncate(IMAGE_HEAD_BYTES);
                    bytes.shrink_to_fit();
                }
                let room = if *whole {
                    data.len()
                } else {
                    IMAGE_HEAD_BYTES.saturating_sub(bytes.len())
                };
                bytes.extend_from_slice(&data[..room.min(data.len())]);
            }
        }
    }

    /// Fills what `file` does not say with what was read. Decoding an
    /// image is CPU work: it runs on the blocking pool.
    pub async fn fill(self, file: &mut OutgoingFile) {
        match self {
            FileProbe::Nothing => {}
            FileProbe::Audio(duration) => file.seconds = file.seconds.or(duration.seconds()),
            FileProbe::Image { bytes, whole } => {
                let thumbnail = file.kind == MediaKind::Image && file.jpeg_thumbnail.is_none();
                let preview = tokio::task::spawn_blocking(move || {
                    image_preview(&bytes, !whole || !thumbnail)
                })
                .await
                .ok()
                .flatten();
                let Some(preview) = preview else {
                    return;
                };
                if file.width.is_none() || file.height.is_none() {
                    file.width = Some(preview.width);
                    file.height = Some(preview.height);
                }
                if thumbnail {
                    file.jpeg_thumbnail = preview.jpeg_thumbnail;
                }
            }
        }
    }
}

/// A reader that shows every byte it gives to a probe.
pub struct Probed<'a, R> {
    inner: R,
    probe: &'a mut FileProbe,
}

impl<'a, R> Probed<'a, R> {
    pub fn new(inner: R, probe: &'a mut FileProbe) -> Probed<'a, R> {
        Probed { inner, probe }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Probed<'_, R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.probe.update(&buf.filled()[before..]);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_image_keeps_only_its_head() {
        let file = OutgoingFile::new(MediaKind::Image, "image/png");
        let mut probe = FileProbe::for_file(&file);
        let piece = vec![7u8; 1024 * 1024];
        for _ in 0..20 {
            probe.update(&piece);
        }
        match probe {
            FileProbe::Image { bytes, whole } => {
                assert!(!whole);
                assert_eq!(bytes.len(), IMAGE_HEAD_BYTES);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_what_is_not_said_is_probed() {
        let mut said = OutgoingFile::new(MediaKind::Audio, "audio/ogg");
        said.seconds = Some(3);
        assert!(matches!(FileProbe::for_file(&said), FileProbe::Nothing));
        let doc = OutgoingFile::new(MediaKind::Document, "application/pdf");
        assert!(matches!(FileProbe::for_file(&doc), FileProbe::Nothing));
        let audio = OutgoingFile::new(MediaKind::Audio, "audio/ogg");
        assert!(matches!(FileProbe::for_file(&audio), FileProbe::Audio(_)));
    }
}
