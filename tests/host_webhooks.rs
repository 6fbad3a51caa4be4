//! Webhooks end to end: signed deliveries, retries after a failing
//! receiver, and the durable outbox surviving a restart of the host.

// Each test file uses part of the shared TLS helper.
#[allow(dead_code)]
mod tls;
#[allow(dead_code)]
mod webhook_receiver;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use wasp::client::ClientConfig;
use wasp::host::{CreateSession, Host, HostConfig, WebhookTarget};
use wasp::sim::{self, SimConfig, SimHandle};
use webhook_receiver::{receiver, receiver_with};

/// A hang guard, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

fn host(sim: &SimHandle, data: &std::path::Path, global: Option<WebhookTarget>) -> Arc<Host> {
    let client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
    let mut config = HostConfig::new(data, client);
    config.webhooks.global = global;
    Host::open(config).expect("host opens")
}

fn signature(secret: &str, body: &str) -> String {
    format!(
        "sha256={}",
        hex::encode(wasp::crypto::hmac_sha256(
            secret.as_bytes(),
            &[body.as_bytes()]
        ))
    )
}

#[tokio::test]
async fn session_webhooks_are_signed_and_retried() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let mut deliveries = receiver(listener, 1).await;
    let host = host(&sim, data.path(), None);
    host.create(CreateSession {
        id: Some("hooked".into()),
        webhook_url: Some(url),
        webhook_secret: Some("s3cret".into()),
    })
    .unwrap();

    // The first attempt is refused; the same delivery comes again.
    let (status, first) = tokio::time::timeout(GUARD, deliveries.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 500);
    let (status, again) = tokio::time::timeout(GUARD, deliveries.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        first.header("X-Wasp-Delivery"),
        again.header("X-Wasp-Delivery")
    );
    assert_eq!(again.body, first.body);

    assert_eq!(
        again.header("X-Wasp-Signature"),
        Some(signature("s3cret", &again.body).as_str())
    );
    assert_ne!(
        again.header("X-Wasp-Signature"),
        Some(signature("other", &again.body).as_str())
    );
    let event: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(event["session"], "hooked");
    // The host counts both attempts (shortly after the receiver answered).
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let c = host.counters();
        if c.webhooks_failed >= 1 && c.webhooks_delivered >= 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{c:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(event["type"], again.header("X-Wasp-Event").unwrap());
    host.shutdown().await;
}

#[tokio::test]
async fn https_webhooks_reach_an_endpoint_signed_by_a_trusted_ca() {
    // A self-signed certificate for "localhost", trusted as an extra CA.
    let tls = tls::localhost_tls();
    let server = tls.server;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let mut deliveries = receiver_with(listener, 0, Some(acceptor)).await;

    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
    let mut config = HostConfig::new(data.path(), client);
    assert_eq!(config.webhooks.trust_pem(tls.cert_pem.as_bytes()), Ok(1));
    assert!(config.webhooks.trust_pem(b"not pem").is_err());
    config.webhooks.global = Some(WebhookTarget {
        url: format!("https://localhost:{port}/hook"),
        secret: Some("k".into()),
    });
    let host = Host::open(config).expect("host opens");
    host.create(CreateSession::default()).unwrap();
    let (status, delivery) = tokio::time::timeout(GUARD, deliveries.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        delivery.header("X-Wasp-Signature"),
        Some(signature("k", &delivery.body).as_str())
    );
    host.shutdown().await;
}

#[tokio::test]
async fn the_outbox_survives_a_restart() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    // A port with nobody listening yet.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let global = WebhookTarget {
        url: format!("http://{addr}/all"),
        secret: None,
    };
    let first = host(&sim, data.path(), Some(global.clone()));
    first.create(CreateSession::default()).unwrap();
    // Wait for at least one event (the first QR) to be queued.
    let deadline = tokio::time::Instant::now() + GUARD;
    while first.pending_webhooks().unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.shutdown().await;
    let pending = first.pending_webhooks().unwrap();
    assert!(pending > 0);
    drop(first);

    // The receiver comes up; a new host over the same data delivers.
    let mut deliveries = receiver(TcpListener::bind(addr).await.unwrap(), 0).await;
    let second = host(&sim, data.path(), Some(global));
    let (status, delivery) = tokio::time::timeout(GUARD, deliveries.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        delivery.header("X-Wasp-Signature").is_none(),
        "unsigned without a secret"
    );
    let event: serde_json::Value = serde_json::from_str(&delivery.body).unwrap();
    assert!(event["type"].is_string(), "{event}");
    let deadline = tokio::time::Instant::now() + GUARD;
    while second.pending_webhooks().unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox never drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.shutdown().await;
}
