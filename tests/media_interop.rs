//! Our media encryption checked against an independent implementation,
//! whatsapp-rust 0.7's `wacore` (`upload.rs`, `download.rs`): under the
//! same media key both produce the same upload byte for byte, with the
//! same hashes, for every kind, and each decrypts what the other made.
//! This is what tells us a file we upload is one WhatsApp clients open.
//!
//! And end to end: a whatsapp-rust client uploads an image, a document and
//! a voice note to the simulator's media hosts (its own `media_conn` and
//! upload code) and sends them to a wasp session, which reports each as a
//! media message and downloads it byte for byte; whatsapp-rust downloads
//! the image (reading its size and thumbnail) and document a wasp
//! session sends, and a file a simulated phone sent, byte for byte; and, once that file expired, has the
//! simulated phone upload it again with its own media retry request
//! (sealed requests and answers open both ways).

mod harness;
mod interop;

use std::sync::Arc;

use anyhow::{Context, Result};
use wasp::media::{self, Encryptor, MediaKind};
use whatsapp_rust::media::{
    audio_message, document_message, image_message, AudioOptions, DocumentOptions, ImageOptions,
};
use whatsapp_rust::UploadOptions;

use interop::admin::AdminClient;
use interop::link::{link_fresh_peer, SHORT_HANG_GUARD};
use whatsapp_rust::wacore::download::{DownloadUtils, MediaType};
use whatsapp_rust::wacore::upload::encrypt_media_with_key;

fn theirs(kind: MediaKind) -> MediaType {
    match kind {
        MediaKind::Image => MediaType::Image,
        MediaKind::Video => MediaType::Video,
        MediaKind::Audio => MediaType::Audio,
        MediaKind::Document => MediaType::Document,
        MediaKind::Sticker => MediaType::Sticker,
        MediaKind::History => MediaType::History,
    }
}

#[test]
fn our_uploads_are_wacores_byte_for_byte_and_open_both_ways() {
    for kind in MediaKind::ALL {
        for len in [0usize, 5, 16, 100_003] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let key = media::MediaKeys::generate_key();

            // In pieces, as a stream would give it.
            let mut encryptor = Encryptor::with_key(key, kind);
            let mut ours = Vec::new();
            for chunk in plain.chunks(7_001) {
                encryptor.update(chunk, &mut ours);
            }
            let info = encryptor.finish(&mut ours);

            let them = encrypt_media_with_key(&plain, theirs(kind), Some(&key)).expect("encrypts");
            assert_eq!(ours, them.data_to_upload, "{kind} of {len} bytes");
            assert_eq!(info.file_sha256, them.file_sha256);
            assert_eq!(info.file_enc_sha256, them.file_enc_sha256);

            // Each opens the other's.
            let opened = DownloadUtils::verify_and_decrypt(&ours, &key, theirs(kind))
                .expect("wacore opens ours");
            assert_eq!(opened, plain);
            let opened = media::decrypt(
                &them.data_to_upload,
                &key,
                kind,
                Some(&them.file_enc_sha256),
                Some(&them.file_sha256),
            )
            .expect("we open wacore's");
            assert_eq!(opened, plain);
        }
    }
}

#[test]
fn a_file_damaged_in_transit_is_refused_by_both() {
    let key = media::MediaKeys::generate_key();
    let (mut upload, info) = {
        let mut e = Encryptor::with_key(key, MediaKind::Document);
        let mut out = Vec::new();
        e.update(b"%PDF-1.7 a small invoice", &mut out);
        let info = e.finish(&mut out);
        (out, info)
    };
    upload[3] ^= 0x80;
    assert!(DownloadUtils::verify_and_decrypt(&upload, &key, MediaType::Document).is_err());
    assert_eq!(
        media::decrypt(
            &upload,
            &key,
            MediaKind::Document,
            Some(&info.file_enc_sha256),
            None
        ),
        Err(media::MediaError::BadMac)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_uploads_and_sends_files_a_wasp_session_downloads_intact() -> Result<()> {
    interop::init_tracing();
    let h = harness::Harness::new().await;
    let admin = AdminClient::new(&h.sim.http_url())?;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob_phone = admin.create_phone().await?;
    let bob = link_fresh_peer(&h.sim, &admin, &bob_phone, interop::peer::new_store()).await?;
    let alice_jid: whatsapp_rust::Jid = format!("{alice_phone}@s.whatsapp.net").parse()?;

    let files = [
        (MediaKind::Image, 150_000usize),
        (MediaKind::Document, 70_000),
        (MediaKind::Audio, 30_000),
    ];
    for (i, (kind, len)) in files.into_iter().enumerate() {
        let data: Vec<u8> = (0..len).map(|n| ((n * 13 + i) % 256) as u8).collect();
        let theirs = match kind {
            MediaKind::Image => MediaType::Image,
            MediaKind::Document => MediaType::Document,
            _ => MediaType::Audio,
        };
        let upload = tokio::time::timeout(
            SHORT_HANG_GUARD,
            bob.client
                .upload(data.clone(), theirs, UploadOptions::default()),
        )
        .await
        .context("whatsapp-rust upload hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not upload: {e}"))?;
        let message = match kind {
            MediaKind::Image => image_message(
                upload,
                ImageOptions {
                    caption: Some("a photo".into()),
                    ..Default::default()
                },
            ),
            MediaKind::Document => document_message(
                upload,
                DocumentOptions {
                    mimetype: Some("application/pdf".into()),
                    file_name: Some("invoice.pdf".into()),
                    ..Default::default()
                },
            ),
            _ => audio_message(
                upload,
                AudioOptions {
                    ptt: Some(true),
                    duration_seconds: Some(3),
                    ..Default::default()
                },
            ),
        };
        tokio::time::timeout(
            SHORT_HANG_GUARD,
            bob.client.send_message(alice_jid.clone(), message),
        )
        .await
        .context("whatsapp-rust send hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send: {e}"))?;

        let got = alice.next_message().await;
        let media = got.media.context("not reported as media")?;
        assert_eq!(media.kind, kind.as_str());
        assert_eq!(media.file_length, len as u64);
        match kind {
            MediaKind::Image => assert_eq!(got.text, "a photo"),
            MediaKind::Document => {
                assert_eq!(media.file_name.as_deref(), Some("invoice.pdf"));
                assert_eq!(media.mimetype, "application/pdf");
            }
            _ => {
                assert!(media.voice_note);
                assert_eq!(media.seconds, Some(3));
            }
        }
        let mut downloaded = Vec::new();
        alice
            .client
            .download_media(&media.reference()?, &mut downloaded)
            .await?;
        assert!(downloaded == data, "{kind}: the download differs");
    }
    // whatsapp-rust reached nothing but the simulator.
    assert_eq!(bob.http.attempts(), Vec::<String>::new());
    bob.handle.shutdown().await;
    Ok(())
}

/// A new simulated phone sends `data` as document `name` to `carol`,
/// whose companion `peer` is whatsapp-rust: the document message and its
/// info, as whatsapp-rust received them.
async fn phone_document_to_peer(
    sim: &wasp::sim::SimHandle,
    admin: &interop::admin::AdminClient,
    carol: &str,
    peer: &mut interop::link::LinkedPeer,
    data: &[u8],
    name: &str,
) -> Result<(
    whatsapp_rust::waproto::whatsapp::message::DocumentMessage,
    Arc<whatsapp_rust::types::message::MessageInfo>,
)> {
    let dave = admin.create_phone().await?;
    sim.phone_send_media(
        &dave,
        carol,
        wasp::sim::PhoneMedia {
            kind: MediaKind::Document,
            data: data.to_vec(),
            mimetype: "application/pdf".into(),
            caption: None,
            file_name: Some(name.into()),
            voice_note: false,
        },
    )?;
    tokio::time::timeout(SHORT_HANG_GUARD, async {
        loop {
            let event = peer.events.recv().await?;
            for m in event.messages() {
                if let Some(doc) = m.message.document_message.as_option() {
                    return Some((doc.clone(), m.info.clone()));
                }
            }
        }
    })
    .await
    .context("whatsapp-rust got no document (hang guard)")?
    .context("event stream ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_downloads_what_a_simulated_phone_sends() -> Result<()> {
    interop::init_tracing();
    let (sim, admin, carol, mut peer) = interop::link::sim_with_peer().await?;
    let data: Vec<u8> = (0..90_000).map(|n| (n % 241) as u8).collect();
    let (document, _) =
        phone_document_to_peer(&sim, &admin, &carol, &mut peer, &data, "report.pdf").await?;
    assert_eq!(document.file_name.as_deref(), Some("report.pdf"));
    let downloaded = tokio::time::timeout(SHORT_HANG_GUARD, peer.client.download(&document))
        .await
        .context("whatsapp-rust download hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not download: {e}"))?;
    assert!(downloaded == data, "whatsapp-rust's download differs");
    assert_eq!(peer.http.attempts(), Vec::<String>::new());
    peer.handle.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_downloads_the_files_a_wasp_session_sends() -> Result<()> {
    interop::init_tracing();
    let h = harness::Harness::new().await;
    let admin = AdminClient::new(&h.sim.http_url())?;
    let (alice, _, _) = h.linked("alice").await;
    let bob_phone = admin.create_phone().await?;
    let mut bob = link_fresh_peer(&h.sim, &admin, &bob_phone, interop::peer::new_store()).await?;

    // A real picture: its size and thumbnail ride in the message.
    let photo = {
        let pixels = image::RgbImage::from_fn(300, 200, |x, y| {
            image::Rgb([
                (x * 7 % 251) as u8,
                (y * 13 % 241) as u8,
                ((x ^ y) % 239) as u8,
            ])
        });
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(pixels)
            .write_to(&mut png, image::ImageOutputFormat::Png)
            .expect("encode");
        png.into_inner()
    };
    let mut image = wasp::client::media::OutgoingFile::new(MediaKind::Image, "image/png");
    image.caption = Some("from wasp".into());
    alice
        .client
        .send_file(&bob_phone, image, photo.as_slice())
        .await?;
    let pdf: Vec<u8> = (0..60_000).map(|n| (n % 247) as u8).collect();
    let mut document =
        wasp::client::media::OutgoingFile::new(MediaKind::Document, "application/pdf");
    document.file_name = Some("terms.pdf".into());
    alice
        .client
        .send_file(&bob_phone, document, pdf.as_slice())
        .await?;

    let (mut got_image, mut got_document) = (None, None);
    tokio::time::timeout(SHORT_HANG_GUARD, async {
        while got_image.is_none() || got_document.is_none() {
            let Some(event) = bob.events.recv().await else {
                break;
            };
            for m in event.messages() {
                if let Some(img) = m.message.image_message.as_option() {
                    got_image = Some(img.clone());
                }
                if let Some(doc) = m.message.document_message.as_option() {
                    got_document = Some(doc.clone());
                }
            }
        }
    })
    .await
    .context("whatsapp-rust did not get both files (hang guard)")?;
    let image = got_image.context("no image")?;
    let document = got_document.context("no document")?;
    assert_eq!(image.caption.as_deref(), Some("from wasp"));
    // whatsapp-rust reads the size and thumbnail where we wrote them.
    assert_eq!((image.width, image.height), (Some(300), Some(200)));
    let thumbnail = image.jpeg_thumbnail.clone().context("a thumbnail")?;
    let thumb = image::load_from_memory(&thumbnail).context("the thumbnail decodes")?;
    assert_eq!((thumb.width(), thumb.height()), (32, 21));
    assert_eq!(document.file_name.as_deref(), Some("terms.pdf"));
    for (what, downloaded, want) in [
        ("image", bob.client.download(&image).await, &photo),
        ("document", bob.client.download(&document).await, &pdf),
    ] {
        let downloaded = downloaded
            .map_err(|e| anyhow::anyhow!("whatsapp-rust could not download the {what}: {e}"))?;
        assert!(&downloaded == want, "whatsapp-rust's {what} differs");
    }
    assert_eq!(bob.http.attempts(), Vec::<String>::new());
    bob.handle.shutdown().await;
    Ok(())
}

#[test]
fn media_retry_requests_seal_and_open_as_wacore_does() {
    use whatsapp_rust::wacore::media_retry::{
        decrypt_media_retry_notification, encrypt_media_retry_receipt,
    };
    let key = [9u8; 32];
    let id = "3EB0C0FFEE42";
    let (ciphertext, iv) = encrypt_media_retry_receipt(&key, id).expect("wacore seals");
    wasp::media::open_request(&key, id, &iv, &ciphertext).expect("we open wacore's request");
    // wacore opens ours with the same function it opens answers with:
    // the plaintext is the ServerErrorReceipt naming the message.
    let ours = wasp::media::seal_request(&key, id);
    let plain = decrypt_media_retry_notification(&key, id, &ours.iv, &ours.ciphertext)
        .expect("wacore opens our request");
    let receipt = [&[0x0a, id.len() as u8][..], id.as_bytes()].concat();
    assert_eq!(plain, receipt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_has_the_simulated_phone_upload_an_expired_file_again() -> Result<()> {
    use whatsapp_rust::features::{MediaRetryResult, MediaReuploadRequest};
    interop::init_tracing();
    let (sim, admin, carol, mut peer) = interop::link::sim_with_peer().await?;
    let data: Vec<u8> = (0..50_000).map(|n| (n % 233) as u8).collect();
    let (document, info) =
        phone_document_to_peer(&sim, &admin, &carol, &mut peer, &data, "old.pdf").await?;
    let old_path = document.direct_path.clone().context("a direct path")?;
    sim.expire_media(&old_path)?;
    assert!(
        peer.client.download(&document).await.is_err(),
        "expired: the hosts no longer have it"
    );

    // whatsapp-rust's own media retry request, answered by the simulated
    // phone: each side opens what the other sealed.
    let media_key = document.media_key.clone().context("a media key")?;
    let request = MediaReuploadRequest {
        msg_id: &info.id,
        chat_jid: &info.source.chat,
        media_key: &media_key,
        is_from_me: false,
        participant: None,
    };
    let answer = tokio::time::timeout(
        SHORT_HANG_GUARD,
        peer.client.media_reupload().request(&request),
    )
    .await
    .context("no media retry answer (hang guard)")?
    .map_err(|e| anyhow::anyhow!("whatsapp-rust's media retry failed: {e}"))?;
    let MediaRetryResult::Success { direct_path } = answer else {
        anyhow::bail!("the phone did not upload the file again: {answer:?}");
    };
    assert_ne!(direct_path, old_path);
    let mut moved = document.clone();
    moved.direct_path = Some(direct_path);
    let downloaded = tokio::time::timeout(SHORT_HANG_GUARD, peer.client.download(&moved))
        .await
        .context("whatsapp-rust download hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not download the new copy: {e}"))?;
    assert!(downloaded == data, "the new copy differs");

    // A message the phone no longer has: whatsapp-rust reads its refusal.
    sim.phone_clear_chats(&carol)?;
    let answer = tokio::time::timeout(
        SHORT_HANG_GUARD,
        peer.client.media_reupload().request(&request),
    )
    .await
    .context("no media retry answer (hang guard)")?
    .map_err(|e| anyhow::anyhow!("whatsapp-rust's media retry failed: {e}"))?;
    assert!(matches!(answer, MediaRetryResult::NotFound), "{answer:?}");
    peer.handle.shutdown().await;
    Ok(())
}
