//! Media end to end against the simulator's media hosts: a session asks
//! `media_conn` for the hosts and a token, uploads files of every kind
//! (encrypted as it reads them, posted under their encrypted hash), and
//! downloads them back byte for byte; files damaged in transit, expired
//! files and files over the size limit are clear errors, and no spool
//! file is left behind either way.
//!
//! A phone's image, document and voice note arrive as `message` events
//! with their media, and download byte for byte; files a session sends
//! (1:1 and to a group) are fetched and opened by the phones with the
//! same plaintext hash. Through the HTTP API a backend sends a document
//! and a voice note as base64, with clear errors for bad input.
//!
//! That the encryption is WhatsApp's is checked in `media_interop.rs`
//! (byte-for-byte against whatsapp-rust's implementation).

mod api_support;
mod harness;

use std::sync::Arc;

use harness::Harness;
use sha2::{Digest, Sha256};
use wasp::client::media::{MediaRef, OutgoingFile, UploadedMedia};
use wasp::client::ClientError;
use wasp::media::{MediaError, MediaKind};
use wasp::sim::PhoneMedia;

fn file(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// How many files phone `phone` has received.
/// An OGG/Opus stream of `seconds` (RFC 7845 pages; the sound is noise
/// and the CRCs are zero: nobody here decodes it).
fn ogg_opus(seconds: u64) -> Vec<u8> {
    let page = |granule: u64, body: &[u8]| {
        let mut page = b"OggS\0\0".to_vec();
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        page.push(1);
        page.push(body.len() as u8);
        page.extend_from_slice(body);
        page
    };
    let mut ogg = page(0, b"OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0");
    ogg.extend(page(0, b"OpusTags\0\0\0\0\0\0\0\0"));
    for second in 1..=seconds {
        ogg.extend(page(312 + second * 48_000, &file(200, second as u8)));
    }
    ogg
}

fn files_received(sim: &wasp::sim::SimHandle, phone: &str) -> usize {
    sim.phone_messages(phone)
        .expect("known phone")
        .into_iter()
        .filter(|m| m.media.is_some())
        .count()
}

fn reference(up: &UploadedMedia) -> MediaRef {
    MediaRef {
        kind: up.kind,
        direct_path: up.direct_path.clone(),
        media_key: up.media_key,
        file_sha256: Some(up.file_sha256),
        file_enc_sha256: Some(up.file_enc_sha256),
    }
}

/// The spool files left in `dir`.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("listable")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_uploads_every_kind_and_downloads_it_back_intact() {
    let h = Harness::new().await;
    let spool = tempfile::tempdir().expect("spool dir");
    let mut config = (*h.config()).clone();
    config.media_dir = spool.path().to_path_buf();
    let (alice, _, _) = h.linked_with("alice", Arc::new(config)).await;

    let kinds = [
        (MediaKind::Image, 70_001),
        (MediaKind::Document, 3 << 20),
        (MediaKind::Audio, 16),
        (MediaKind::Video, 1_000_000),
        (MediaKind::Sticker, 5),
    ];
    for (i, (kind, len)) in kinds.into_iter().enumerate() {
        let plain = file(len, i as u8);
        let up = alice
            .client
            .upload_media(kind, plain.as_slice())
            .await
            .expect("uploaded");
        assert_eq!(up.file_length, len as u64);
        assert!(up.direct_path.starts_with("/v/"), "{}", up.direct_path);
        assert!(up.url.ends_with(&up.direct_path), "{}", up.url);
        let mut got = Vec::new();
        let n = alice
            .client
            .download_media(&reference(&up), &mut got)
            .await
            .expect("downloaded");
        assert_eq!(n, len as u64);
        assert!(got == plain, "{kind}: the download differs");
    }
    // Nothing is left over in the spool directory.
    assert_eq!(leftovers(spool.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_expired_and_oversized_media_are_clear_errors() {
    let h = Harness::new().await;
    let spool = tempfile::tempdir().expect("spool dir");
    let mut config = (*h.config()).clone();
    config.media_dir = spool.path().to_path_buf();
    config.max_media_bytes = 64 * 1024;
    let (alice, _, _) = h.linked_with("alice", Arc::new(config)).await;

    let plain = file(10_000, 7);
    let up = alice
        .client
        .upload_media(MediaKind::Document, plain.as_slice())
        .await
        .expect("uploaded");

    // One byte changed on the server: the MAC catches it, nothing is
    // written out.
    h.sim.corrupt_media(&up.direct_path, 100).expect("stored");
    let mut got = Vec::new();
    let err = alice
        .client
        .download_media(&reference(&up), &mut got)
        .await
        .expect_err("damaged");
    assert!(
        matches!(err, ClientError::MediaDamaged(MediaError::BadMac)),
        "{err:?}"
    );
    assert!(got.is_empty(), "plaintext of a damaged file was written");

    // The wrong key (another message's) does not open it either.
    let other = alice
        .client
        .upload_media(MediaKind::Document, plain.as_slice())
        .await
        .expect("uploaded");
    let mut wrong = reference(&other);
    wrong.media_key = up.media_key;
    let err = alice
        .client
        .download_media(&wrong, &mut got)
        .await
        .expect_err("wrong key");
    assert!(matches!(err, ClientError::MediaDamaged(_)), "{err:?}");

    // Expired on the server: gone, not a transfer failure.
    h.sim.expire_media(&other.direct_path).expect("stored");
    let err = alice
        .client
        .download_media(&reference(&other), &mut got)
        .await
        .expect_err("expired");
    assert!(matches!(err, ClientError::MediaGone(_)), "{err:?}");

    // Over the configured size: refused before any upload.
    let big = file(64 * 1024 + 1, 1);
    let err = alice
        .client
        .upload_media(MediaKind::Video, big.as_slice())
        .await
        .expect_err("too large");
    assert!(matches!(err, ClientError::MediaTooLarge(_)), "{err:?}");

    // A direct path a hostile message could give does not leave the host.
    let mut hostile = reference(&up);
    hostile.direct_path = "//attacker.example/x".into();
    let err = alice
        .client
        .download_media(&hostile, &mut got)
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::InvalidMedia(_)), "{err:?}");

    assert!(got.is_empty());
    assert_eq!(leftovers(spool.path()), Vec::<String>::new());
    // The session is still fine.
    alice
        .client
        .upload_media(MediaKind::Image, &b"still working"[..])
        .await
        .expect("uploads again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phones_files_arrive_as_media_messages_and_download_intact() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");

    let sent = [
        (
            MediaKind::Image,
            "image/jpeg",
            Some("our new shop"),
            None,
            false,
        ),
        (
            MediaKind::Document,
            "application/pdf",
            Some("your invoice"),
            Some("invoice-42.pdf"),
            false,
        ),
        (MediaKind::Audio, "audio/ogg; codecs=opus", None, None, true),
    ];
    for (i, (kind, mimetype, caption, file_name, voice_note)) in sent.into_iter().enumerate() {
        let data = file(200_000 + i * 1000, 40 + i as u8);
        let media = PhoneMedia {
            kind,
            data: data.clone(),
            mimetype: mimetype.to_string(),
            caption: caption.map(str::to_string),
            file_name: file_name.map(str::to_string),
            voice_note,
        };
        let by_phone = h
            .sim
            .phone_send_media(&bob, &alice_phone, media)
            .expect("sent");
        let got = alice.next_message().await;
        assert_eq!(got.id.to_string(), by_phone.id);
        assert_eq!(got.text, caption.unwrap_or_default());
        let media = got.media.expect("a media message");
        assert_eq!(media.kind, kind.as_str());
        assert_eq!(media.mimetype, mimetype);
        assert_eq!(media.file_length, data.len() as u64);
        assert_eq!(media.caption.as_deref(), caption);
        assert_eq!(media.file_name.as_deref(), file_name);
        assert_eq!(media.voice_note, voice_note);
        let mut downloaded = Vec::new();
        alice
            .client
            .download_media(
                &media.reference().expect("a usable reference"),
                &mut downloaded,
            )
            .await
            .expect("downloaded");
        assert!(downloaded == data, "{kind}: the download differs");
    }
}

/// The media a phone has received so far, once it holds `n` of them.
async fn phone_media(
    sim: &wasp::sim::SimHandle,
    phone: &str,
    n: usize,
) -> Vec<wasp::sim::PhoneMessage> {
    harness::eventually("the phone receives the files", || {
        let got: Vec<_> = sim
            .phone_messages(phone)
            .expect("known phone")
            .into_iter()
            .filter(|m| m.media.is_some())
            .collect();
        (got.len() >= n).then_some(got)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phones_file_in_a_group_arrives_as_media_from_the_member() {
    let h = Harness::new().await;
    let (mut alice, _, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let group = alice
        .client
        .create_group("Files", &[format!("+{bob}")])
        .await
        .expect("created");
    let gid = group.jid.to_string();
    let photo = file(90_000, 11);
    let sent = h
        .sim
        .phone_send_media(
            &bob,
            &gid,
            PhoneMedia {
                kind: MediaKind::Image,
                data: photo.clone(),
                mimetype: "image/jpeg".into(),
                caption: Some("for the group".into()),
                file_name: None,
                voice_note: false,
            },
        )
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.id.to_string(), sent.id);
    assert_eq!(got.chat.to_string(), gid);
    assert_eq!(
        got.sender.to_non_ad().to_string(),
        format!("{bob}@s.whatsapp.net")
    );
    assert_eq!(got.text, "for the group");
    let media = got.media.expect("a media message");
    let mut downloaded = Vec::new();
    alice
        .client
        .download_media(&media.reference().expect("a reference"), &mut downloaded)
        .await
        .expect("downloaded");
    assert!(downloaded == photo, "the download differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_a_session_sends_are_opened_by_the_phones_intact() {
    let h = Harness::new().await;
    let (alice, _, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let carol = h.sim.create_phone(None).await.expect("phone");

    // 1:1: a document with its name and caption, then a voice note.
    let pdf = file(120_000, 3);
    let mut document = OutgoingFile::new(MediaKind::Document, "application/pdf");
    document.file_name = Some("invoice-7.pdf".into());
    document.caption = Some("your invoice".into());
    let sent = alice
        .client
        .send_file(&bob, document, pdf.as_slice())
        .await
        .expect("sent");
    let voice = file(9_000, 4);
    let mut note = OutgoingFile::new(MediaKind::Audio, "audio/ogg; codecs=opus");
    note.voice_note = true;
    note.seconds = Some(2);
    alice
        .client
        .send_file(&bob, note, voice.as_slice())
        .await
        .expect("sent");
    let got = phone_media(&h.sim, &bob, 2).await;
    assert_eq!(got[0].id, sent.id.to_string());
    assert_eq!(got[0].text, "your invoice");
    let doc = got[0].media.as_ref().expect("media");
    assert_eq!(doc.kind, "document");
    assert_eq!(doc.file_name.as_deref(), Some("invoice-7.pdf"));
    assert_eq!(doc.error, None);
    assert_eq!(
        doc.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&pdf)).as_str())
    );
    let audio = got[1].media.as_ref().expect("media");
    assert!(audio.voice_note);
    assert_eq!(
        audio.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&voice)).as_str())
    );

    // To a group: one skmsg carries the image message to both phones.
    let group = alice
        .client
        .create_group("Photos", &[format!("+{bob}"), format!("+{carol}")])
        .await
        .expect("created");
    let photo = file(250_000, 5);
    let mut image = OutgoingFile::new(MediaKind::Image, "image/jpeg");
    image.caption = Some("the shop".into());
    alice
        .client
        .send_file(&group.jid.to_string(), image, photo.as_slice())
        .await
        .expect("sent");
    let want = hex::encode(Sha256::digest(&photo));
    for (phone, n) in [(&bob, 3), (&carol, 1)] {
        let got = phone_media(&h.sim, phone, n).await;
        let last = got.last().expect("a file");
        assert_eq!(last.chat, group.jid.to_string());
        let media = last.media.as_ref().expect("media");
        assert_eq!(media.kind, "image");
        assert_eq!(media.sha256.as_deref(), Some(want.as_str()), "{phone}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_sends_files_given_in_base64() {
    use base64::prelude::{Engine as _, BASE64_STANDARD};
    use serde_json::json;
    let api = api_support::Api::start(wasp::api::ServerConfig::default()).await;
    api.linked("shop").await;
    let bob = api.sim.create_phone(None).await.expect("phone");
    let send = |body: serde_json::Value| {
        let api = &api;
        async move {
            api.call(
                "POST",
                "/v1/sessions/shop/messages",
                Some(&body.to_string()),
            )
            .await
        }
    };

    // A PDF (its mimetype sniffed) with a caption and a name, 1 MiB: over
    // the 64 KiB other routes take.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend(file(1 << 20, 9));
    let reply = send(json!({
        "to": format!("+{bob}"),
        "text": "your invoice",
        "document": {"data": BASE64_STANDARD.encode(&pdf), "file_name": "invoice.pdf"},
    }))
    .await;
    assert_eq!(
        reply.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    // A voice note must be OGG/Opus; its duration is read from it.
    let ogg = ogg_opus(7);
    let reply =
        send(json!({"to": format!("+{bob}"), "voice": {"data": BASE64_STANDARD.encode(&ogg)}}))
            .await;
    assert_eq!(
        reply.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let got = phone_media(&api.sim, &bob, 2).await;
    let doc = got[0].media.as_ref().expect("media");
    assert_eq!(
        (doc.kind.as_str(), doc.mimetype.as_str()),
        ("document", "application/pdf")
    );
    assert_eq!(doc.file_name.as_deref(), Some("invoice.pdf"));
    assert_eq!(got[0].text, "your invoice");
    assert_eq!(
        doc.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&pdf)).as_str())
    );
    let voice = got[1].media.as_ref().expect("media");
    assert!(voice.voice_note);
    assert_eq!(voice.mimetype, "audio/ogg; codecs=opus");
    assert_eq!(voice.seconds, Some(7));

    // By URL: fetched as it is encrypted; no redirects; a dead host is a
    // 502.
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &file(400_000, 6)].concat();
    let files = axum::Router::new()
        .route(
            "/photo.png",
            axum::routing::get({
                let png = png.clone();
                move || async move { png }
            }),
        )
        .route(
            "/moved",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/photo.png") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let files_at = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, files).await });
    let reply = send(json!({
        "to": format!("+{bob}"),
        "text": "the new shelf",
        "image": {"url": format!("http://{files_at}/photo.png")},
    }))
    .await;
    assert_eq!(
        reply.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let got = phone_media(&api.sim, &bob, 3).await;
    let image = got[2].media.as_ref().expect("media");
    assert_eq!(
        (image.kind.as_str(), image.mimetype.as_str()),
        ("image", "image/png")
    );
    assert_eq!(
        image.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&png)).as_str())
    );
    let reply = send(
        json!({"to": format!("+{bob}"), "image": {"url": format!("http://{files_at}/moved")}}),
    )
    .await;
    reply.assert_error(400, "invalid_media", "a redirect");
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_at = dead.local_addr().expect("addr");
    drop(dead);
    let reply =
        send(json!({"to": format!("+{bob}"), "image": {"url": format!("http://{dead_at}/x.png")}}))
            .await;
    reply.assert_error(502, "media_failed", "an unreachable URL");

    // Bad input: clear errors, nothing sent.
    for (body, status, code) in [
        (
            json!({"to": format!("+{bob}"), "voice": {"data": BASE64_STANDARD.encode(b"ID3 mp3")}}),
            400,
            "invalid_media",
        ),
        (
            json!({"to": format!("+{bob}"), "image": {"data": "not base64!"}}),
            400,
            "invalid_media",
        ),
        (
            json!({"to": format!("+{bob}"), "image": {"data": ""}}),
            400,
            "invalid_media",
        ),
        (
            json!({"to": format!("+{bob}"), "image": {"data": "AAAA"}, "video": {"data": "AAAA"}}),
            400,
            "one_file",
        ),
        (
            json!({"to": format!("+{bob}"), "gif": {"data": "AAAA"}}),
            400,
            "unknown_field",
        ),
    ] {
        let reply = send(body.clone()).await;
        assert_eq!(
            (reply.status, reply.json()["error"].clone()),
            (status, json!(code)),
            "{body}"
        );
    }
    let files = files_received(&api.sim, &bob);
    assert_eq!(files, 3, "a refused file went out");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_downloads_a_received_file_from_its_event() {
    use serde_json::json;
    let api = api_support::Api::start(wasp::api::ServerConfig::default()).await;
    let mut events = api.host.subscribe();
    let shop_phone = api.linked("shop").await;
    let bob = api.sim.create_phone(None).await.expect("phone");

    let pdf = [b"%PDF-1.4 ".as_slice(), &file(300_000, 8)].concat();
    api.sim
        .phone_send_media(
            &bob,
            &shop_phone,
            PhoneMedia {
                kind: MediaKind::Document,
                data: pdf.clone(),
                mimetype: "application/pdf".into(),
                caption: None,
                file_name: Some("order 17.pdf".into()),
                voice_note: false,
            },
        )
        .expect("sent");
    // The message event as a backend receives it (SSE and webhooks carry
    // this JSON).
    let event = tokio::time::timeout(harness::GUARD, async {
        loop {
            let event = events.recv().await.expect("events");
            let value = serde_json::to_value(&event).expect("JSON");
            if value["type"] == "message" {
                return value;
            }
        }
    })
    .await
    .expect("a message event");
    let media = event["media"].clone();
    assert_eq!(media["kind"], "document");
    assert_eq!(media["file_name"], "order 17.pdf");

    let body = json!({ "media": media }).to_string();
    // The file as both routes answer it.
    let is_the_file = |reply: &api_support::Reply| {
        assert_eq!(
            reply.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.header("content-type"), Some("application/pdf"));
        assert_eq!(
            reply.header("content-disposition"),
            Some("attachment; filename=\"order 17.pdf\"")
        );
        assert!(reply.body == pdf, "the download differs");
    };
    let reply = api
        .call("POST", "/v1/sessions/shop/media/download", Some(&body))
        .await;
    is_the_file(&reply);

    // By the message's id alone: the session kept what fetching it takes.
    let by_id = format!(
        "/v1/sessions/shop/messages/{}/media",
        event["id"].as_str().expect("id")
    );
    let reply = api.call("GET", &by_id, None).await;
    is_the_file(&reply);
    assert_eq!(
        reply.header("content-length"),
        Some(pdf.len().to_string().as_str())
    );
    let reply = api
        .call("GET", "/v1/sessions/shop/messages/3EB0NOTAFILE/media", None)
        .await;
    reply.assert_error(404, "unknown_message", "an id with no file");
    let reply = api
        .call("GET", "/v1/sessions/nobody/messages/3EB0/media", None)
        .await;
    reply.assert_error(404, "session_not_found", "an unknown session");

    // Expired on the server: a media object alone is 410; by id, the
    // session asks its phone to upload the file again and serves that,
    // as often as it expires.
    let path = media["direct_path"].as_str().expect("path").to_string();
    api.sim.expire_media(&path).expect("stored");
    let reply = api
        .call("POST", "/v1/sessions/shop/media/download", Some(&body))
        .await;
    reply.assert_error(410, "media_gone", "expired media");
    for round in 0..2 {
        let reply = api.call("GET", &by_id, None).await;
        is_the_file(&reply);
        assert!(
            api.sim.expire_all_media() >= 1,
            "round {round}: the new copy"
        );
    }
    // Once the phone's chats are cleared, it has nothing to upload: 410.
    api.sim.phone_clear_chats(&shop_phone).expect("phone");
    let reply = api.call("GET", &by_id, None).await;
    reply.assert_error(410, "media_gone", "expired media by id");
    let why = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("the phone no longer has the file"), "{why}");
    let mut broken = media.clone();
    broken["media_key"] = json!("not a key");
    let reply = api
        .call(
            "POST",
            "/v1/sessions/shop/media/download",
            Some(&json!({ "media": broken }).to_string()),
        )
        .await;
    reply.assert_error(400, "invalid_media", "a bad key");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_sends_files_uploaded_as_a_form() {
    let api = api_support::Api::start(wasp::api::ServerConfig::default()).await;
    api.linked("shop").await;
    let bob = api.sim.create_phone(None).await.expect("phone");
    let path = "/v1/sessions/shop/messages";

    // 20 MiB: past what a JSON body (16 MiB, in base64) can carry.
    let pdf = [b"%PDF-1.4 ".as_slice(), &file(20 << 20, 9)].concat();
    let reply = api
        .upload(
            path,
            &[
                ("to", None, None, bob.as_bytes()),
                ("text", None, None, "your invoice".as_bytes()),
                (
                    "document",
                    Some("invoice 42.pdf"),
                    Some("application/pdf"),
                    &pdf,
                ),
            ],
        )
        .await;
    assert_eq!(
        reply.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let got = api
        .until("the phone opens the upload", || async {
            let inbox = api.sim.phone_messages(&bob).expect("bob");
            inbox.into_iter().find_map(|m| m.media)
        })
        .await;
    assert_eq!(
        got.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&pdf)).as_str())
    );
    assert_eq!(got.file_name.as_deref(), Some("invoice 42.pdf"));
    assert_eq!(got.caption.as_deref(), Some("your invoice"));
    assert_eq!(got.mimetype, "application/pdf");

    // Malformed forms: clear 400s, nothing sent.
    let cases: [(&[api_support::FormPart<'_>], &str); 4] = [
        (
            &[("document", Some("a.pdf"), None, b"%PDF-1.4 x")],
            "invalid_form",
        ),
        (
            &[
                ("to", None, None, bob.as_bytes()),
                ("colour", None, None, b"red"),
            ],
            "unknown_field",
        ),
        (&[("to", None, None, bob.as_bytes())], "invalid_media"),
        (
            &[
                ("to", None, None, bob.as_bytes()),
                ("voice", Some("v.mp3"), None, b"ID3 not ogg"),
            ],
            "invalid_media",
        ),
    ];
    for (parts, code) in cases {
        api.upload(path, parts).await.assert_error(400, code, code);
    }
    let files = files_received(&api.sim, &bob);
    assert_eq!(files, 1, "a refused form sent a file");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_past_the_limit_and_internal_urls_are_refused() {
    use serde_json::json;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let api = api_support::Api::start_with(wasp::api::ServerConfig::default(), |host| {
        host.max_media_transfers = 1;
        // As when the API listens beyond loopback.
        host.webhooks.guard.enabled = true;
    })
    .await;
    let mut events = api.host.subscribe();
    let shop_phone = api.linked("shop").await;
    let bob = api.sim.create_phone(None).await.expect("phone");
    // Large enough that the socket cannot take it all while we do not read.
    let video = file(40 << 20, 1);
    api.sim
        .phone_send_media(
            &bob,
            &shop_phone,
            PhoneMedia {
                kind: MediaKind::Video,
                data: video,
                mimetype: "video/mp4".into(),
                caption: None,
                file_name: None,
                voice_note: false,
            },
        )
        .expect("sent");
    let event = tokio::time::timeout(harness::GUARD, async {
        loop {
            let value = serde_json::to_value(events.recv().await.expect("events")).expect("JSON");
            if value["type"] == "message" {
                return value;
            }
        }
    })
    .await
    .expect("a message event");
    let body = json!({ "media": event["media"] }).to_string();

    // A download that is not read holds the one slot.
    let mut slow = tokio::net::TcpStream::connect(&api.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/sessions/shop/media/download HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        api_support::KEY,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    let mut first = [0u8; 12];
    slow.read_exact(&mut first)
        .await
        .expect("the answer starts");
    assert_eq!(&first, b"HTTP/1.1 200");
    let capacity = api.call("GET", "/v1/capacity", None).await.json();
    assert_eq!(
        (
            capacity["media_transfers"].clone(),
            capacity["max_media_transfers"].clone()
        ),
        (json!(1), json!(1))
    );
    let reply = api
        .call("POST", "/v1/sessions/shop/media/download", Some(&body))
        .await;
    reply.assert_error(503, "media_busy", "the one slot is taken");

    // Once it ends, the slot is free again.
    drop(slow);
    api.until("the slot is released", || async {
        let capacity = api.call("GET", "/v1/capacity", None).await.json();
        (capacity["media_transfers"] == 0).then_some(())
    })
    .await;

    // With the address guard on, a URL into the service's own network is
    // refused before anything is fetched.
    let internal = json!({"to": format!("+{bob}"), "image": {"url": "http://127.0.0.1:9/a.png"}});
    let reply = api
        .call(
            "POST",
            "/v1/sessions/shop/messages",
            Some(&internal.to_string()),
        )
        .await;
    reply.assert_error(400, "invalid_media", "an internal URL");
    api.stop().await;
}
