//! The host's HTTP API end to end: a real `Host` behind the real router on
//! loopback, sessions linked through the simulator, driven over HTTP.

#[allow(dead_code)] // this file uses only the admin HTTP client
mod interop;

use std::sync::Arc;
use std::time::Duration;

use interop::admin::AdminClient;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasp::api::{router, ApiKey};
use wasp::client::ClientConfig;
use wasp::host::{Host, HostConfig};
use wasp::sim::{self, SimConfig, SimHandle};

/// A hang guard, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);
const KEY: &str = "test-key-0123456789";

struct Service {
    host: Arc<Host>,
    api: AdminClient,
    addr: String,
    server: tokio::task::JoinHandle<()>,
}

impl Service {
    /// Serves the API at once; stored sessions are restored meanwhile, as
    /// `wasp serve` does.
    async fn start(
        sim: &SimHandle,
        data: &std::path::Path,
        max_sessions: Option<usize>,
    ) -> Service {
        let mut client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
        client.qr_first_ttl = Duration::from_secs(30);
        let mut config = HostConfig::new(data, client);
        config.max_sessions = max_sessions;
        let host = Host::open(config).expect("host opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let app = router(host.clone(), ApiKey::new(KEY));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let api = AdminClient::new(&format!("http://{addr}")).unwrap();
        let restoring = host.clone();
        tokio::spawn(async move { restoring.restore().await.expect("restore") });
        Service {
            host,
            api,
            addr,
            server,
        }
    }

    async fn stop(self) {
        self.server.abort();
        self.host.shutdown().await;
    }

    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let auth = format!("Bearer {KEY}");
        let (status, bytes) = self
            .api
            .request(
                method,
                path,
                &[("Authorization", &auth)],
                body.map(str::as_bytes),
            )
            .await
            .expect("request");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// A GET whose answer is not JSON (images, metrics).
    async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let auth = format!("Bearer {KEY}");
        self.api
            .request("GET", path, &[("Authorization", &auth)], None)
            .await
            .expect("request")
    }

    async fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let (_, session) = self.call("GET", &format!("/v1/sessions/{id}"), None).await;
            if session["status"] == want {
                return session;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {want}: {session}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let (status, ready) = self.call("GET", "/readyz", None).await;
            if status == 200 {
                assert_eq!(ready["status"], "ready");
                return;
            }
            assert_eq!(ready["error"], "restoring", "{ready}");
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn qr(&self, id: &str) -> String {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let (status, qr) = self
                .call("GET", &format!("/v1/sessions/{id}/qr"), None)
                .await;
            if status == 200 {
                return qr["qr"].as_str().expect("qr string").to_string();
            }
            assert!(tokio::time::Instant::now() < deadline, "no QR: {qr}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens an SSE stream and returns it once its headers arrived.
    async fn events(&self, path: &str) -> TcpStream {
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {KEY}\r\nAccept: text/event-stream\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // The headers come once the handler has subscribed: after them,
        // no event can be missed.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = tokio::time::timeout(GUARD, stream.read(&mut byte))
                .await
                .expect("SSE headers")
                .expect("SSE read");
            assert!(
                n == 1,
                "SSE stream closed: {}",
                String::from_utf8_lossy(&head)
            );
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        stream
    }
}

/// Reads the SSE stream until an event named `name` arrives; returns
/// everything read so far.
async fn read_until_event(stream: &mut TcpStream, name: &str) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let needle = format!("event: {name}\n");
    tokio::time::timeout(GUARD, async {
        while !seen.contains(&needle) {
            let n = stream.read(&mut buf).await.expect("sse read");
            assert!(n > 0, "stream closed before {name}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {name} event: {seen}"));
    seen
}

#[tokio::test]
async fn a_session_links_by_qr_and_comes_back_after_a_restart() {
    interop::init_tracing();
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&sim, data.path(), None).await;

    let (status, created) = service
        .call("POST", "/v1/sessions", Some(r#"{"id": "alice"}"#))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "alice");
    let mut events = service.events("/v1/sessions/alice/events").await;

    let qr = service.qr("alice").await;
    assert_eq!(qr.split(',').count(), 5, "QR string has five fields: {qr}");
    let (status, bytes) = service.get_bytes("/v1/sessions/alice/qr?format=svg").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&bytes).contains("<svg"));
    let (status, bytes) = service.get_bytes("/v1/sessions/alice/qr?format=png").await;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");

    let phone = sim.create_phone(None).await.unwrap();
    sim.scan(&phone, &qr).await.unwrap();
    read_until_event(&mut events, "connected").await;
    let session = service.wait_status("alice", "connected").await;
    assert!(session["jid"].as_str().unwrap().starts_with(&phone));
    let (status, err) = service.call("GET", "/v1/sessions/alice/qr", None).await;
    assert_eq!((status, err["error"].as_str()), (404, Some("no_qr")));

    // A new host over the same data: the session logs in again, no QR.
    service.stop().await;
    let service = Service::start(&sim, data.path(), None).await;
    let mut events = service.events("/v1/events").await;
    service.wait_status("alice", "connected").await;
    service.wait_ready().await;
    let (_, list) = service.call("GET", "/v1/sessions", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (status, qr) = service.call("GET", "/v1/sessions/alice/qr", None).await;
    assert_eq!(status, 404, "a restored session shows a QR: {qr}");
    drop(events.shutdown().await);

    // Delete logs the device out on the phone and forgets the session.
    let (status, _) = service.call("DELETE", "/v1/sessions/alice", None).await;
    assert_eq!(status, 204);
    let (status, err) = service.call("GET", "/v1/sessions/alice", None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (404, Some("session_not_found"))
    );
    let devices = sim.devices(&phone).unwrap();
    assert!(devices.is_empty(), "device still linked: {devices:?}");
    service.stop().await;
}

#[tokio::test]
async fn texts_and_receipts_flow_through_the_api_both_ways() {
    interop::init_tracing();
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&sim, data.path(), None).await;
    service
        .call("POST", "/v1/sessions", Some(r#"{"id": "alice"}"#))
        .await;
    let mut events = service.events("/v1/sessions/alice/events").await;
    let qr = service.qr("alice").await;
    let alice_phone = sim.create_phone(None).await.unwrap();
    sim.scan(&alice_phone, &qr).await.unwrap();
    read_until_event(&mut events, "connected").await;
    let bob = sim.create_phone(None).await.unwrap();

    // Bob writes: the text is a `message` event on the session's stream.
    let hello = sim.phone_send(&bob, &alice_phone, "hi from bob").unwrap();
    let seen = read_until_event(&mut events, "message").await;
    assert!(
        seen.contains("hi from bob") && seen.contains(&hello.id),
        "{seen}"
    );

    // The session answers through the API.
    let body = format!(r#"{{"to": "+{bob}", "text": "hi bob"}}"#);
    let (status, sent) = service
        .call("POST", "/v1/sessions/alice/messages", Some(&body))
        .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["chat"], format!("{bob}@s.whatsapp.net"));
    let id = sent["id"].as_str().expect("message id").to_string();
    let seen = read_until_event(&mut events, "receipt").await;
    assert!(seen.contains("delivered") && seen.contains(&id), "{seen}");
    let inbox = sim.phone_messages(&bob).unwrap();
    assert_eq!(inbox.last().map(|m| m.text.as_str()), Some("hi bob"));

    // Marking Bob's text read reaches his phone.
    let body = format!(
        r#"{{"chat": "{bob}@s.whatsapp.net", "ids": ["{}"]}}"#,
        hello.id
    );
    let (status, _) = service
        .call("POST", "/v1/sessions/alice/read", Some(&body))
        .await;
    assert_eq!(status, 204);
    let deadline = tokio::time::Instant::now() + GUARD;
    while !sim
        .phone_receipts(&bob)
        .unwrap()
        .iter()
        .any(|r| r.kind == "read")
    {
        assert!(tokio::time::Instant::now() < deadline, "no read receipt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Unknown recipients and bad input are clear errors.
    let (status, err) = service
        .call(
            "POST",
            "/v1/sessions/alice/messages",
            Some(r#"{"to": "+99912345678", "text": "x"}"#),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (422, Some("not_on_whatsapp")),
        "{err}"
    );
    let (status, err) = service
        .call(
            "POST",
            "/v1/sessions/alice/messages",
            Some(r#"{"to": "hello", "text": "x"}"#),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_recipient")),
        "{err}"
    );
    // A LID address is taken; one nobody has is not on WhatsApp, never a
    // 5xx from the server's refusal.
    let (status, err) = service
        .call(
            "POST",
            "/v1/sessions/alice/messages",
            Some(r#"{"to": "123456789012345@lid", "text": "x"}"#),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (422, Some("not_on_whatsapp")),
        "{err}"
    );

    let (_, metrics) = service.get_bytes("/metrics").await;
    let metrics = String::from_utf8_lossy(&metrics).to_string();
    assert!(metrics.contains("wasp_messages_sent_total 1"), "{metrics}");
    // No webhook is set: nothing waits in the outbox.
    assert!(metrics.contains("wasp_webhooks_pending 0\n"), "{metrics}");
    assert!(
        metrics.contains("wasp_messages_received_total 1"),
        "{metrics}"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_logged_out_session_stays_logged_out_after_a_restart() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&sim, data.path(), None).await;
    service
        .call("POST", "/v1/sessions", Some(r#"{"id": "bob"}"#))
        .await;
    let qr = service.qr("bob").await;
    let phone = sim.create_phone(None).await.unwrap();
    sim.scan(&phone, &qr).await.unwrap();
    service.wait_status("bob", "connected").await;
    let (status, session) = service.call("POST", "/v1/sessions/bob/logout", None).await;
    assert_eq!(
        (status, &session["status"]),
        (200, &Value::from("logged_out"))
    );
    service.stop().await;

    // Restored from its stored state: still logged out, saying why, and
    // not counted against capacity.
    let service = Service::start(&sim, data.path(), None).await;
    service.wait_ready().await;
    let session = service.wait_status("bob", "logged_out").await;
    assert!(
        session["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "no reason: {session}"
    );
    let (_, capacity) = service.call("GET", "/v1/capacity", None).await;
    assert_eq!(capacity["sessions"], 0);
    service.stop().await;
}

#[tokio::test]
async fn capacity_is_enforced_and_alerts_with_hysteresis() {
    interop::init_tracing();
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&sim, data.path(), Some(4)).await;
    let mut events = service.events("/v1/events").await;

    for id in ["s1", "s2", "s3"] {
        let body = format!(r#"{{"id": "{id}"}}"#);
        let (status, _) = service.call("POST", "/v1/sessions", Some(&body)).await;
        assert_eq!(status, 201);
    }
    let (_, capacity) = service.call("GET", "/v1/capacity", None).await;
    assert_eq!(capacity["sessions"], 3);
    assert_eq!(capacity["alert"], false, "75% is under the alert line");

    let (status, _) = service
        .call("POST", "/v1/sessions", Some(r#"{"id": "s4"}"#))
        .await;
    assert_eq!(status, 201);
    read_until_event(&mut events, "capacity.alert").await;
    let (_, capacity) = service.call("GET", "/v1/capacity", None).await;
    assert_eq!(capacity["alert"], true);
    assert_eq!(capacity["max_sessions"], 4);

    let (status, err) = service
        .call("POST", "/v1/sessions", Some(r#"{"id": "s5"}"#))
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (503, Some("capacity_exhausted"))
    );
    let raw = raw_response(&service.addr, "POST", "/v1/sessions", "{}").await;
    assert!(raw.contains("retry-after: "), "no Retry-After: {raw}");
    // Admission refused; the running sessions are untouched.
    let (_, list) = service.call("GET", "/v1/sessions", None).await;
    assert_eq!(list.as_array().unwrap().len(), 4);

    // 3/4 = 75%: still alerted (hysteresis); 2/4 = 50%: recovered.
    service.call("DELETE", "/v1/sessions/s4", None).await;
    let (_, capacity) = service.call("GET", "/v1/capacity", None).await;
    assert_eq!(
        capacity["alert"], true,
        "cleared inside the hysteresis band"
    );
    service.call("DELETE", "/v1/sessions/s3", None).await;
    read_until_event(&mut events, "capacity.recovered").await;
    service.stop().await;
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&sim, data.path(), None).await;

    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        (
            "POST",
            "/v1/sessions",
            Some("{not json"),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/v1/sessions",
            Some(r#"{"id": "no spaces"}"#),
            400,
            "invalid_session_id",
        ),
        (
            "POST",
            "/v1/sessions",
            Some(r#"{"webhook_url": "ftp://x"}"#),
            400,
            "invalid_webhook",
        ),
        ("GET", "/v1/sessions/ghost", None, 404, "session_not_found"),
        (
            "DELETE",
            "/v1/sessions/ghost",
            None,
            404,
            "session_not_found",
        ),
        (
            "POST",
            "/v1/sessions/ghost/messages",
            Some(r#"{"to": "1", "text": "hi"}"#),
            404,
            "session_not_found",
        ),
        ("GET", "/v1/nothing", None, 404, "not_found"),
    ];
    for (method, path, body, want_status, want_code) in cases {
        let (status, err) = service.call(method, path, *body).await;
        assert_eq!(status, *want_status, "{method} {path}: {err}");
        assert_eq!(err["error"], *want_code, "{method} {path}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Oversized body.
    let big = format!(r#"{{"to": "1", "text": "{}"}}"#, "x".repeat(200_000));
    let (status, err) = service.call("POST", "/v1/sessions", Some(&big)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (413, Some("body_too_large"))
    );

    // Auth: missing and wrong keys are refused; health needs none.
    for headers in [vec![], vec![("Authorization", "Bearer wrong")]] {
        let (status, bytes) = service
            .api
            .request("GET", "/v1/sessions", &headers, None)
            .await
            .unwrap();
        let err: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((status, err["error"].as_str()), (401, Some("unauthorized")));
    }
    let (status, _) = service
        .api
        .request("GET", "/healthz", &[], None)
        .await
        .unwrap();
    assert_eq!(status, 200);

    // Sending from a session that is not connected: 409.
    service
        .call("POST", "/v1/sessions", Some(r#"{"id": "idle"}"#))
        .await;
    let (status, err) = service
        .call(
            "POST",
            "/v1/sessions/idle/messages",
            Some(r#"{"to": "15550001", "text": "hi"}"#),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("not_connected"))
    );
    service.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&sim, data.path(), None).await;
    let (status, doc) = service.call("GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    for (path, method) in [
        ("/v1/sessions", "post"),
        ("/v1/sessions/{id}/qr", "get"),
        ("/v1/sessions/{id}/messages", "post"),
        ("/v1/events", "get"),
        ("/v1/capacity", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    // And every documented route answers (not the router's 404 fallback).
    for (path, methods) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "ghost");
        for method in methods.as_object().unwrap().keys() {
            if concrete.ends_with("/events") {
                continue; // streams; covered above
            }
            let (status, body) = service
                .call(&method.to_uppercase(), &concrete, Some("{}"))
                .await;
            assert_ne!(body["error"], "not_found", "{method} {path} is not routed");
            assert_ne!(status, 405, "{method} {path} is not routed");
        }
    }
    let (_, metrics) = service.get_bytes("/metrics").await;
    assert!(String::from_utf8_lossy(&metrics).contains("wasp_max_sessions"));
    service.stop().await;
}

/// The group routes refuse what no server should see (bad group JIDs,
/// participants, subjects, invite codes) with clear 400s, name unknown
/// and offline sessions, and pass the rest to the session, whose server's
/// answer comes back as a JSON error, never a 500.
#[tokio::test]
async fn group_routes_check_their_input_and_answer_json() {
    interop::init_tracing();
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&sim, data.path(), None).await;
    let (status, err) = service.call("GET", "/v1/sessions/ghost/groups", None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (404, Some("session_not_found"))
    );
    service
        .call("POST", "/v1/sessions", Some(r#"{"id": "idle"}"#))
        .await;
    service.qr("idle").await;
    let (status, err) = service.call("GET", "/v1/sessions/idle/groups", None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("not_connected"))
    );

    service
        .call("POST", "/v1/sessions", Some(r#"{"id": "alice"}"#))
        .await;
    let qr = service.qr("alice").await;
    let phone = sim.create_phone(None).await.unwrap();
    sim.scan(&phone, &qr).await.unwrap();
    service.wait_status("alice", "connected").await;

    let group = "/v1/sessions/alice/groups/120363000000000001@g.us";
    for (method, path, body, code) in [
        (
            "GET",
            "/v1/sessions/alice/groups/not-a-group",
            None,
            "invalid_group",
        ),
        (
            "POST",
            "/v1/sessions/alice/groups/1@s.whatsapp.net/leave",
            None,
            "invalid_group",
        ),
        (
            "POST",
            "/v1/sessions/alice/groups",
            Some(r#"{"subject": " ", "participants": ["+15550001111"]}"#),
            "empty_subject",
        ),
        (
            "POST",
            "/v1/sessions/alice/groups",
            Some(r#"{"subject": "Team", "participants": ["x"]}"#),
            "invalid_recipient",
        ),
        (
            "POST",
            "/v1/sessions/alice/groups",
            Some(r#"{"subject": "Team", "participants": []}"#),
            "invalid_recipient",
        ),
        (
            "POST",
            &format!("{group}/participants"),
            Some(r#"{"action": "add", "participants": ["nobody"]}"#),
            "invalid_recipient",
        ),
        (
            "POST",
            &format!("{group}/participants"),
            Some(r#"{"action": "ban", "participants": ["+15550001111"]}"#),
            "invalid_json",
        ),
        (
            "PUT",
            &format!("{group}/subject"),
            Some(r#"{"subject": ""}"#),
            "empty_subject",
        ),
        (
            "PUT",
            &format!("{group}/subject"),
            Some(&format!(r#"{{"subject": "{}"}}"#, "é".repeat(101))),
            "subject_too_long",
        ),
        (
            "PUT",
            &format!("{group}/description"),
            Some(&format!(r#"{{"description": "{}"}}"#, "d".repeat(2049))),
            "description_too_long",
        ),
        (
            "POST",
            "/v1/sessions/alice/groups/join",
            Some(r#"{"code": "../x"}"#),
            "invalid_group",
        ),
        (
            "POST",
            "/v1/sessions/alice/messages",
            Some(r#"{"to": "abc@g.us", "text": "hi"}"#),
            "invalid_recipient",
        ),
    ] {
        let (status, err) = service.call(method, path, body).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some(code)),
            "{method} {path}: {err}"
        );
    }
    // Valid requests reach the WhatsApp server; whatever it answers comes
    // back as a documented JSON error or result, never a 500.
    for (method, path, body) in [
        ("GET", group.to_string(), None),
        ("GET", "/v1/sessions/alice/groups".to_string(), None),
        (
            "PUT",
            format!("{group}/description"),
            Some(r#"{"description": null}"#),
        ),
        ("GET", format!("{group}/invite"), None),
    ] {
        let (status, answer) = service.call(method, &path, body).await;
        assert!(
            status < 500 || status == 502,
            "{method} {path}: {status} {answer}"
        );
        assert!(status < 300 || answer["error"].is_string(), "{answer}");
    }
    service.stop().await;
}

async fn raw_response(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).to_lowercase()
}
