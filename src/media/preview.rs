//! What a message shows of an image before it is fetched: its width and
//! height, and a small JPEG thumbnail the recipient's app draws blurred
//! (`jpegThumbnail`; Baileys `extractImageThumb` makes it 32 pixels wide,
//! WhatsApp Web sends a few dozen pixels too).
//!
//! Decoding is bounded: JPEGs are decoded at 1/8 of their size where the
//! thumbnail allows (the DCT scales for free), and no decode may allocate
//! more than [`MAX_DECODE_BYTES`]; past that only the dimensions, read
//! from the header, are given.

use std::io::Cursor;

use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::io::{Limits, Reader};
use image::{DynamicImage, ImageFormat};

/// The thumbnail's longer side, in pixels.
pub const THUMBNAIL_SIDE: u32 = 32;

/// JPEG quality of the thumbnail: it is drawn blurred.
const THUMBNAIL_QUALITY: u8 = 50;

/// The most a decode may allocate (a 4096×4096 RGBA image).
pub const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;

/// An image's size and thumbnail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePreview {
    pub width: u32,
    pub height: u32,
    /// `None` when the image could not be decoded within the bounds.
    pub jpeg_thumbnail: Option<Vec<u8>>,
}

/// The preview of a JPEG, PNG or WebP image; `None` for anything else or
/// a header that does not read. `head_only`: the bytes are only the
/// file's beginning (the whole file was too large to keep), so only the
/// dimensions are read.
pub fn image_preview(bytes: &[u8], head_only: bool) -> Option<ImagePreview> {
    let format = image::guess_format(bytes).ok()?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return None;
    }
    let (width, height) = reader(bytes, format).into_dimensions().ok()?;
    let jpeg_thumbnail = if head_only {
        None
    } else {
        decode(bytes, format).and_then(|image| thumbnail(&image))
    };
    Some(ImagePreview {
        width,
        height,
        jpeg_thumbnail,
    })
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn reader(bytes: &[u8], format: ImageFormat) -> Reader<Cursor<&[u8]>> {
    let mut reader = Reader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    reader
}

fn decode(bytes: &[u8], format: ImageFormat) -> Option<DynamicImage> {
    if format == ImageFormat::Jpeg {
        let mut decoder = JpegDecoder::new(Cursor::new(bytes)).ok()?;
        // The smallest DCT scale still at least the thumbnail's size.
        let side = u16::try_from(THUMBNAIL_SIDE).unwrap_or(u16::MAX);
        decoder.scale(side, side).ok()?;
        image::ImageDecoder::set_limits(&mut decoder, limits()).ok()?;
        return DynamicImage::from_decoder(decoder).ok();
    }
    reader(bytes, format).decode().ok()
}

fn thumbnail(image: &DynamicImage) -> Option<Vec<u8>> {
    let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).into_rgb8();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, THUMBNAIL_QUALITY)
        .encode_image(&small)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageOutputFormat, Rgb, RgbImage};

    fn picture(width: u32, height: u32, format: ImageOutputFormat) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(image)
            .write_to(&mut out, format)
            .expect("encode");
        out.into_inner()
    }

    fn thumb_size(jpeg: &[u8]) -> (u32, u32) {
        image::load_from_memory(jpeg)
            .expect("thumbnail decodes")
            .into_rgb8()
            .dimensions()
    }

    #[test]
    fn jpegs_and_pngs_give_their_size_and_a_small_thumbnail() {
        for (format, name) in [
            (ImageOutputFormat::Jpeg(90), "jpeg"),
            (ImageOutputFormat::Png, "png"),
        ] {
            let preview = image_preview(&picture(640, 480, format), false).expect(name);
            assert_eq!((preview.width, preview.height), (640, 480), "{name}");
            let thumb = preview.jpeg_thumbnail.expect("thumbnail");
            assert!(thumb.starts_with(b"\xFF\xD8\xFF"), "{name}: a JPEG");
            assert_eq!(thumb_size(&thumb), (32, 24), "{name}");
        }
        let tall = image_preview(&picture(100, 1000, ImageOutputFormat::Png), false).expect("png");
        assert_eq!(thumb_size(&tall.jpeg_thumbnail.expect("thumb")), (3, 32));
    }

    #[test]
    fn a_head_gives_the_size_only_and_other_bytes_nothing() {
        let jpeg = picture(300, 200, ImageOutputFormat::Jpeg(90));
        let head = &jpeg[..jpeg.len() / 2];
        assert_eq!(
            image_preview(head, true),
            Some(ImagePreview {
                width: 300,
                height: 200,
                jpeg_thumbnail: None
            })
        );
        // A cut file is no panic: at most no thumbnail.
        let cut = image_preview(head, false).expect("header reads");
        assert_eq!((cut.width, cut.height), (300, 200));
        assert_eq!(image_preview(b"%PDF-1.7 not an image", false), None);
        assert_eq!(image_preview(b"\x89PNG\r\n\x1a\n broken", false), None);
        assert_eq!(image_preview(b"", false), None);
    }

    #[test]
    fn an_image_too_large_to_decode_gives_its_size_without_a_thumbnail() {
        // 10000×10000 RGB needs 300 MB decoded: past the bound. A flat
        // PNG of that size is small on disk.
        let image = RgbImage::new(10_000, 10_000);
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(image)
            .write_to(&mut png, ImageOutputFormat::Png)
            .expect("encode");
        let preview = image_preview(png.get_ref(), false).expect("png");
        assert_eq!((preview.width, preview.height), (10_000, 10_000));
        assert_eq!(preview.jpeg_thumbnail, None);
    }
}
