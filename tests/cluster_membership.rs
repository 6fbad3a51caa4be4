//! Cluster membership and placement against a real Redis (127.0.0.1:6379,
//! or `WASP_TEST_REDIS`; `.ci/run` starts one when none runs): nodes
//! join and heartbeat, are listed with their load and go dead when they
//! fall silent; a node id live elsewhere, a node of another version or
//! another API key are refused; new sessions go to the least-loaded live node and
//! concurrent placements from every node never exceed a node's capacity;
//! an unreachable Redis is a clear error naming it.
//!
//! Each test works under its own key prefix and removes it.

mod cluster_support;

use std::time::Duration;

use cluster_support::{forget as clean, redis_url, unique_cluster as prefix};
use wasp::cluster::{Cluster, ClusterConfig, ClusterError, NodeLoad, NodeState};

async fn node(prefix: &str, id: &str, dead_after: Duration) -> Cluster {
    let mut config = ClusterConfig::new(&redis_url(), id, &format!("http://10.0.0.1:80/{id}"));
    config.prefix = prefix.to_string();
    config.dead_after = dead_after;
    Cluster::connect(config)
        .await
        .expect("Redis runs (start redis-server, or set WASP_TEST_REDIS)")
}

fn load(capacity: u64) -> NodeLoad {
    running(0, capacity)
}

fn running(sessions: u64, capacity: u64) -> NodeLoad {
    NodeLoad {
        sessions,
        capacity,
        memory_limit: 0,
        rss_bytes: 1 << 20,
    }
}

#[tokio::test]
async fn nodes_join_heartbeat_and_go_dead_when_silent() {
    let prefix = prefix();
    let a = node(&prefix, "a", Duration::from_millis(800)).await;
    let b = node(&prefix, "b", Duration::from_millis(800)).await;
    a.join(running(2, 100)).await.expect("a joins");
    b.join(load(50)).await.expect("b joins");

    let nodes = a.nodes().await.expect("list");
    let ids: Vec<_> = nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(nodes.iter().all(|n| n.state == NodeState::Up), "{nodes:?}");
    assert_eq!((nodes[0].sessions, nodes[0].capacity), (2, 100));
    assert_eq!((nodes[1].sessions, nodes[1].capacity), (0, 50));
    assert_eq!(nodes[1].url, "http://10.0.0.1:80/b");

    // a keeps beating (now with 3 sessions), b falls silent.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(a.heartbeat(running(3, 100)).await.expect("beat"), "a alive");
    }
    let nodes = b.nodes().await.expect("list");
    assert_eq!(nodes[0].state, NodeState::Up);
    assert_eq!((nodes[0].sessions, nodes[0].rss_bytes), (3, 1 << 20));
    assert_eq!(nodes[1].state, NodeState::Dead, "{nodes:?}");
    // Its next heartbeat finds it given up for dead: it must join again.
    assert!(!b.heartbeat(load(50)).await.expect("beat"));
    b.join(load(50)).await.expect("b joins again");
    b.set_draining(true).await.expect("drain");
    let nodes = a.nodes().await.expect("list");
    assert_eq!(nodes[1].state, NodeState::Draining);

    // A clean exit leaves the list at once.
    b.leave().await.expect("leave");
    let ids: Vec<_> = a
        .nodes()
        .await
        .expect("list")
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(ids, ["a"]);
    clean(&prefix).await;
}

#[tokio::test]
async fn a_live_id_elsewhere_and_another_version_are_refused() {
    let prefix = prefix();
    let first = node(&prefix, "n1", Duration::from_secs(15)).await;
    first.join(load(10)).await.expect("joins");
    // Same id, another URL, while the first is alive.
    let mut config = ClusterConfig::new(&redis_url(), "n1", "http://10.0.0.2:8080");
    config.prefix = prefix.clone();
    let twin = Cluster::connect(config).await.expect("connects");
    let refused = twin.join(load(10)).await.expect_err("taken");
    assert!(
        matches!(&refused, ClusterError::Refused(why) if why.contains("already live")),
        "{refused}"
    );
    // Another version.
    let mut config = ClusterConfig::new(&redis_url(), "n2", "http://10.0.0.3:8080");
    config.prefix = prefix.clone();
    config.version = "0.0.0-other".into();
    let other = Cluster::connect(config).await.expect("connects");
    let refused = other.join(load(10)).await.expect_err("version");
    assert!(
        matches!(&refused, ClusterError::Refused(why) if why.contains("same version")),
        "{refused}"
    );
    // Another API key (its digest): its forwarded requests would fail.
    let mut config = ClusterConfig::new(&redis_url(), "n3", "http://10.0.0.4:8080");
    config.prefix = prefix.clone();
    config.key_check = "0123456789abcdef".into();
    let stranger = Cluster::connect(config).await.expect("connects");
    let refused = stranger.join(load(10)).await.expect_err("key");
    assert!(
        matches!(&refused, ClusterError::Refused(why) if why.contains("same key")),
        "{refused}"
    );
    clean(&prefix).await;
}

#[tokio::test]
async fn sessions_go_to_the_least_loaded_node_and_never_past_capacity() {
    let prefix = prefix();
    let mut nodes = Vec::new();
    // a already runs 3 of its 5: the next goes elsewhere.
    for (id, sessions) in [("a", 3), ("b", 0), ("c", 0)] {
        let n = node(&prefix, id, Duration::from_secs(15)).await;
        n.join(running(sessions, 5)).await.expect("joins");
        nodes.push(n);
    }
    let first = nodes[0].place().await.expect("place").expect("room");
    assert_ne!(first.node, "a", "a is the most loaded");
    assert_eq!(first.url, format!("http://10.0.0.1:80/{}", first.node));
    nodes[0].release_place(&first.node).await.expect("release");

    // 40 creates at once, from all three nodes: exactly the 12 places
    // left are handed out, none twice.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let n = nodes[i % 3].clone();
        tasks.push(tokio::spawn(async move { n.place().await.expect("place") }));
    }
    let mut placed = std::collections::BTreeMap::<String, u64>::new();
    for task in tasks {
        if let Some(place) = task.await.expect("task") {
            *placed.entry(place.node).or_default() += 1;
        }
    }
    assert_eq!(placed.values().sum::<u64>(), 12, "{placed:?}");
    assert_eq!(placed.get("a"), Some(&2), "{placed:?}");
    let listed = nodes[1].nodes().await.expect("list");
    for n in &listed {
        assert_eq!(n.sessions + n.reserved, 5, "{n:?}");
    }
    // Reservations become sessions; a full cluster places nothing.
    nodes[1].placed_session_started("b").await.expect("settle");
    let b = &nodes[1].nodes().await.expect("list")[1];
    assert_eq!((b.sessions, b.reserved), (1, 4));
    assert_eq!(nodes[2].place().await.expect("place"), None);

    // A draining node takes none; a dead one neither.
    nodes[1].release_place("b").await.expect("release");
    nodes[1].set_draining(true).await.expect("drain");
    assert_eq!(nodes[2].place().await.expect("place"), None);
    nodes[1].set_draining(false).await.expect("up");
    let place = nodes[2].place().await.expect("place").map(|p| p.node);
    assert_eq!(place.as_deref(), Some("b"));
    clean(&prefix).await;
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let config = ClusterConfig::new("redis://user:hunter2@127.0.0.1:1/0", "n1", "http://x");
    let err = Cluster::connect(config).await.expect_err("nothing listens");
    let text = err.to_string();
    assert!(text.contains("Redis at redis://…@127.0.0.1:1/0"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let bad = ClusterConfig::new(&redis_url(), "no spaces", "http://x");
    assert!(matches!(
        Cluster::connect(bad).await,
        Err(ClusterError::Config(_))
    ));
}
