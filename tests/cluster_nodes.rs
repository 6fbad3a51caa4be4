//! `wasp serve --redis` as nodes of one cluster, each its own process
//! against a real Redis (127.0.0.1:6379 or `WASP_TEST_REDIS`): every node
//! lists every node (`GET /v1/nodes`) with its load and state; a node
//! killed with SIGKILL turns dead for the others; one stopped with
//! SIGTERM leaves the list at once; a second node under a live node's id,
//! and an unreachable Redis, are refused at start with a clear error.
#![cfg(unix)]

#[allow(dead_code)] // the phone helpers are for other tests
#[path = "interop/admin.rs"]
mod admin;
mod cluster_support;
mod process;

use std::process::Command;
use std::time::Duration;

use admin::AdminClient;
use cluster_support::{forget, redis_url, unique_cluster};
use process::{sim_value, Proc, GUARD};
use serde_json::Value;

const KEY: &str = "cluster-test-key";

/// A node of cluster `cluster`, heartbeating every 200 ms, dead after 1 s.
fn node_args(cluster: &str, id: &str, data: &std::path::Path) -> Vec<String> {
    [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--simulate",
        "--sim-listen",
        "127.0.0.1:0",
        "--api-key",
        KEY,
        "--redis",
        &redis_url(),
        "--cluster",
        cluster,
        "--node-id",
        id,
        "--advertise",
        &format!("http://10.1.0.1:8080/{id}"),
        "--heartbeat-interval",
        "200ms",
        "--node-dead-after",
        "1s",
        "--data",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([data.display().to_string()])
    .collect()
}

/// A started node and its API.
async fn start(cluster: &str, id: &str, data: &std::path::Path) -> (Proc, AdminClient) {
    let args = node_args(cluster, id, data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut node = Proc::spawn(&args);
    sim_value(&mut node, "sim_admin_url").await;
    let url = sim_value(&mut node, "api_url").await;
    (node, AdminClient::new(&url).expect("api url"))
}

async fn nodes(api: &AdminClient) -> Value {
    let auth = format!("Bearer {KEY}");
    let (status, body) = api
        .request("GET", "/v1/nodes", &[("Authorization", &auth)], None)
        .await
        .expect("answer");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

/// Each node's `(id, state)`, once `check` accepts them.
async fn until_nodes(api: &AdminClient, check: impl Fn(&[(String, String)]) -> bool) -> Value {
    tokio::time::timeout(GUARD, async {
        loop {
            let listed = nodes(api).await;
            let states: Vec<(String, String)> = listed["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| {
                    let field = |k: &str| n[k].as_str().unwrap_or_default().to_string();
                    (field("id"), field("state"))
                })
                .collect();
            if check(&states) {
                return listed;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the nodes reach the expected states")
}

fn pair(id: &str, state: &str) -> (String, String) {
    (id.to_string(), state.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_see_each_other_join_die_and_leave() {
    let cluster = unique_cluster();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (n1, api1) = start(&cluster, "n1", dirs[0].path()).await;
    let (mut n2, api2) = start(&cluster, "n2", dirs[1].path()).await;

    let listed = until_nodes(&api1, |n| n == [pair("n1", "up"), pair("n2", "up")]).await;
    let second = &listed["nodes"][1];
    assert_eq!(second["url"], "http://10.1.0.1:8080/n2");
    assert_eq!(second["sessions"], 0);
    assert!(second["capacity"].as_u64().unwrap_or(0) > 0, "{second}");
    assert!(second["rss_bytes"].as_u64().unwrap_or(0) > 0, "{second}");
    assert_eq!(listed["cluster"], true);
    until_nodes(&api2, |n| n == [pair("n1", "up"), pair("n2", "up")]).await;

    // A second n1 while the first lives: refused, with the reason.
    let args = node_args(&cluster, "n1", dirs[1].path());
    let mut args = args;
    let at = args.iter().position(|a| a == "--advertise").unwrap() + 1;
    args[at] = "http://10.1.0.9:8080".into();
    let out = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(&args)
        .env("RUST_LOG", "off")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already live"), "{stderr}");

    // A crash: n2 turns dead for n1, and n1 stays ready.
    n2.kill9();
    until_nodes(&api1, |n| n == [pair("n1", "up"), pair("n2", "dead")]).await;
    let (status, _) = api1
        .request("GET", "/readyz", &[], None)
        .await
        .expect("readyz");
    assert_eq!(status, 200);

    // A clean stop: n1 leaves the list at once (checked from a new node).
    assert!(n1.terminate().success());
    let (_n3, api3) = start(&cluster, "n3", dirs[0].path()).await;
    let listed = nodes(&api3).await;
    let ids: Vec<&str> = listed["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert!(!ids.contains(&"n1"), "{listed}");
    drop(_n3);
    forget(&cluster).await;
}
