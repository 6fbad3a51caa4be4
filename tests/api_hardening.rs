//! The HTTP API against a hostile client: slow or silent connections,
//! too many connections, lying lengths, ambiguous framing, wrong methods,
//! broken paths and queries, unknown fields, odd Authorization headers.
//! A real host and simulator behind wasp's own server, on loopback.

mod api_support;

use std::time::Duration;

use api_support::{Api, Reply, GUARD, KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wasp::api::ServerConfig;

/// Short deadlines so the timeouts show in a test; the waits below are
/// bounded by [`GUARD`] only, never asserted as durations.
fn quick() -> ServerConfig {
    ServerConfig {
        head_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    }
}

/// Reads until the server closes; returns what it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    out
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed() {
    let api = Api::start(quick()).await;

    // Connected, never a byte.
    let mut idle = TcpStream::connect(&api.addr).await.unwrap();
    assert!(until_closed(&mut idle).await.is_empty());

    // Half a request head.
    let mut partial = TcpStream::connect(&api.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    until_closed(&mut partial).await;

    // A kept-alive connection after its answer.
    let mut kept = TcpStream::connect(&api.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = until_closed(&mut kept).await;
    let reply = Reply::parse(&answered).expect("an answer before the close");
    assert_eq!(reply.status, 200);

    // A head, then a body that never completes: 408 in JSON.
    let mut slow_body = TcpStream::connect(&api.addr).await.unwrap();
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\":"
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let answered = until_closed(&mut slow_body).await;
    let reply = Reply::parse(&answered).expect("an answer");
    reply.assert_error(408, "body_timeout", "slow body");

    assert!(
        api.metric("wasp_http_timeouts_total{phase=\"head\"}").await >= 3,
        "head timeouts not counted"
    );
    assert_eq!(
        api.metric("wasp_http_timeouts_total{phase=\"body\"}").await,
        1
    );
    api.stop().await;
}

/// A connection to the API from a given loopback address.
async fn connect_from(ip: &str, addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// Whether the server answers a health check on `stream`.
async fn healthy(stream: &mut TcpStream) -> Reply {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let bytes = until_closed(stream).await;
    Reply::parse(&bytes).expect("an answer")
}

#[tokio::test]
async fn connections_over_the_caps_are_refused_at_accept() {
    let api = Api::start(ServerConfig {
        max_connections_per_ip: 2,
        max_connections: 3,
        // The held connections stay open for the whole test.
        head_timeout: GUARD,
        ..ServerConfig::default()
    })
    .await;
    let held_a = connect_from("127.0.0.1", &api.addr).await;
    let held_b = connect_from("127.0.0.1", &api.addr).await;
    // A third from the same client: refused at once, in JSON.
    let mut third = connect_from("127.0.0.1", &api.addr).await;
    let refused = Reply::parse(&until_closed(&mut third).await).expect("an answer");
    refused.assert_error(503, "too_many_connections", "per-IP cap");

    // Another client is not starved by the first one.
    let mut other = connect_from("127.0.0.2", &api.addr).await;
    // The total cap (3) is reached now: a fourth client is refused.
    let mut fourth = connect_from("127.0.0.3", &api.addr).await;
    let refused = Reply::parse(&until_closed(&mut fourth).await).expect("an answer");
    refused.assert_error(503, "too_many_connections", "total cap");
    assert_eq!(healthy(&mut other).await.status, 200);

    // Closed connections free their slots.
    drop((held_a, held_b));
    let freed = tokio::time::timeout(GUARD, async {
        loop {
            let mut again = connect_from("127.0.0.1", &api.addr).await;
            if healthy(&mut again).await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "slots never freed");
    let per_ip = api
        .metric("wasp_http_connections_refused_total{reason=\"per_ip\"}")
        .await;
    let total = api
        .metric("wasp_http_connections_refused_total{reason=\"total\"}")
        .await;
    assert!(per_ip >= 1 && total >= 1, "per_ip {per_ip}, total {total}");
    api.stop().await;
}

#[tokio::test]
async fn a_body_announced_too_large_is_refused_without_reading_it() {
    let api = Api::start(ServerConfig::default()).await;
    let mut stream = TcpStream::connect(&api.addr).await.unwrap();
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The answer comes although the body never will.
    let reply = Reply::parse(&until_closed(&mut stream).await).expect("an answer");
    reply.assert_error(413, "body_too_large", "announced 10 GB");
    api.stop().await;
}

#[tokio::test]
async fn content_length_with_chunked_encoding_is_refused() {
    let api = Api::start(ServerConfig::default()).await;
    let auth = format!("Authorization: Bearer {KEY}\r\n");
    for order in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    ] {
        let request =
            format!("POST /v1/sessions HTTP/1.1\r\nHost: x\r\n{auth}{order}\r\n0\r\n\r\n");
        api.raw(request.as_bytes())
            .await
            .assert_error(400, "ambiguous_framing", order);
    }
    // Behind a clean request on the same connection, too.
    let pipelined = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}POST /v1/sessions HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
    );
    let mut stream = TcpStream::connect(&api.addr).await.unwrap();
    stream.write_all(pipelined.as_bytes()).await.unwrap();
    let bytes = until_closed(&mut stream).await;
    let (first, used) = Reply::parse_one(&bytes).expect("first answer");
    assert_eq!(first.status, 200);
    let second = Reply::parse(&bytes[used..]).expect("second answer");
    second.assert_error(400, "ambiguous_framing", "pipelined");
    // No session was created by any of them.
    let list = api.call("GET", "/v1/sessions", None).await.json();
    assert_eq!(list, serde_json::json!([]));
    assert_eq!(
        api.metric("wasp_http_requests_refused_total{reason=\"ambiguous_framing\"}")
            .await,
        3
    );
    api.stop().await;
}

/// Every route of the API and the methods it answers.
const ROUTES: &[(&str, &[&str])] = &[
    ("/v1/sessions", &["GET", "POST"]),
    ("/v1/sessions/x", &["GET", "DELETE"]),
    ("/v1/sessions/x/logout", &["POST"]),
    ("/v1/sessions/x/restart", &["POST"]),
    ("/v1/sessions/x/qr", &["GET"]),
    ("/v1/sessions/x/pair-code", &["POST"]),
    ("/v1/sessions/x/messages", &["POST"]),
    ("/v1/sessions/x/read", &["POST"]),
    ("/v1/sessions/x/media/download", &["POST"]),
    ("/v1/sessions/x/messages/3EB0/media", &["GET"]),
    ("/v1/sessions/x/groups", &["GET", "POST"]),
    ("/v1/sessions/x/groups/join", &["POST"]),
    ("/v1/sessions/x/groups/1-2", &["GET"]),
    ("/v1/sessions/x/groups/1-2/participants", &["POST"]),
    ("/v1/sessions/x/groups/1-2/subject", &["PUT"]),
    ("/v1/sessions/x/groups/1-2/description", &["PUT"]),
    ("/v1/sessions/x/groups/1-2/leave", &["POST"]),
    ("/v1/sessions/x/groups/1-2/invite", &["GET"]),
    ("/v1/sessions/x/groups/1-2/invite/revoke", &["POST"]),
    ("/v1/sessions/x/events", &["GET"]),
    ("/v1/events", &["GET"]),
    ("/v1/capacity", &["GET"]),
    ("/v1/nodes", &["GET"]),
    ("/v1/nodes/n1/drain", &["POST"]),
    ("/v1/nodes/n1/hand-over", &["POST"]),
    ("/v1/cluster/rebalance", &["POST"]),
    ("/metrics", &["GET"]),
    ("/openapi.json", &["GET"]),
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
];

#[tokio::test]
async fn every_error_is_json_with_the_right_status() {
    let api = Api::start(ServerConfig::default()).await;
    // The list above is the document's list.
    let doc = api.call("GET", "/openapi.json", None).await.json();
    let documented = doc["paths"].as_object().expect("paths").len();
    assert_eq!(documented, ROUTES.len(), "routes missing from this test");

    for (path, allowed) in ROUTES {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if allowed.contains(&method) {
                continue;
            }
            let reply = api.call(method, path, Some("{}")).await;
            let what = format!("{method} {path}");
            reply.assert_error(405, "method_not_allowed", &what);
            let allow = reply.header("allow").unwrap_or_default();
            for want in *allowed {
                assert!(allow.contains(want), "{what}: Allow {allow:?}");
            }
        }
    }

    // Session ids that are not UTF-8 once decoded.
    for (method, path) in [
        ("GET", "/v1/sessions/%FF"),
        ("DELETE", "/v1/sessions/%C3%28"),
        ("GET", "/v1/sessions/%FF/qr"),
        ("POST", "/v1/sessions/%FF%FE/restart"),
        ("GET", "/v1/sessions/%FF/events"),
    ] {
        let body = (method == "POST").then_some("");
        api.call(method, path, body)
            .await
            .assert_error(400, "invalid_path", path);
    }

    // Repeated query parameters (the only way to break this query).
    for query in ["format=png&format=svg", "format=svg&format=svg"] {
        let path = format!("/v1/sessions/ghost/qr?{query}");
        api.call("GET", &path, None)
            .await
            .assert_error(400, "invalid_query", &path);
    }
    api.stop().await;
}

#[tokio::test]
async fn unknown_fields_in_a_body_are_refused_by_name() {
    let api = Api::start(ServerConfig::default()).await;
    let reply = api
        .call(
            "POST",
            "/v1/sessions",
            Some(r#"{"id":"x","webhookurl":"http://127.0.0.1:9/h"}"#),
        )
        .await;
    reply.assert_error(400, "unknown_field", "create");
    assert!(
        reply.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("webhookurl")),
        "{}",
        reply.json()
    );
    // Nothing was created.
    api.call("GET", "/v1/sessions/x", None).await.assert_error(
        404,
        "session_not_found",
        "after a refused create",
    );

    api.call("POST", "/v1/sessions", Some(r#"{"id":"s"}"#))
        .await;
    for (path, body) in [
        (
            "/v1/sessions/s/messages",
            r#"{"to":"+1555","text":"hi","txet":"x"}"#,
        ),
        (
            "/v1/sessions/s/read",
            r#"{"chat":"1@s.whatsapp.net","ids":["a"],"all":true}"#,
        ),
        ("/v1/sessions/s/pair-code", r#"{"phone":"1555","code":"x"}"#),
    ] {
        api.call("POST", path, Some(body))
            .await
            .assert_error(400, "unknown_field", path);
    }
    api.stop().await;
}

#[tokio::test]
async fn authorization_takes_one_header_with_any_case_of_scheme() {
    let api = Api::start(ServerConfig::default()).await;
    let good = format!("Bearer {KEY}");
    let reply = api
        .request(
            "GET",
            "/v1/sessions",
            &[("Authorization", &good), ("Authorization", "Bearer wrong")],
            None,
        )
        .await;
    reply.assert_error(400, "invalid_authorization", "two headers");
    let reply = api
        .request(
            "GET",
            "/v1/sessions",
            &[("Authorization", "Bearer wrong"), ("Authorization", &good)],
            None,
        )
        .await;
    reply.assert_error(400, "invalid_authorization", "two headers, good last");

    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let value = format!("{scheme} {KEY}");
        let reply = api
            .request("GET", "/v1/sessions", &[("Authorization", &value)], None)
            .await;
        assert_eq!(reply.status, 200, "{scheme}: {:?}", reply.json());
    }
    let reply = api
        .request("GET", "/v1/sessions", &[("Authorization", KEY)], None)
        .await;
    reply.assert_error(401, "unauthorized", "no scheme");
    api.stop().await;
}

/// Found while fuzzing: a logout racing a delete (or a restart) of the
/// same session wrote into the directory being removed and answered 500.
/// Lifecycle calls on one session now take turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_lifecycle_calls_on_one_session_never_fail() {
    let api = std::sync::Arc::new(Api::start(ServerConfig::default()).await);
    let pairs = [
        (("POST", "/logout"), ("DELETE", "")),
        (("POST", "/restart"), ("DELETE", "")),
        (("POST", "/logout"), ("POST", "/restart")),
        (("POST", "/logout"), ("POST", "/logout")),
    ];
    // Each race is lost only now and then: many rounds make a loss sure.
    for round in 0..120 {
        let id = format!("r{round}");
        let created = api
            .call("POST", "/v1/sessions", Some(&format!(r#"{{"id":"{id}"}}"#)))
            .await;
        assert_eq!(created.status, 201);
        let ((m1, s1), (m2, s2)) = pairs[round % pairs.len()];
        let call = |method: &'static str, suffix: &str| {
            let api = api.clone();
            let path = format!("/v1/sessions/{id}{suffix}");
            tokio::spawn(async move { api.call(method, &path, None).await })
        };
        let (a, b) = (call(m1, s1), call(m2, s2));
        for (reply, what) in [(a.await.unwrap(), s1), (b.await.unwrap(), s2)] {
            assert!(
                reply.status < 500,
                "round {round} {what}: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    // No session runs without a record (a restart that lost to a delete).
    // Sessions still settle (a logged-out one starting to report it), so
    // the two counts must agree once they did, not at one instant.
    let mut last = String::new();
    for _ in 0..100 {
        let list = api.call("GET", "/v1/sessions", None).await.json();
        let live = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                !["logged_out", "stopped", "failed"].contains(&s["status"].as_str().unwrap())
            })
            .count();
        let capacity = api.call("GET", "/v1/capacity", None).await.json();
        if capacity["sessions"] == live {
            return;
        }
        last = format!(
            "capacity {} against {live} live in {list}",
            capacity["sessions"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("running sessions without a record: {last}");
}
