//! Tenants of one host cannot hurt each other or the host through their
//! webhooks: a stuck endpoint delays no other session's webhooks, and
//! deleting its session drops its backlog; webhooks to internal addresses
//! are refused when the guard is on.

// Only its raw request is used here.
#[allow(dead_code)]
#[path = "interop/admin.rs"]
mod admin;
#[allow(dead_code)]
mod webhook_receiver;

use std::sync::Arc;
use std::time::Duration;

use admin::AdminClient;
use tokio::net::TcpListener;
use wasp::client::ClientConfig;
use wasp::host::{CreateSession, Host, HostConfig, HostError, WebhookConfig};
use wasp::sim::{self, SimConfig, SimHandle};
use webhook_receiver::{receiver, tarpit, Tarpit};

/// A hang guard, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

fn host(sim: &SimHandle, data: &std::path::Path, webhooks: WebhookConfig) -> Arc<Host> {
    let client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
    let mut config = HostConfig::new(data, client);
    config.webhooks = webhooks;
    Host::open(config).expect("host opens")
}

fn create(host: &Host, id: &str, url: &str) -> Result<(), HostError> {
    host.create(CreateSession {
        id: Some(id.into()),
        webhook_url: Some(url.into()),
        webhook_secret: None,
    })
    .map(|_| ())
}

async fn next<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(GUARD, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} in time"))
        .unwrap_or_else(|| panic!("{what}: channel closed"))
}

#[tokio::test]
async fn a_stuck_webhook_endpoint_delays_no_other_session() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    // Attempts may take long: session A's stays stuck for the whole test.
    let webhooks = WebhookConfig {
        attempt_timeout: Duration::from_secs(600),
        ..WebhookConfig::default()
    };
    let host = host(&sim, data.path(), webhooks);
    let stuck = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_url = format!("http://{}/hook", stuck.local_addr().unwrap());
    let mut stuck = tarpit(stuck).await;
    let healthy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let healthy_url = format!("http://{}/hook", healthy.local_addr().unwrap());
    let mut healthy = receiver(healthy, 0).await;

    create(&host, "a", &stuck_url).unwrap();
    assert_eq!(
        next(&mut stuck, "attempt at A's webhook").await,
        Tarpit::Accepted(1)
    );
    create(&host, "b", &healthy_url).unwrap();
    let (status, delivery) = next(&mut healthy, "B's webhook").await;
    assert_eq!(status, 200);
    assert!(
        delivery.body.contains(r#""session":"b""#),
        "{}",
        delivery.body
    );
    // B's webhook came while A's attempt was still waiting for an answer.
    assert!(
        stuck.try_recv().is_err(),
        "A's attempt ended before B's came"
    );
    assert!(host.webhook_backlog("a").unwrap().pending >= 1);

    // Deleting A drops its backlog and abandons the attempt in flight.
    host.delete("a").await.unwrap();
    assert_eq!(
        next(&mut stuck, "A's attempt abandoned").await,
        Tarpit::Closed(1)
    );
    assert_eq!(host.webhook_backlog("a").unwrap().pending, 0);
    // B goes on as before.
    host.restart("b").await.unwrap();
    let (status, _) = next(&mut healthy, "B's webhook after A's delete").await;
    assert_eq!(status, 200);
    assert!(stuck.try_recv().is_err(), "A's webhook was tried again");
    host.shutdown().await;
}

#[tokio::test]
async fn webhooks_to_internal_addresses_are_refused_when_guarded() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut webhooks = WebhookConfig::default();
    webhooks.guard.enabled = true;
    let host = host(&sim, data.path(), webhooks);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut deliveries = receiver(listener, 0).await;

    // A literal internal address is refused at creation: 400 invalid_webhook.
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_client = AdminClient::new(&format!("http://{}", api.local_addr().unwrap())).unwrap();
    let app = wasp::api::router(host.clone(), None);
    tokio::spawn(async move { axum::serve(api, app).await });
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://[::ffff:10.0.0.1]/hook".to_string(),
    ] {
        let body = format!(r#"{{"id": "lit", "webhook_url": "{url}"}}"#);
        let (status, answer) = api_client
            .request("POST", "/v1/sessions", &[], Some(body.as_bytes()))
            .await
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("invalid_webhook"), "{answer}");
    }
    assert!(host.list().unwrap().is_empty());

    // A name that resolves to one is accepted, and each attempt fails
    // without connecting, saying why.
    create(&host, "named", &format!("http://localhost:{port}/hook")).unwrap();
    let deadline = tokio::time::Instant::now() + GUARD;
    let error = loop {
        let backlog = host.webhook_backlog("named").unwrap();
        if let Some(error) = backlog.last_error {
            break error;
        }
        assert!(tokio::time::Instant::now() < deadline, "never attempted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(error.contains("loopback"), "{error}");
    assert!(host.counters().webhooks_failed >= 1);
    assert!(
        deliveries.try_recv().is_err(),
        "the guard let a delivery through"
    );
    host.shutdown().await;

    // Allowed by name, the same URL is delivered.
    let data = tempfile::tempdir().unwrap();
    let mut webhooks = WebhookConfig::default();
    webhooks.guard.enabled = true;
    webhooks.guard.allow("localhost").unwrap();
    let host = self::host(&sim, data.path(), webhooks);
    create(&host, "allowed", &format!("http://localhost:{port}/hook")).unwrap();
    let (status, _) = next(&mut deliveries, "the allowed webhook").await;
    assert_eq!(status, 200);
    host.shutdown().await;
}
