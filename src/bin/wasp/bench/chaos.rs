//! `wasp bench --cluster N --chaos SECS`: the cluster under fire. Starts
//! the simulator and N nodes (as `failover`), links the sessions, then:
//! - idle: Redis commands and PostgreSQL commits per session and minute;
//! - steady: a burst of texts from phones to the sessions, to count
//!   PostgreSQL commits per text received;
//! - chaos: phones text the sessions all the time while, every
//!   `--kill-every` seconds, the busiest node is killed with SIGKILL,
//!   its sessions are timed until connected elsewhere, the node is
//!   started again and the cluster rebalanced (`POST
//!   /v1/cluster/rebalance`); every second the sessions per node are
//!   sampled (the plot).
//!
//! Every text is counted where users receive it: the nodes' global
//! webhook, served here. A text the phone sent that never arrives is
//! lost; one that arrives as two deliveries (two outbox rows) was
//! received twice; the same delivery sent again (a node died while
//! sending it) is counted apart, as a webhook redelivery.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::cluster::{
    kill_busiest, node_args, percentiles, query_number, wait_nodes_up, with_own_database, Nodes,
};
use super::http::Http;
use super::procs::Sim;

/// What to run.
pub struct Plan<'a> {
    pub nodes: usize,
    pub sessions: usize,
    /// Length of the chaos phase.
    pub secs: u64,
    pub kill_every: u64,
    /// Texts per second the phones send during the chaos phase.
    pub rate: u32,
    pub concurrency: usize,
    pub redis: &'a str,
    pub postgres: &'a str,
    pub data: &'a Path,
}

/// Sessions per node at one moment of the chaos phase.
#[derive(Serialize)]
pub struct Sample {
    pub secs: f64,
    pub sessions: BTreeMap<String, u64>,
}

#[derive(Serialize)]
pub struct ChaosReport {
    pub profile: &'static str,
    pub nodes: usize,
    pub sessions: usize,
    pub chaos_secs: u64,
    pub kills: usize,
    /// From each kill to each moved session connected on another node.
    pub failover_p50_secs: f64,
    pub failover_p99_secs: f64,
    pub failover_max_secs: f64,
    pub texts_sent: usize,
    pub texts_lost: usize,
    pub texts_received_twice: usize,
    pub webhook_redeliveries: usize,
    pub max_concurrent_logins_per_device: u64,
    pub idle_redis_commands_per_session_minute: f64,
    pub idle_postgres_commits_per_session_minute: f64,
    /// PostgreSQL commits per text received, idle commits taken out.
    pub postgres_commits_per_text: f64,
    pub steady_texts: usize,
    pub steady_received_per_sec: f64,
    pub samples: Vec<Sample>,
}

/// Idle window measured.
const IDLE: Duration = Duration::from_secs(30);
/// Texts of the steady phase.
const STEADY_TEXTS: usize = 500;
/// How long lost texts are waited for once the chaos is over.
const SETTLE: Duration = Duration::from_secs(120);

pub async fn run(plan: &Plan<'_>) -> anyhow::Result<ChaosReport> {
    if plan.nodes < 2 {
        bail!("--chaos needs at least 2 nodes: one dies, another takes over");
    }
    with_own_database(plan.postgres, |url, database| async move {
        run_on(plan, &url, &database).await
    })
    .await
}

async fn run_on(plan: &Plan<'_>, postgres: &str, database: &str) -> anyhow::Result<ChaosReport> {
    let hooks = Receiver::start().await?;
    let sim = Sim::start().await.context("starting the simulator")?;
    let admin = Http::new(&sim.admin_url)?;
    let cluster = format!("wasp-chaos-{database}");
    let args = node_args(
        plan.redis,
        postgres,
        &cluster,
        plan.sessions,
        plan.nodes,
        &["--webhook-url", &hooks.url],
    );
    let mut nodes = Nodes::start(&sim, plan.nodes, args, plan.data).await?;
    let phones =
        super::link_many(&nodes.api(0)?, &admin, 0, plan.sessions, plan.concurrency).await?;
    let phones: Vec<String> = phones.into_iter().map(|(_, phone)| phone).collect();
    eprintln!("{} sessions linked", plan.sessions);

    // Idle, once the webhooks of the linking are delivered.
    let entry = nodes.api(0)?;
    super::poll(|| async {
        let (_, metrics) = entry.get_text("/metrics").await?;
        let pending = metrics
            .lines()
            .find_map(|l| l.strip_prefix("wasp_webhooks_pending "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        Ok((pending == Some(0.0)).then_some(()))
    })
    .await
    .context("the linking's webhooks never all went out")?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let commits = format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'");
    let redis_before = redis_commands(plan.redis).await?;
    let pg_before = query_number(postgres, &commits).await?.unwrap_or(0);
    tokio::time::sleep(IDLE).await;
    let redis_idle = redis_commands(plan.redis)
        .await?
        .saturating_sub(redis_before);
    let pg_idle = query_number(postgres, &commits).await?.unwrap_or(0) - pg_before;
    let per_session_minute = |n: f64| n / plan.sessions.max(1) as f64 / (IDLE.as_secs_f64() / 60.0);
    let idle_redis = per_session_minute(redis_idle as f64);
    let idle_pg = per_session_minute(pg_idle as f64);
    eprintln!("idle: {idle_redis:.2} Redis commands and {idle_pg:.2} PostgreSQL commits per session and minute");

    // Steady: a burst of texts, PostgreSQL commits counted.
    let friends = Friends::new(&admin, 8).await?;
    let pg_before = query_number(postgres, &commits).await?.unwrap_or(0);
    let started = Instant::now();
    let steady = friends
        .send_burst(&admin, &phones, STEADY_TEXTS, plan.concurrency)
        .await?;
    hooks.wait_for(&steady, SETTLE).await;
    let steady_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await; // statistics flushed
    let pg_steady = query_number(postgres, &commits).await?.unwrap_or(0) - pg_before;
    let idle_share = pg_idle as f64 * (started.elapsed().as_secs_f64() / IDLE.as_secs_f64());
    let commits_per_text = (pg_steady as f64 - idle_share).max(0.0) / STEADY_TEXTS as f64;
    let steady_rate = STEADY_TEXTS as f64 / steady_secs;
    eprintln!("steady: {STEADY_TEXTS} texts received at {steady_rate:.0}/s, {commits_per_text:.2} PostgreSQL commits per text");

    // Chaos.
    let sending = Arc::new(AtomicBool::new(true));
    let sender = tokio::spawn(friends.send_steadily(
        Http::new(&sim.admin_url)?,
        phones.clone(),
        plan.rate,
        sending.clone(),
    ));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let chaos_start = Instant::now();
    let sampler = tokio::spawn(sample(
        (0..nodes.len())
            .map(|i| nodes.api(i))
            .collect::<anyhow::Result<Vec<_>>>()?,
        chaos_start,
        samples.clone(),
        sampling.clone(),
    ));
    let mut kills = 0;
    let mut failover = Vec::new();
    let end = chaos_start + Duration::from_secs(plan.secs);
    loop {
        let next = chaos_start + Duration::from_secs(plan.kill_every * (kills as u64 + 1));
        if next >= end {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        let killed = kill_busiest(&mut nodes).await?;
        kills += 1;
        let (p50, _, max) = percentiles(&killed.times);
        eprintln!(
            "{:.0}s: killed {} ({} sessions), back in p50 {p50:.1}s max {max:.1}s",
            chaos_start.elapsed().as_secs_f64(),
            killed.id,
            killed.times.len()
        );
        failover.extend(killed.times);
        nodes.restart(&sim, killed.index).await?;
        let api = killed.survivor;
        wait_nodes_up(&api, plan.nodes).await?;
        let rebalanced = api.json("POST", "/v1/cluster/rebalance", None).await?;
        let moved_back: u64 = rebalanced["moves"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["moved"].as_u64()).sum())
            .unwrap_or(0);
        eprintln!(
            "rebalanced: {moved_back} sessions moved ({})",
            rebalanced["moves"]
        );
    }
    tokio::time::sleep_until(end.into()).await;
    sending.store(false, Ordering::Relaxed);
    let sent = sender.await.context("the sender")??;
    hooks.wait_for(&sent, SETTLE).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let count = hooks.count(&sent);
    for text in hooks.missing(&sent) {
        eprintln!("never delivered: {text:?}");
    }
    let (_, connections) = admin.get("/sim/connections").await?;
    let max_concurrent = connections["max_concurrent_per_device"]
        .as_u64()
        .unwrap_or(0);
    nodes.kill_all().await;
    sim.stop().await;
    let (p50, p99, max) = percentiles(&failover);
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(ChaosReport {
        profile: super::profile(),
        nodes: plan.nodes,
        sessions: plan.sessions,
        chaos_secs: plan.secs,
        kills,
        failover_p50_secs: p50,
        failover_p99_secs: p99,
        failover_max_secs: max,
        texts_sent: sent.len(),
        texts_lost: count.lost,
        texts_received_twice: count.twice,
        webhook_redeliveries: count.redelivered,
        max_concurrent_logins_per_device: max_concurrent,
        idle_redis_commands_per_session_minute: idle_redis,
        idle_postgres_commits_per_session_minute: idle_pg,
        postgres_commits_per_text: commits_per_text,
        steady_texts: STEADY_TEXTS,
        steady_received_per_sec: steady_rate,
        samples,
    })
}

/// Redis's count of commands processed since it started.
async fn redis_commands(url: &str) -> anyhow::Result<u64> {
    let client = redis::Client::open(url).with_context(|| format!("Redis at {url}"))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("Redis at {url}"))?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await?;
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .context("INFO stats without total_commands_processed")
}

/// Every second until told to stop: each node's sessions, from the first
/// node that answers.
async fn sample(
    apis: Vec<Http>,
    start: Instant,
    into: Arc<Mutex<Vec<Sample>>>,
    running: Arc<AtomicBool>,
) {
    while running.load(Ordering::Relaxed) {
        for api in &apis {
            let Ok((200, listed)) = api.get("/v1/nodes").await else {
                continue;
            };
            let sessions = listed["nodes"]
                .as_array()
                .map(|nodes| {
                    nodes
                        .iter()
                        .filter_map(|n| {
                            let live = n["state"] != "dead";
                            Some((
                                n["id"].as_str()?.to_string(),
                                if live { n["sessions"].as_u64()? } else { 0 },
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let secs = start.elapsed().as_secs_f64();
            into.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Sample { secs, sessions });
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The phones that text the sessions.
#[derive(Clone)]
struct Friends {
    phones: Vec<String>,
    next: Arc<AtomicUsize>,
}

impl Friends {
    async fn new(admin: &Http, count: usize) -> anyhow::Result<Friends> {
        let mut phones = Vec::new();
        for _ in 0..count {
            let phone = admin
                .json("POST", "/sim/phones", Some(serde_json::json!({})))
                .await?;
            phones.push(phone["phone"].as_str().context("no phone")?.to_string());
        }
        Ok(Friends {
            phones,
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Sends text number `n` to the account of session `n` (mod the
    /// sessions); the text, once the simulator took it.
    async fn send(&self, admin: &Http, to: &[String], n: usize) -> anyhow::Result<String> {
        let from = &self.phones[n % self.phones.len()];
        let text = format!("chaos text {n}");
        admin
            .json(
                "POST",
                &format!("/sim/phones/{from}/messages"),
                Some(serde_json::json!({ "to": to[n % to.len()], "text": text })),
            )
            .await?;
        Ok(text)
    }

    async fn send_burst(
        &self,
        admin: &Http,
        to: &[String],
        count: usize,
        concurrency: usize,
    ) -> anyhow::Result<Vec<String>> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        stream::iter(0..count)
            .map(|_| self.send(admin, to, self.next.fetch_add(1, Ordering::Relaxed)))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await
    }

    /// `rate` texts a second until `running` goes false; the texts sent.
    async fn send_steadily(
        self,
        admin: Http,
        to: Vec<String>,
        rate: u32,
        running: Arc<AtomicBool>,
    ) -> anyhow::Result<Vec<String>> {
        let admin = Arc::new(admin);
        let to = Arc::new(to);
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
        let mut sends = tokio::task::JoinSet::new();
        while running.load(Ordering::Relaxed) {
            tick.tick().await;
            let (me, admin, to) = (self.clone(), admin.clone(), to.clone());
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            sends.spawn(async move { me.send(&admin, &to, n).await });
        }
        let mut sent = Vec::new();
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(text)) => sent.push(text),
                // The simulator refused (never sent): not a loss.
                Ok(Err(e)) => eprintln!("a phone could not send: {e:#}"),
                Err(e) => eprintln!("a send task failed: {e}"),
            }
        }
        Ok(sent)
    }
}

/// The nodes' global webhook: every `message` event's text, with the
/// delivery id it came under.
struct Receiver {
    url: String,
    texts: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

/// How the texts sent arrived.
struct Count {
    lost: usize,
    twice: usize,
    redelivered: usize,
}

impl Receiver {
    async fn start() -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let texts: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let into = texts.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let into = into.clone();
                tokio::spawn(async move {
                    if let Some((delivery, text)) = receive(conn).await {
                        into.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(text)
                            .or_default()
                            .push(delivery);
                    }
                });
            }
        });
        Ok(Receiver { url, texts })
    }

    /// Waits until every text of `sent` arrived, at most `limit`.
    async fn wait_for(&self, sent: &[String], limit: Duration) {
        let until = Instant::now() + limit;
        while Instant::now() < until && self.count(sent).lost > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The texts of `sent` that never arrived.
    fn missing<'a>(&self, sent: &'a [String]) -> Vec<&'a String> {
        let texts = self.texts.lock().unwrap_or_else(|p| p.into_inner());
        sent.iter().filter(|t| !texts.contains_key(*t)).collect()
    }

    fn count(&self, sent: &[String]) -> Count {
        let texts = self.texts.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = Count {
            lost: 0,
            twice: 0,
            redelivered: 0,
        };
        for text in sent {
            match texts.get(text) {
                None => count.lost += 1,
                Some(deliveries) => {
                    let distinct: HashSet<&String> = deliveries.iter().collect();
                    count.twice += usize::from(distinct.len() > 1);
                    count.redelivered += deliveries.len() - distinct.len();
                }
            }
        }
        count
    }
}

/// Reads one webhook request, answers 200; its delivery id and, for a
/// `message` event, the text.
async fn receive(mut conn: tokio::net::TcpStream) -> Option<(String, String)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_end, length) = loop {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())?;
            break (end + 4, length);
        }
    };
    while raw.len() < head_end + length {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let _ = conn
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let delivery = head
        .lines()
        .find_map(|l| l.strip_prefix("x-wasp-delivery:"))?
        .trim()
        .to_string();
    let event: serde_json::Value =
        serde_json::from_slice(&raw[head_end..head_end + length]).ok()?;
    if event["type"] != "message" {
        return None;
    }
    Some((delivery, event["text"].as_str()?.to_string()))
}
