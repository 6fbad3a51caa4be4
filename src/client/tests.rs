//! The session task and its handle, with no wire: the connector fails
//! before any handshake. (The protocol's tests live with each feature.)

use std::sync::Arc;

use super::creds::{self, StoredCreds};
use super::testing::{config, paired_creds, JID};
use super::*;
use crate::store::{DataDir, FileAuthStore, FileStores, CREDS_FILE};
use crate::wire::Node;

// ---- run loop (no wire needed: the connector fails before a handshake) ----

struct NoTransport;

impl crate::wire::socket::Transport for NoTransport {
    async fn send(&mut self, _: Vec<u8>) -> Result<(), crate::wire::WireError> {
        Err(crate::wire::WireError::Closed)
    }
    async fn recv(&mut self) -> Result<Option<Vec<u8>>, crate::wire::WireError> {
        Ok(None)
    }
    async fn close(&mut self) {}
}

struct Unreachable;

impl Connector for Unreachable {
    type Transport = NoTransport;
    async fn connect(&self, _: &str) -> Result<NoTransport, crate::wire::WireError> {
        Err(crate::wire::WireError::WebSocket(
            "connection refused".into(),
        ))
    }
}

/// A data directory holding session "s1" (with `creds` when given): the
/// stores to spawn it with, and its own store to look at afterwards.
fn session_dir(creds: Option<StoredCreds>) -> (tempfile::TempDir, Arc<FileStores>, FileAuthStore) {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open(tmp.path()).unwrap();
    let store = FileAuthStore::new(data.session("s1").unwrap());
    store.prepare().unwrap();
    if let Some(c) = creds {
        creds::save(&store, &c).unwrap();
    }
    (tmp, Arc::new(FileStores::new(data)), store)
}

#[tokio::test]
async fn unreachable_server_backs_off_with_growing_jittered_delays() {
    let (_tmp, stores, _) = session_dir(Some(StoredCreds::Active(Box::new(paired_creds()))));
    let (sink, mut events) = ChannelSink::new();
    let cfg = Arc::new(ClientConfig::for_tests("ws://127.0.0.1:1/ws/chat", [0; 32]));
    let client = Client::spawn_with(
        "s1".into(),
        cfg.clone(),
        stores,
        Arc::new(sink),
        Arc::new(Unreachable),
    );

    for expected_attempt in 1..=4u32 {
        let (session, event) = events.recv().await.unwrap();
        assert_eq!(session, "s1");
        let Event::Reconnecting { attempt, delay_ms } = event else {
            panic!("unexpected {event:?}")
        };
        assert_eq!(attempt, expected_attempt);
        let cap = backoff::ceiling(attempt, cfg.reconnect_base, cfg.reconnect_max);
        assert!(u128::from(delay_ms) <= cap.as_millis());
    }
    assert_eq!(client.jid().as_deref(), Some(JID));
    assert!(client.last_error().unwrap().contains("connection refused"));

    client.shutdown().await;
    assert_eq!(client.status(), Status::Stopped);
    // The last event says why the task ended.
    let mut last = None;
    while let Ok((_, e)) = events.try_recv() {
        last = Some(e);
    }
    assert_eq!(
        last,
        Some(Event::Stopped {
            reason: "shutdown".into()
        })
    );
}

#[tokio::test]
async fn logout_while_offline_wipes_the_credentials() {
    let (_tmp, stores, dir) = session_dir(Some(StoredCreds::Active(Box::new(paired_creds()))));
    let (sink, mut events) = ChannelSink::new();
    let cfg = Arc::new(ClientConfig::for_tests("ws://127.0.0.1:1/ws/chat", [0; 32]));
    let client = Client::spawn_with(
        "s1".into(),
        cfg,
        stores,
        Arc::new(sink),
        Arc::new(Unreachable),
    );
    client.wait_for(|s| s == Status::Reconnecting).await;
    client.logout().await.unwrap();
    assert_eq!(client.status(), Status::LoggedOut);
    assert!(matches!(
        creds::load(&dir).unwrap(),
        Some(StoredCreds::LoggedOut { .. })
    ));
    let mut last = None;
    while let Ok((_, e)) = events.try_recv() {
        last = Some(e);
    }
    assert_eq!(
        last,
        Some(Event::LoggedOut {
            reason: "logout".into()
        })
    );
    // The task is gone: further commands report it.
    assert!(matches!(
        client.send_iq(Node::new("iq")).await,
        Err(ClientError::Stopped)
    ));
}

#[tokio::test]
async fn a_logged_out_session_reports_it_and_never_connects() {
    struct MustNotConnect;
    impl Connector for MustNotConnect {
        type Transport = NoTransport;
        async fn connect(&self, _: &str) -> Result<NoTransport, crate::wire::WireError> {
            panic!("a logged-out session connected")
        }
    }
    let (_tmp, stores, _) = session_dir(Some(StoredCreds::logged_out(
        "device_removed",
        Some(&JID.parse().unwrap()),
    )));
    let (sink, mut events) = ChannelSink::new();
    let client = Client::spawn_with(
        "s1".into(),
        config(),
        stores,
        Arc::new(sink),
        Arc::new(MustNotConnect),
    );
    assert_eq!(client.wait_for(|_| false).await, Status::LoggedOut);
    assert_eq!(
        events.recv().await.unwrap().1,
        Event::LoggedOut {
            reason: "device_removed".into()
        }
    );
}

#[tokio::test]
async fn corrupt_credentials_fail_the_session_clearly() {
    let (_tmp, stores, dir) = session_dir(None);
    dir.dir().write_atomic(CREDS_FILE, b"{oops").unwrap();
    let (sink, _events) = ChannelSink::new();
    let client = Client::spawn_with(
        "s1".into(),
        config(),
        stores,
        Arc::new(sink),
        Arc::new(Unreachable),
    );
    assert_eq!(client.wait_for(|_| false).await, Status::Failed);
    assert!(client.last_error().unwrap().contains("credentials"));
}

#[test]
fn events_serialize_with_a_type_tag() {
    let json = serde_json::to_value(Event::Qr {
        code: "c".into(),
        expires_in_secs: 60,
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "qr", "code": "c", "expires_in_secs": 60})
    );
    let json = serde_json::to_value(Event::Reconnecting {
        attempt: 2,
        delay_ms: 10,
    })
    .unwrap();
    assert_eq!(json["type"], "reconnecting");
}
