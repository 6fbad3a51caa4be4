//! Sessions over TLS, as against the real server (`wss://`): the
//! simulator serves the chat endpoint and the media hosts behind a test
//! certificate of its own, and a session that trusts it
//! (`ClientConfig::trust_pem`, `wasp serve --whatsapp-ca-file`) links,
//! texts both ways and moves a file; one that does not never connects.

mod harness;

use std::sync::Arc;

use harness::Harness;
use wasp::client::{Event, Status};
use wasp::media::MediaKind;
use wasp::sim::SimConfig;

async fn tls_harness() -> Harness {
    let config = SimConfig {
        tls_listen: Some("127.0.0.1:0".parse().expect("address")),
        ..SimConfig::default()
    };
    Harness::with_sim(config).await
}

/// The test configuration pointed at the simulator's `wss://` endpoint,
/// trusting its certificate when `trusted`.
fn wss_config(h: &Harness, trusted: bool) -> Arc<wasp::client::ClientConfig> {
    let mut config = (*h.config()).clone();
    config.url = h.sim.wss_url().expect("the simulator serves TLS");
    if trusted {
        let pem = h.sim.tls_ca_pem().expect("a test certificate");
        assert_eq!(config.trust_pem(pem.as_bytes()), Ok(1));
    }
    Arc::new(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_trusting_the_certificate_links_texts_and_moves_files_over_tls() {
    let h = tls_harness().await;
    assert!(h
        .sim
        .wss_url()
        .expect("wss")
        .starts_with("wss://127.0.0.1:"));
    let (mut alice, alice_phone, _) = h.linked_with("alice", wss_config(&h, true)).await;
    let bob = h.sim.create_phone(None).await.expect("phone");

    let first = h
        .sim
        .phone_send(&bob, &alice_phone, "hi over tls")
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(
        (got.id.as_str(), got.text.as_str()),
        (first.id.as_str(), "hi over tls")
    );
    let sent = alice
        .client
        .send_text(&format!("+{bob}"), "and back")
        .await
        .expect("accepted");
    let inbox = harness::eventually("bob's phone gets the answer", || {
        let inbox = h.sim.phone_messages(&bob).ok()?;
        inbox.into_iter().find(|m| m.id == sent.id)
    })
    .await;
    assert_eq!(inbox.text, "and back");

    // The media hosts are behind the same certificate (https).
    let plain: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let up = alice
        .client
        .upload_media(MediaKind::Document, plain.as_slice())
        .await
        .expect("uploaded over https");
    let reference = wasp::client::media::MediaRef {
        kind: up.kind,
        direct_path: up.direct_path.clone(),
        media_key: up.media_key,
        file_sha256: Some(up.file_sha256),
        file_enc_sha256: Some(up.file_enc_sha256),
    };
    let mut got = Vec::new();
    alice
        .client
        .download_media(&reference, &mut got)
        .await
        .expect("downloaded over https");
    assert!(got == plain, "the download differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_not_trusting_the_certificate_never_connects() {
    let h = tls_harness().await;
    let mut session = h.spawn_with("eve", wss_config(&h, false));
    // It keeps retrying (the certificate may be fixed), and never shows a
    // QR code: nothing was said to a server it cannot authenticate.
    let events = session
        .until(|e| matches!(e, Event::Reconnecting { attempt, .. } if *attempt >= 2))
        .await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Qr { .. } | Event::Connected)),
        "{events:?}"
    );
    assert_ne!(session.client.status(), Status::Connected);
    let why = session.client.last_error().unwrap_or_default();
    assert!(why.to_lowercase().contains("certificate"), "{why}");
}
