//! Sessions move between the nodes of a cluster sharing its state
//! (`--postgres`), never running in two places at once:
//! - a node killed with `kill -9`: the others adopt its sessions once its
//!   lease runs out and bring them back from PostgreSQL without a QR,
//!   and a text sent to one meanwhile arrives exactly once; started
//!   again, the node gets its share back from a rebalance
//!   (`POST /v1/cluster/rebalance`);
//! - a webhook a dead node could not deliver is sent by another node
//!   from the shared outbox, once;
//! - a drain (`POST /v1/nodes/{id}/drain`, asked of any node) and a clean
//!   exit (SIGTERM) hand every session to the other nodes;
//! - a node cut off from PostgreSQL stops its sessions before its lease
//!   runs out, the others take them, and it does not start them again
//!   when it is back.
//!
//! Each test ends by asking the simulator for the most connections ever
//! logged in as one device at once: 1.
#![cfg(unix)]

#[allow(dead_code)] // the phone helpers are for other tests
#[path = "interop/admin.rs"]
mod admin;
mod cluster_procs;
mod cluster_support;
mod pg_support;
mod process;
#[allow(dead_code)] // the other receivers are for other tests
mod webhook_receiver;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use admin::AdminClient;
use cluster_procs::{
    call, create, event_stream, start_node, start_sim_with_admin, until, until_up, Node, AUTH,
};
use cluster_support::{forget, unique_cluster};
use serde_json::Value;

/// Heartbeats and leases: renewed every 300 ms, dead after 2 s.
const TIMING: [&str; 4] = ["--heartbeat-interval", "300ms", "--node-dead-after", "2s"];

fn args(postgres: &str) -> Vec<&str> {
    let mut args = vec!["--postgres", postgres];
    args.extend(TIMING);
    args
}

/// The session's status and the node running it, asked of `api`.
async fn where_is(api: &AdminClient, id: &str) -> (String, String) {
    let (_, got) = call(api, "GET", &format!("/v1/sessions/{id}"), None).await;
    (
        got["status"].as_str().unwrap_or_default().to_string(),
        got["node"].as_str().unwrap_or_default().to_string(),
    )
}

/// Waits until session `id` is connected on a node other than `not`;
/// that node.
async fn connected_elsewhere(api: &AdminClient, id: &str, not: &str) -> String {
    until(
        &format!("{id} connected on another node than {not}"),
        || async {
            let (status, node) = where_is(api, id).await;
            (status == "connected" && node != not && !node.is_empty()).then_some(node)
        },
    )
    .await
}

/// Links session `id` (asked through `api`) to a new phone; the phone.
async fn link(api: &AdminClient, sim: &AdminClient, id: &str) -> String {
    process::link_by_api(api, sim, id, &[("Authorization", AUTH)])
        .await
        .0
}

/// How many times `text` appears in `events` once it appeared at all
/// (and stayed a moment longer, so a second copy would be seen).
async fn times_received(events: &Arc<std::sync::Mutex<String>>, text: &str) -> usize {
    until(&format!("{text:?} received"), || {
        let seen = events.lock().unwrap().contains(text);
        async move { seen.then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = events.lock().unwrap();
    seen.matches(text).count()
}

async fn max_concurrent_logins(sim: &AdminClient) -> u64 {
    let (status, body) = sim
        .request("GET", "/sim/connections", &[], None)
        .await
        .expect("an answer");
    assert_eq!(status, 200);
    let report: Value = serde_json::from_slice(&body).expect("JSON");
    report["max_concurrent_per_device"]
        .as_u64()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_sessions_come_back_on_the_others_without_a_qr() {
    let db = pg_support::TestDb::new();
    let (_sim, sim_urls, sim) = start_sim_with_admin().await;
    let cluster = unique_cluster();
    // Three places a node: the survivors of a death are full.
    let mut shared = args(&db.url);
    shared.extend(["--max-sessions", "3"]);
    let mut nodes: Vec<Node> = Vec::new();
    for id in ["n1", "n2", "n3"] {
        nodes.push(start_node(&cluster, id, &sim_urls, &shared).await);
    }
    until_up(&nodes[0].api, 3).await;
    let ids = ["f1", "f2", "f3", "f4", "f5", "f6"];
    let mut phones = Vec::new();
    for id in ids {
        create(&nodes[0].api, id).await;
        phones.push(link(&nodes[0].api, &sim, id).await);
    }
    let mut owners = Vec::new();
    for id in ids {
        owners.push(where_is(&nodes[0].api, id).await.1);
    }
    let victim = owners[0].clone();
    let victims: Vec<usize> = (0..ids.len()).filter(|&i| owners[i] == victim).collect();
    assert_eq!(victims.len(), 2, "least load spreads 2/2/2: {owners:?}");
    // Nodes are n1, n2, n3 in order; any node but the victim answers.
    let victim_index: usize = victim[1..].parse::<usize>().unwrap() - 1;
    let survivor = (victim_index + 1) % nodes.len();
    let events = event_stream(&nodes[survivor].addr);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The victim dies; a friend writes to its sessions' accounts at once.
    nodes[victim_index].proc.kill9();
    let friend = sim.create_phone().await.expect("phone");
    for &i in &victims {
        sim.phone_send(&friend, &phones[i], &format!("while {} was dead", ids[i]))
            .await
            .expect("sent");
    }

    // Each comes back on another node, connected without a QR, and gets
    // the text once.
    let api = &nodes[survivor].api;
    for &i in &victims {
        let now_on = connected_elsewhere(api, ids[i], &victim).await;
        assert_ne!(now_on, victim);
    }
    for &i in &victims {
        let text = format!("while {} was dead", ids[i]);
        assert_eq!(times_received(&events, &text).await, 1, "{text}");
    }
    // Full survivors: each one's alert, naming it, and the cluster's.
    until("the capacity alerts", || {
        let seen = events.lock().unwrap().clone();
        let named = seen.contains("capacity.alert") && seen.contains(r#""node":"n"#);
        async move { (named && seen.contains("capacity.cluster_alert")).then_some(()) }
    })
    .await;
    // The survivors' own sessions never moved.
    for (i, id) in ids.iter().enumerate() {
        if owners[i] != victim {
            assert_eq!(
                where_is(api, id).await,
                ("connected".into(), owners[i].clone())
            );
        }
    }

    // The victim comes back, empty; a rebalance gives it its share.
    nodes[victim_index] = start_node(&cluster, &victim, &sim_urls, &shared).await;
    let api = &nodes[survivor].api;
    until_up(api, 3).await;
    until("the survivors' loads heartbeated", || async {
        let (_, listed) = call(api, "GET", "/v1/nodes", None).await;
        let total: u64 = listed["nodes"]
            .as_array()?
            .iter()
            .filter_map(|n| n["sessions"].as_u64())
            .sum();
        (total == ids.len() as u64).then_some(())
    })
    .await;
    let (status, rebalanced) = call(api, "POST", "/v1/cluster/rebalance", None).await;
    assert_eq!(status, 200, "{rebalanced}");
    let moves = rebalanced["moves"].as_array().expect("moves");
    let moved: u64 = moves.iter().filter_map(|m| m["moved"].as_u64()).sum();
    assert_eq!(moved, 2, "each survivor gives one back: {rebalanced}");
    assert!(
        moves.iter().all(|m| m["to"] == victim.as_str()),
        "{rebalanced}"
    );
    let back: Vec<usize> = until("the restarted node runs its share", || async {
        let mut on_victim = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let (status, node) = where_is(api, id).await;
            if status != "connected" {
                return None;
            }
            if node == victim {
                on_victim.push(i);
            }
        }
        (on_victim.len() == 2).then_some(on_victim)
    })
    .await;
    // The cluster's capacity, once every node heartbeated its load.
    until("the cluster's capacity summed", || async {
        let (_, capacity) = call(api, "GET", "/v1/capacity", None).await;
        let cluster = &capacity["cluster"];
        let even = cluster["nodes"]
            .as_array()?
            .iter()
            .all(|n| n["sessions"] == 2 && n["max_sessions"] == 3);
        (cluster["sessions"] == 6 && cluster["max_sessions"] == 9 && even).then_some(())
    })
    .await;
    until("the cluster's alert cleared", || {
        let seen = events
            .lock()
            .unwrap()
            .contains("capacity.cluster_recovered");
        async move { seen.then_some(()) }
    })
    .await;
    let text = format!("after the rebalance, to {}", ids[back[0]]);
    sim.phone_send(&friend, &phones[back[0]], &text)
        .await
        .expect("sent");
    assert_eq!(times_received(&events, &text).await, 1, "{text}");
    assert_eq!(max_concurrent_logins(&sim).await, 1);
    drop(nodes);
    forget(&cluster).await;
}

/// Waits for the webhook receiver to report a delivery answered `status`
/// whose body holds `text`.
async fn delivery_of(
    deliveries: &mut tokio::sync::mpsc::UnboundedReceiver<(u16, webhook_receiver::Delivery)>,
    status: u16,
    text: &str,
) {
    let wait = async {
        while let Some((answered, delivery)) = deliveries.recv().await {
            if answered == status && delivery.body.contains(text) {
                return;
            }
        }
        panic!("the receiver stopped");
    };
    tokio::time::timeout(process::GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("no delivery of {text:?} answered {status}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_a_dead_node_left_are_sent_by_the_others() {
    let db = pg_support::TestDb::new();
    let (_sim, sim_urls, sim) = start_sim_with_admin().await;
    let cluster = unique_cluster();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let text = "sent while the webhook was down";
    let receiving = Arc::new(AtomicBool::new(true));
    let switch = receiving.clone();
    // Only the text's delivery fails while the switch is off: any other
    // event failing at the head of the queue would hold it back.
    let mut deliveries = webhook_receiver::answering(listener, None, move |delivery| {
        if switch.load(Ordering::Relaxed) || !delivery.body.contains(text) {
            200
        } else {
            503
        }
    });
    let mut shared = args(&db.url);
    shared.extend(["--webhook-url", hook.as_str()]);
    let n1 = start_node(&cluster, "n1", &sim_urls, &shared).await;
    let n2 = start_node(&cluster, "n2", &sim_urls, &shared).await;
    until_up(&n1.api, 2).await;
    create(&n1.api, "w1").await;
    let phone = link(&n1.api, &sim, "w1").await;
    let (mut dying, surviving) = match where_is(&n1.api, "w1").await.1.as_str() {
        "n1" => (n1, n2),
        _ => (n2, n1),
    };

    // The receiver fails; a text comes; its node's first attempt fails,
    // and the node dies with the delivery pending.
    receiving.store(false, Ordering::Relaxed);
    let friend = sim.create_phone().await.expect("phone");
    sim.phone_send(&friend, &phone, text).await.expect("sent");
    delivery_of(&mut deliveries, 503, text).await;
    // Its failure recorded (the next attempt is a second away).
    tokio::time::sleep(Duration::from_millis(300)).await;
    dying.proc.kill9();
    receiving.store(true, Ordering::Relaxed);

    // The other node sends it, once.
    delivery_of(&mut deliveries, 200, text).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut again = 0;
    while let Ok((status, delivery)) = deliveries.try_recv() {
        again += usize::from(status == 200 && delivery.body.contains(text));
    }
    assert_eq!(again, 0, "delivered twice");
    let (_, session) = call(&surviving.api, "GET", "/v1/sessions/w1", None).await;
    assert_eq!(session["status"], "connected", "{session}");
    assert_eq!(max_concurrent_logins(&sim).await, 1);
    drop((dying, surviving));
    forget(&cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_and_sigterm_hand_every_session_over() {
    let db = pg_support::TestDb::new();
    let (_sim, sim_urls, sim) = start_sim_with_admin().await;
    let cluster = unique_cluster();
    let shared = args(&db.url);
    let n1 = start_node(&cluster, "n1", &sim_urls, &shared).await;
    let n2 = start_node(&cluster, "n2", &sim_urls, &shared).await;
    until_up(&n1.api, 2).await;
    let ids = ["d1", "d2", "d3", "d4"];
    let mut phones = Vec::new();
    for id in ids {
        create(&n1.api, id).await;
        phones.push(link(&n1.api, &sim, id).await);
    }

    // An unknown node: 404.
    let (status, answer) = call(&n2.api, "POST", "/v1/nodes/nope/drain", None).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("node_not_found"))
    );
    // n1 drained, asked through n2: every session goes to n2.
    let (status, drained) = call(&n2.api, "POST", "/v1/nodes/n1/drain", None).await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["node"], "n1", "{drained}");
    assert_eq!(drained["sessions"], 2, "{drained}");
    for id in ids {
        assert_eq!(connected_elsewhere(&n2.api, id, "n1").await, "n2");
    }
    let (_, listed) = call(&n2.api, "GET", "/v1/nodes", None).await;
    let n1_state = listed["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "n1"))
        .map(|n| n["state"].clone());
    assert_eq!(n1_state, Some(Value::from("draining")), "{listed}");
    // A drained node takes no new session.
    create(&n2.api, "d5").await;
    assert_eq!(where_is(&n2.api, "d5").await.1, "n2");

    // A text still reaches a moved session, once.
    let events = event_stream(&n2.addr);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let friend = sim.create_phone().await.expect("phone");
    sim.phone_send(&friend, &phones[0], "after the drain")
        .await
        .expect("sent");
    assert_eq!(times_received(&events, "after the drain").await, 1);

    // n3 joins; n2 gets SIGTERM: its sessions go to n3 (n1 is draining).
    let n3 = start_node(&cluster, "n3", &sim_urls, &shared).await;
    until("n3 up", || async {
        let (_, listed) = call(&n1.api, "GET", "/v1/nodes", None).await;
        listed["nodes"]
            .as_array()?
            .iter()
            .any(|n| n["id"] == "n3" && n["state"] == "up")
            .then_some(())
    })
    .await;
    assert!(n2.proc.terminate().success());
    for id in ids {
        assert_eq!(connected_elsewhere(&n3.api, id, "n2").await, "n3");
    }
    assert_eq!(max_concurrent_logins(&sim).await, 1);
    drop((n1, n3));
    forget(&cluster).await;
}

/// A TCP relay to PostgreSQL that the test can cut: while cut, every
/// connection through it is closed and new ones are closed at once.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::Relaxed) {
                    continue; // dropped: closed at once
                }
                let target = target.clone();
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let piping = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    tokio::pin!(piping);
                    loop {
                        tokio::select! {
                            _ = &mut piping => return,
                            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                                if flag.load(Ordering::Relaxed) {
                                    return; // both sockets close
                                }
                            }
                        }
                    }
                });
            }
        });
        Relay { port, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::Relaxed);
    }
}

/// `url` (postgres://user@host:port/db) through `127.0.0.1:port`, and
/// the `host:port` it named.
fn through(url: &str, port: u16) -> (String, String) {
    let authority_start = url
        .find('@')
        .map_or(url.find("://").unwrap() + 3, |at| at + 1);
    let rest = &url[authority_start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let target = rest[..authority_end].to_string();
    let relayed = format!(
        "{}127.0.0.1:{port}{}",
        &url[..authority_start],
        &rest[authority_end..]
    );
    (relayed, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_its_store_stops_before_the_others_take_over() {
    let db = pg_support::TestDb::new();
    let (_sim, sim_urls, sim) = start_sim_with_admin().await;
    let cluster = unique_cluster();
    let (_, target) = through(&db.url, 0);
    let relay = Relay::start(target).await;
    let (relayed, _) = through(&db.url, relay.port);
    let n1 = start_node(&cluster, "n1", &sim_urls, &args(&relayed)).await;
    let n2 = start_node(&cluster, "n2", &sim_urls, &args(&db.url)).await;
    until_up(&n2.api, 2).await;
    let ids = ["c1", "c2"];
    for id in ids {
        create(&n2.api, id).await;
        link(&n2.api, &sim, id).await;
    }
    let on_n1: Vec<&str> = {
        let mut on = Vec::new();
        for id in ids {
            if where_is(&n2.api, id).await.1 == "n1" {
                on.push(id);
            }
        }
        on
    };
    assert_eq!(on_n1.len(), 1, "one session each");

    // n1 loses PostgreSQL: it stops its session, n2 takes it over.
    relay.set_cut(true);
    for id in &on_n1 {
        assert_eq!(connected_elsewhere(&n2.api, id, "n1").await, "n2");
    }
    // n1 comes back: it renews its lease but leaves the session to n2.
    relay.set_cut(false);
    until("n1 ready again", || async {
        let (status, _) = call(&n1.api, "GET", "/readyz", None).await;
        (status == 200).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in &on_n1 {
        let (status, asked) = n1
            .api
            .request(
                "GET",
                &format!("/v1/sessions/{id}"),
                &[("Authorization", AUTH), ("X-Wasp-Forwarded", "test")],
                None,
            )
            .await
            .expect("an answer");
        let asked: Value = serde_json::from_slice(&asked).expect("JSON");
        assert_eq!(status, 200);
        assert_ne!(asked["status"], "connected", "n1 runs it no more: {asked}");
        assert_eq!(
            where_is(&n2.api, id).await,
            ("connected".into(), "n2".into())
        );
    }
    assert_eq!(max_concurrent_logins(&sim).await, 1);
    drop((n1, n2));
    forget(&cluster).await;
}
