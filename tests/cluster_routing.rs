//! Any node answers for any session: `wasp serve --redis` nodes as
//! separate processes sharing one `wasp sim` and one Redis. Sessions
//! created through one node are spread by least load; a request about a
//! session on the other node is forwarded there and answered as if
//! asked there; the session list of any node holds every node's; a
//! delete through either node frees the id; an id another node holds is
//! refused; a session whose node died answers 503 `node_unavailable`.
#![cfg(unix)]

#[allow(dead_code)] // the phone helpers are for other tests
#[path = "interop/admin.rs"]
mod admin;
mod cluster_procs;
mod cluster_support;
mod pg_support;
mod process;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_procs::{
    call, create, event_stream, local_ids, start_node, start_node_on, start_sim, until, until_up,
};
use cluster_support::{forget, unique_cluster};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_answers_for_any_session() {
    let (_sim, sim_urls) = start_sim().await;
    let cluster = unique_cluster();
    let n1 = start_node(&cluster, "n1", &sim_urls, &[]).await;
    let mut n2 = start_node(&cluster, "n2", &sim_urls, &[]).await;
    until("both nodes up", || async {
        let (_, listed) = call(&n1.api, "GET", "/v1/nodes", None).await;
        let up = listed["nodes"]
            .as_array()?
            .iter()
            .filter(|n| n["state"] == "up")
            .count();
        (up == 2).then_some(())
    })
    .await;

    // n1's event stream, open before anything happens.
    let events = event_stream(&n1.addr);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Four sessions created through n1 spread two and two.
    for id in ["s1", "s2", "s3", "s4"] {
        let (status, created) = call(
            &n1.api,
            "POST",
            "/v1/sessions",
            Some(&format!(r#"{{"id": "{id}"}}"#)),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["id"], id);
    }
    let on_n1 = local_ids(&n1.api).await;
    let on_n2 = local_ids(&n2.api).await;
    assert_eq!((on_n1.len(), on_n2.len()), (2, 2), "{on_n1:?} {on_n2:?}");

    // Either node lists all four, each with its node.
    for api in [&n1.api, &n2.api] {
        let (status, listed) = call(api, "GET", "/v1/sessions", None).await;
        assert_eq!(status, 200);
        let nodes: BTreeMap<String, String> = listed
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().into(),
                    s["node"].as_str().unwrap_or("").into(),
                )
            })
            .collect();
        for id in &on_n2 {
            assert_eq!(nodes.get(id).map(String::as_str), Some("n2"), "{listed}");
        }
        assert_eq!(nodes.len(), 4, "{listed}");
    }

    // n2's sessions' events reach n1's stream (through Redis).
    for id in &on_n2 {
        let needle = format!("\"session\":\"{id}\"");
        until("n2's events on n1's stream", || {
            let found = events.lock().unwrap().contains(&needle);
            async move { found.then_some(()) }
        })
        .await;
    }

    // A session on n2, asked through n1: forwarded, answered by n2.
    let theirs = &on_n2[0];
    let (status, got) = call(&n1.api, "GET", &format!("/v1/sessions/{theirs}"), None).await;
    assert_eq!((status, got["node"].as_str()), (200, Some("n2")), "{got}");
    // Its id is taken cluster-wide: created again through n1, refused.
    let (status, refused) = call(
        &n1.api,
        "POST",
        "/v1/sessions",
        Some(&format!(r#"{{"id": "{theirs}"}}"#)),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("session_exists")),
        "{refused}"
    );
    // Deleted through n1: gone from n2, and the id is free again.
    let (status, _) = call(&n1.api, "DELETE", &format!("/v1/sessions/{theirs}"), None).await;
    assert_eq!(status, 204);
    assert!(!local_ids(&n2.api).await.contains(theirs));
    let (status, _) = call(&n1.api, "GET", &format!("/v1/sessions/{theirs}"), None).await;
    assert_eq!(status, 404);

    // n2 dies: its other session answers 503 through n1 (no failover yet).
    let survivor = on_n2[1].clone();
    n2.proc.kill9();
    let answer = until("n2's death seen", || async {
        let (status, answer) =
            call(&n1.api, "GET", &format!("/v1/sessions/{survivor}"), None).await;
        (status == 503).then_some(answer)
    })
    .await;
    assert_eq!(answer["error"], "node_unavailable", "{answer}");
    drop(n1);
    forget(&cluster).await;
}

/// Nodes sharing one PostgreSQL (`--postgres`) see every session's
/// record, yet each restores only the sessions it runs: a node that
/// crashed and came back before its lease ran out takes back its own and
/// leaves the other's alone, and the cluster's list still holds each
/// session once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_postgres_restore_only_their_own_sessions() {
    let db = pg_support::TestDb::new();
    let (_sim, sim_urls) = start_sim().await;
    let cluster = unique_cluster();
    let shared = ["--postgres", db.url.as_str()];
    // n2's lease outlives its crash and restart: n1 never takes its
    // sessions over.
    let n2_args = ["--postgres", db.url.as_str(), "--node-dead-after", "60s"];
    let n1 = start_node(&cluster, "n1", &sim_urls, &shared).await;
    let mut n2 = start_node(&cluster, "n2", &sim_urls, &n2_args).await;
    until_up(&n1.api, 2).await;
    for id in ["p1", "p2", "p3", "p4"] {
        create(&n1.api, id).await;
    }
    let mut on_n1 = local_ids(&n1.api).await;
    let mut on_n2 = local_ids(&n2.api).await;
    on_n1.sort();
    on_n2.sort();
    assert_eq!((on_n1.len(), on_n2.len()), (2, 2), "{on_n1:?} {on_n2:?}");
    let (_, listed) = call(&n1.api, "GET", "/v1/sessions", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");

    // n2 crashes and restarts (a new data directory: its state is in
    // PostgreSQL).
    n2.proc.kill9();
    let port = n2
        .addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let n2 = start_node_on(port, &cluster, "n2", &sim_urls, &n2_args).await;
    until_up(&n1.api, 2).await;
    let restored = until("n2 restores its sessions", || async {
        let mut ids = local_ids(&n2.api).await;
        ids.sort();
        (ids.len() == 2).then_some(ids)
    })
    .await;
    assert_eq!(restored, on_n2, "n2 took back its own, and only those");
    // And runs no other: once restored, its heartbeats count two.
    until("n2 restored", || async {
        let (status, _) = call(&n2.api, "GET", "/readyz", None).await;
        (status == 200).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, nodes) = call(&n1.api, "GET", "/v1/nodes", None).await;
    let running = nodes["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "n2"))
        .map(|n| n["sessions"].clone());
    assert_eq!(running, Some(Value::from(2)), "{nodes}");
    let (_, listed) = call(&n2.api, "GET", "/v1/sessions", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");
    for id in &on_n1 {
        let (status, got) = call(&n2.api, "GET", &format!("/v1/sessions/{id}"), None).await;
        assert_eq!((status, got["node"].as_str()), (200, Some("n1")), "{got}");
    }
    drop((n1, n2));
    forget(&cluster).await;
}

/// A node started with `--no-sessions` runs none: every session created
/// through it goes to the nodes that do, and it answers for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_sessions_routes_to_the_others() {
    let (_sim, sim_urls) = start_sim().await;
    let cluster = unique_cluster();
    let n1 = start_node(&cluster, "n1", &sim_urls, &[]).await;
    let router = start_node(&cluster, "r0", &sim_urls, &["--no-sessions"]).await;
    until_up(&router.api, 2).await;
    for id in ["r1", "r2", "r3"] {
        create(&router.api, id).await;
    }
    assert_eq!(local_ids(&router.api).await, Vec::<String>::new());
    assert_eq!(local_ids(&n1.api).await.len(), 3);
    let (status, got) = call(&router.api, "GET", "/v1/sessions/r2", None).await;
    assert_eq!((status, got["node"].as_str()), (200, Some("n1")), "{got}");
    let (_, nodes) = call(&router.api, "GET", "/v1/nodes", None).await;
    let r0 = nodes["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "r0"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(r0["capacity"], 0, "{nodes}");
    drop((n1, router));
    forget(&cluster).await;
}
