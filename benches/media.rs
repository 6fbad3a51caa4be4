//! Media encryption throughput: a 4 MiB file encrypted (AES-256-CBC, the
//! MAC and both hashes) and verified then decrypted, in the 64 KiB pieces
//! the transfers use, and the same by whatsapp-rust's `wacore` (in
//! memory, as it offers it) for the ratio. The network is not part of it.
//!
//! And what a sent file's message says besides, per file: the size and
//! 32-pixel thumbnail of a 12-megapixel JPEG photo and of a 1080p PNG
//! screenshot, and the 64-bar waveform of a minute of 8 kHz sound.
//!
//! Run: `cargo bench --bench media`. Figures are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasp::media::{Decryptor, Encryptor, MediaKeys, MediaKind, Verifier};

const LEN: usize = 4 << 20;
const CHUNK: usize = 64 * 1024;

fn media(c: &mut Criterion) {
    let plain: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let key = MediaKeys::generate_key();
    let mut group = c.benchmark_group("media");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
    group.bench_function("encrypt_4MiB", |b| {
        let mut out = Vec::with_capacity(CHUNK + 16);
        b.iter(|| {
            let mut e = Encryptor::with_key(key, MediaKind::Document);
            for chunk in plain.chunks(CHUNK) {
                out.clear();
                e.update(chunk, &mut out);
                black_box(&out);
            }
            out.clear();
            black_box(e.finish(&mut out))
        })
    });
    let (upload, info) = {
        let mut e = Encryptor::with_key(key, MediaKind::Document);
        let mut out = Vec::new();
        e.update(&plain, &mut out);
        let info = e.finish(&mut out);
        (out, info)
    };
    group.bench_function("verify_and_decrypt_4MiB", |b| {
        let mut out = Vec::with_capacity(CHUNK + 16);
        b.iter(|| {
            let mut v = Verifier::new(&key, MediaKind::Document);
            for chunk in upload.chunks(CHUNK) {
                v.update(chunk);
            }
            v.finish(Some(&info.file_enc_sha256)).expect("intact");
            let mut d = Decryptor::new(&key, MediaKind::Document);
            for chunk in upload.chunks(CHUNK) {
                out.clear();
                d.update(chunk, &mut out);
                black_box(&out);
            }
            out.clear();
            d.finish(&mut out, Some(&info.file_sha256)).expect("intact");
        })
    });
    // The same work by whatsapp-rust's wacore, for the ratio.
    group.bench_function("wacore_encrypt_4MiB", |b| {
        b.iter(|| {
            black_box(
                whatsapp_rust::wacore::upload::encrypt_media_with_key(
                    &plain,
                    whatsapp_rust::wacore::download::MediaType::Document,
                    Some(&key),
                )
                .expect("encrypts"),
            )
        })
    });
    group.bench_function("wacore_verify_and_decrypt_4MiB", |b| {
        b.iter(|| {
            black_box(
                whatsapp_rust::wacore::download::DownloadUtils::verify_and_decrypt(
                    &upload,
                    &key,
                    whatsapp_rust::wacore::download::MediaType::Document,
                )
                .expect("intact"),
            )
        })
    });
    group.finish();
}

/// A `width`×`height` picture with detail everywhere (no flat areas a
/// codec would shortcut).
fn picture(width: u32, height: u32, format: image::ImageOutputFormat) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 239) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

fn previews(c: &mut Criterion) {
    let photo = picture(4000, 3000, image::ImageOutputFormat::Jpeg(85));
    let screenshot = picture(1920, 1080, image::ImageOutputFormat::Png);
    let minute: Vec<u8> = (0..8_000 * 60)
        .flat_map(|i: i32| (((i * 37) % 20_000) as i16).to_le_bytes())
        .collect();
    let mut group = c.benchmark_group("media_preview");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(10);
    group.bench_function("jpeg_12MP_size_and_thumbnail", |b| {
        b.iter(|| black_box(wasp::media::image_preview(&photo, false)))
    });
    group.bench_function("png_1080p_size_and_thumbnail", |b| {
        b.iter(|| black_box(wasp::media::image_preview(&screenshot, false)))
    });
    group.bench_function("waveform_1min_8kHz", |b| {
        b.iter(|| {
            let mut w = wasp::media::Waveform::new();
            for chunk in minute.chunks(CHUNK) {
                w.update(chunk);
            }
            black_box(w.bars())
        })
    });
    group.finish();
}

criterion_group!(benches, media, previews);
criterion_main!(benches);
