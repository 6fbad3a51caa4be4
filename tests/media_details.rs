//! What a sent file's message says besides the file, as the recipient's
//! phone reads it: an image's size and a small JPEG thumbnail; a voice
//! note's duration; and, with `--ffmpeg`, a voice note in any audio
//! format converted to OGG/Opus with its 64-bar waveform — and clear
//! errors for a voice note that is not OGG/Opus when nothing converts
//! it, or that ffmpeg cannot read.
//!
//! Needs Debian's `ffmpeg` (with libopus) on PATH: `.ci/run` installs it.

mod api_support;
mod harness;

use std::io::Cursor;
use std::path::PathBuf;

use api_support::Api;
use base64::prelude::{Engine as _, BASE64_STANDARD};
use image::{DynamicImage, ImageOutputFormat, Rgb, RgbImage};
use serde_json::json;
use sha2::{Digest, Sha256};
use wasp::host::VoiceConverter;
use wasp::sim::PhoneMediaView;

const PATH: &str = "/v1/sessions/shop/messages";

fn ffmpeg() -> PathBuf {
    let path = PathBuf::from("ffmpeg");
    assert!(
        std::process::Command::new(&path)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "these tests need ffmpeg on PATH (apt-get install ffmpeg)"
    );
    path
}

fn picture(width: u32, height: u32, format: ImageOutputFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image)
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

/// A 16-bit mono WAV of `seconds` at 8 kHz: silent for the first half,
/// a loud square wave for the second.
fn wav(seconds: u32) -> Vec<u8> {
    let samples = seconds * 8_000;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8_000u32.to_le_bytes());
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples * 2).to_le_bytes());
    for i in 0..samples {
        let s: i16 = if i < samples / 2 {
            0
        } else if (i / 20) % 2 == 0 {
            20_000
        } else {
            -20_000
        };
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// A real OGG/Opus file of a 3-second tone, as ffmpeg writes one.
fn ogg_tone() -> Vec<u8> {
    let out = std::process::Command::new(ffmpeg())
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:duration=3"])
        .args(["-c:a", "libopus", "-f", "ogg", "pipe:1"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `n`th file the phone received, once it has.
async fn nth_file(api: &Api, phone: &str, n: usize) -> PhoneMediaView {
    api.until("the phone opens the file", || async {
        let inbox = api.sim.phone_messages(phone).expect("phone");
        inbox.into_iter().filter_map(|m| m.media).nth(n)
    })
    .await
}

fn thumbnail_size(media: &PhoneMediaView) -> (u32, u32) {
    let jpeg = BASE64_STANDARD
        .decode(media.jpeg_thumbnail.as_deref().expect("a thumbnail"))
        .expect("base64");
    assert!(jpeg.starts_with(b"\xFF\xD8\xFF"), "a JPEG thumbnail");
    let thumb = image::load_from_memory(&jpeg).expect("the thumbnail decodes");
    (thumb.width(), thumb.height())
}

/// Asserts the send was accepted.
fn created(reply: &api_support::Reply) {
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

fn message(reply: &api_support::Reply) -> String {
    reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn send(api: &Api, body: serde_json::Value) -> api_support::Reply {
    api.call("POST", PATH, Some(&body.to_string())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_images_carry_their_size_and_a_thumbnail_and_voice_notes_their_duration() {
    let api = Api::start(wasp::api::ServerConfig::default()).await;
    api.linked("shop").await;
    let bob = api.sim.create_phone(None).await.expect("phone");

    let jpeg = picture(640, 480, ImageOutputFormat::Jpeg(85));
    let reply = send(
        &api,
        json!({"to": bob, "image": {"data": BASE64_STANDARD.encode(&jpeg)}}),
    )
    .await;
    created(&reply);
    let photo = nth_file(&api, &bob, 0).await;
    assert_eq!((photo.width, photo.height), (Some(640), Some(480)));
    assert_eq!(thumbnail_size(&photo), (32, 24));
    assert_eq!(
        photo.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&jpeg)).as_str()),
        "the file itself is untouched"
    );

    // Streamed in a form: the same, from the bytes as they pass.
    let png = picture(300, 600, ImageOutputFormat::Png);
    let reply = api
        .upload(
            PATH,
            &[
                ("to", None, None, bob.as_bytes()),
                ("image", Some("tall.png"), None, &png),
            ],
        )
        .await;
    created(&reply);
    let tall = nth_file(&api, &bob, 1).await;
    assert_eq!((tall.width, tall.height), (Some(300), Some(600)));
    assert_eq!(thumbnail_size(&tall), (16, 32));

    // A real OGG/Opus voice note: its duration read from its pages; no
    // waveform without ffmpeg to decode it.
    let reply = send(
        &api,
        json!({"to": bob, "voice": {"data": BASE64_STANDARD.encode(ogg_tone())}}),
    )
    .await;
    created(&reply);
    let note = nth_file(&api, &bob, 2).await;
    assert!(note.voice_note);
    assert_eq!(note.seconds, Some(3));
    assert_eq!(note.waveform, None);

    // Other audio as a voice note is refused, naming the way out.
    let reply = send(
        &api,
        json!({"to": bob, "voice": {"data": BASE64_STANDARD.encode(wav(1))}}),
    )
    .await;
    reply.assert_error(400, "invalid_media", "a WAV voice note");
    assert!(message(&reply).contains("--ffmpeg"), "{}", message(&reply));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ffmpeg_voice_notes_in_any_format_become_ogg_opus_with_a_waveform() {
    let converter = VoiceConverter::new(ffmpeg()).expect("ffmpeg with libopus");
    let spool = tempfile::tempdir().expect("spool");
    let api = Api::start_with(wasp::api::ServerConfig::default(), |host| {
        host.voice_converter = Some(converter);
        let mut client = (*host.client).clone();
        client.media_dir = spool.path().to_path_buf();
        host.client = std::sync::Arc::new(client);
    })
    .await;
    api.linked("shop").await;
    let bob = api.sim.create_phone(None).await.expect("phone");

    let wave = wav(4);
    let reply = send(
        &api,
        json!({"to": bob, "voice": {"data": BASE64_STANDARD.encode(&wave), "mimetype": "audio/wav"}}),
    )
    .await;
    created(&reply);
    let note = nth_file(&api, &bob, 0).await;
    assert!(note.voice_note);
    assert_eq!(note.mimetype, "audio/ogg; codecs=opus");
    assert_eq!(note.seconds, Some(4));
    assert!(note.error.is_none(), "{:?}", note.error);
    assert_ne!(
        note.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&wave)).as_str()),
        "converted, not sent as it came"
    );
    // Silent, then loud: the bars say so.
    let bars = note.waveform.expect("a waveform");
    assert_eq!(bars.len(), 64);
    assert!(bars[..28].iter().all(|&b| b < 10), "{bars:?}");
    assert!(bars[36..].iter().all(|&b| b > 80), "{bars:?}");

    // Streamed in a form, the same.
    let reply = api
        .upload(
            PATH,
            &[
                ("to", None, None, bob.as_bytes()),
                ("voice", Some("memo.wav"), Some("audio/wav"), &wav(2)),
            ],
        )
        .await;
    created(&reply);
    let memo = nth_file(&api, &bob, 1).await;
    assert_eq!(
        (memo.mimetype.as_str(), memo.seconds),
        ("audio/ogg; codecs=opus", Some(2))
    );

    // Bytes that are no audio: ffmpeg's verdict, as a clear error, and
    // nothing left in the spool.
    let reply = send(
        &api,
        json!({"to": bob, "voice": {"data": BASE64_STANDARD.encode(b"%PDF-1.7 not a sound at all")}}),
    )
    .await;
    reply.assert_error(400, "invalid_media", "a PDF as a voice note");
    assert!(
        message(&reply).contains("could not be converted"),
        "{}",
        message(&reply)
    );
    let left: Vec<_> = std::fs::read_dir(spool.path())
        .expect("spool")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    api.stop().await;
}
