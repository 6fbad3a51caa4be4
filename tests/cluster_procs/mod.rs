//! `wasp serve --redis` nodes as child processes for the cluster tests:
//! a node started against one simulator and one Redis (and, given
//! `--postgres`, one database), its API, and the calls the tests make of
//! it. The test binary must have `mod admin`, `mod process` and
//! `mod cluster_support`.
#![allow(dead_code)] // not every test binary uses every helper

use crate::admin::AdminClient;
use crate::cluster_support::redis_url;
pub use crate::process::until;
use crate::process::{sim_value, Proc};
use serde_json::Value;

pub const AUTH: &str = "Bearer routing-test-key";

pub struct Node {
    pub proc: Proc,
    pub api: AdminClient,
    /// `host:port` of its API.
    pub addr: String,
    _data: tempfile::TempDir,
}

/// Starts node `id` of `cluster`, heartbeating every 200 ms and dead
/// after 1 s unless `extra` says otherwise.
pub async fn start_node(cluster: &str, id: &str, sim: &(String, String), extra: &[&str]) -> Node {
    let port = {
        // A port for the API, known before start: the advertised URL.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    start_node_on(port, cluster, id, sim, extra).await
}

/// [`start_node`] listening on `port` (a node restarted where it was).
pub async fn start_node_on(
    advertise_port: u16,
    cluster: &str,
    id: &str,
    sim: &(String, String),
    extra: &[&str],
) -> Node {
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{advertise_port}");
    let advertise = format!("http://{listen}");
    let redis = redis_url();
    let mut args = vec![
        "serve",
        "--listen",
        &listen,
        "--api-key",
        "routing-test-key",
        "--whatsapp-url",
        &sim.0,
        "--whatsapp-root-key",
        &sim.1,
        "--redis",
        &redis,
        "--cluster",
        cluster,
        "--node-id",
        id,
        "--advertise",
        &advertise,
        "--data",
        data.path().to_str().unwrap(),
    ];
    if !extra.contains(&"--heartbeat-interval") {
        args.extend(["--heartbeat-interval", "200ms"]);
    }
    if !extra.contains(&"--node-dead-after") {
        args.extend(["--node-dead-after", "1s"]);
    }
    args.extend_from_slice(extra);
    let mut proc = Proc::spawn(&args);
    let url = sim_value(&mut proc, "api_url").await;
    Node {
        proc,
        api: AdminClient::new(&url).expect("api url"),
        addr: url.trim_start_matches("http://").to_string(),
        _data: data,
    }
}

pub async fn call(api: &AdminClient, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, answer) = api
        .request(
            method,
            path,
            &[("Authorization", AUTH)],
            body.map(str::as_bytes),
        )
        .await
        .expect("an answer");
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(Value::Null),
    )
}

/// The sessions a node runs itself (a forwarded list is never gathered).
pub async fn local_ids(api: &AdminClient) -> Vec<String> {
    let (status, answer) = api
        .request(
            "GET",
            "/v1/sessions",
            &[("Authorization", AUTH), ("X-Wasp-Forwarded", "test")],
            None,
        )
        .await
        .expect("an answer");
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_slice(&answer).expect("JSON");
    listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect()
}

pub async fn start_sim() -> (Proc, (String, String)) {
    let (sim, urls, _) = start_sim_with_admin().await;
    (sim, urls)
}

/// A simulator: its process, its WebSocket URL and root key (for
/// `start_node`), and its admin API.
pub async fn start_sim_with_admin() -> (Proc, (String, String), AdminClient) {
    let mut sim = Proc::spawn(&["sim", "--listen", "127.0.0.1:0"]);
    let ws = sim_value(&mut sim, "ws_url").await;
    let admin = sim_value(&mut sim, "admin_url").await;
    let root = sim_value(&mut sim, "root_public_key").await;
    let admin = AdminClient::new(&admin).expect("admin url");
    (sim, (ws, root), admin)
}

pub async fn until_up(api: &AdminClient, count: usize) {
    until("the nodes up", || async {
        let (_, listed) = call(api, "GET", "/v1/nodes", None).await;
        let up = listed["nodes"]
            .as_array()?
            .iter()
            .filter(|n| n["state"] == "up")
            .count();
        (up == count).then_some(())
    })
    .await;
}

pub async fn create(api: &AdminClient, id: &str) {
    let (status, created) = call(
        api,
        "POST",
        "/v1/sessions",
        Some(&format!(r#"{{"id": "{id}"}}"#)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
}

/// Everything `GET /v1/events` on `addr` sends from now on, as it comes.
pub fn event_stream(addr: &str) -> std::sync::Arc<std::sync::Mutex<String>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (addr, into) = (addr.to_string(), seen.clone());
    tokio::spawn(async move {
        let mut conn = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let request =
            format!("GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {AUTH}\r\n\r\n");
        conn.write_all(request.as_bytes()).await.expect("request");
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = conn.read(&mut buf).await {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    seen
}
