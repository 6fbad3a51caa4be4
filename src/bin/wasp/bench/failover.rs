//! `wasp bench --cluster N`: failover measured from outside. Starts the
//! simulator and N `wasp serve` nodes sharing a Redis and a PostgreSQL
//! database of the run's own (created, then dropped), links the sessions
//! through the first node (placement spreads them), then, round after
//! round, kills the node running the most sessions with SIGKILL and
//! times how long each of its sessions takes to be connected again on
//! another node — the lease running out (`--node-dead-after`), the
//! adoption and the reconnect — before starting the dead node again.
//! Ends with the simulator's count of the most connections ever logged
//! in as one device at once (1: no session ever ran twice).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::Value;

use super::http::Http;
use super::procs::{Serve, Sim};

/// What to run: the nodes, the shared services, the rounds.
pub struct Plan<'a> {
    pub nodes: usize,
    pub sessions: usize,
    pub kills: usize,
    pub concurrency: usize,
    pub redis: &'a str,
    /// A PostgreSQL server whose user may create databases.
    pub postgres: &'a str,
    pub data: &'a Path,
}

#[derive(Serialize)]
pub struct Round {
    pub killed: String,
    pub sessions_moved: usize,
    /// From the kill to each moved session connected on another node.
    pub p50_secs: f64,
    pub p99_secs: f64,
    pub max_secs: f64,
}

#[derive(Serialize)]
pub struct FailoverReport {
    pub profile: &'static str,
    pub nodes: usize,
    pub sessions: usize,
    pub link_secs: f64,
    pub rounds: Vec<Round>,
    /// Over every round.
    pub p50_secs: f64,
    pub p99_secs: f64,
    pub max_secs: f64,
    pub max_concurrent_logins_per_device: u64,
}

pub async fn run(plan: &Plan<'_>) -> anyhow::Result<FailoverReport> {
    if plan.nodes < 2 {
        bail!("--cluster needs at least 2 nodes: one dies, another takes over");
    }
    let suffix = format!("{:08x}", rand::random::<u32>());
    let database = format!("wasp_bench_{suffix}");
    admin_sql(plan.postgres, &format!("CREATE DATABASE {database}")).await?;
    let result = run_on(plan, &with_database(plan.postgres, &database)?, &suffix).await;
    if let Err(e) = admin_sql(
        plan.postgres,
        &format!("DROP DATABASE {database} WITH (FORCE)"),
    )
    .await
    {
        eprintln!("could not drop {database}: {e:#}");
    }
    result
}

async fn run_on(plan: &Plan<'_>, postgres: &str, suffix: &str) -> anyhow::Result<FailoverReport> {
    let sim = Sim::start().await.context("starting the simulator")?;
    let admin = Http::new(&sim.admin_url)?;
    let cluster = format!("wasp-bench-{suffix}");
    let per_node = plan.sessions * 2 / plan.nodes + 10;
    let args = |id: &str| -> Vec<String> {
        [
            "--redis",
            plan.redis,
            "--postgres",
            postgres,
            "--cluster",
            &cluster,
            "--node-id",
            id,
            "--max-sessions",
            &per_node.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut nodes: Vec<(String, u16, Option<Serve>)> = Vec::new();
    for i in 1..=plan.nodes {
        let id = format!("n{i}");
        let port = free_port()?;
        let dir = plan.data.join(&id);
        std::fs::create_dir_all(&dir)?;
        let serve = Serve::start_node(&sim, &dir, port, &args(&id)).await?;
        nodes.push((id, port, Some(serve)));
    }
    let entry = Http::new(&format!("http://127.0.0.1:{}", nodes[0].1))?;
    super::wait_ready(&entry).await?;
    wait_nodes_up(&entry, plan.nodes).await?;
    let started = Instant::now();
    super::link_many(&entry, &admin, 0, plan.sessions, plan.concurrency).await?;
    let link_secs = started.elapsed().as_secs_f64();
    eprintln!("{} sessions linked in {link_secs:.1}s", plan.sessions);

    let mut rounds = Vec::new();
    let mut all = Vec::new();
    for round in 1..=plan.kills {
        let placed = placement(&entry).await?;
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for node in placed.values() {
            *counts.entry(node.as_str()).or_default() += 1;
        }
        let (victim, _) = nodes
            .iter()
            .enumerate()
            .max_by_key(|(_, (id, _, _))| counts.get(id.as_str()).copied().unwrap_or(0))
            .context("no node")?;
        let (victim_id, victim_port) = (nodes[victim].0.clone(), nodes[victim].1);
        let moved: Vec<String> = placed
            .iter()
            .filter(|(_, node)| **node == victim_id)
            .map(|(id, _)| id.clone())
            .collect();
        let survivor = nodes
            .iter()
            .find(|(id, _, _)| *id != victim_id)
            .map(|(_, port, _)| *port)
            .context("no survivor")?;
        let api = Http::new(&format!("http://127.0.0.1:{survivor}"))?;
        if let Some(serve) = nodes[victim].2.take() {
            serve.kill().await;
        }
        let killed = Instant::now();
        let times = time_back(&api, &moved, &victim_id, killed).await?;
        let (p50, p99, max) = percentiles(&times);
        eprintln!(
            "round {round}: killed {victim_id} ({} sessions): back in p50 {p50:.1}s p99 {p99:.1}s max {max:.1}s",
            moved.len()
        );
        all.extend_from_slice(&times);
        rounds.push(Round {
            killed: victim_id.clone(),
            sessions_moved: moved.len(),
            p50_secs: p50,
            p99_secs: p99,
            max_secs: max,
        });
        // The dead node comes back (empty-handed: its sessions moved).
        let dir = plan.data.join(&victim_id);
        nodes[victim].2 =
            Some(Serve::start_node(&sim, &dir, victim_port, &args(&victim_id)).await?);
        wait_nodes_up(&api, plan.nodes).await?;
    }
    let (_, connections) = admin.get("/sim/connections").await?;
    let max_concurrent = connections["max_concurrent_per_device"]
        .as_u64()
        .unwrap_or(0);
    for (_, _, serve) in nodes {
        if let Some(serve) = serve {
            serve.kill().await;
        }
    }
    sim.stop().await;
    let (p50, p99, max) = percentiles(&all);
    Ok(FailoverReport {
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        nodes: plan.nodes,
        sessions: plan.sessions,
        link_secs,
        rounds,
        p50_secs: p50,
        p99_secs: p99,
        max_secs: max,
        max_concurrent_logins_per_device: max_concurrent,
    })
}

/// Each session and the node running it.
async fn placement(api: &Http) -> anyhow::Result<HashMap<String, String>> {
    let (_, list) = api.get("/v1/sessions").await?;
    Ok(list
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| {
                    Some((
                        s["id"].as_str()?.to_string(),
                        s["node"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Seconds from `killed` until each of `moved` was connected on a node
/// other than `victim`.
async fn time_back(
    api: &Http,
    moved: &[String],
    victim: &str,
    killed: Instant,
) -> anyhow::Result<Vec<f64>> {
    let mut back: HashMap<&str, f64> = HashMap::new();
    while back.len() < moved.len() {
        if killed.elapsed() > Duration::from_secs(300) {
            bail!(
                "{} of {} sessions not back after 5 minutes",
                moved.len() - back.len(),
                moved.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The list is gathered from every live node; a node answering
        // slowly under the load just means a later look.
        let Ok((200, list)) = api.get("/v1/sessions").await else {
            continue;
        };
        let now = killed.elapsed().as_secs_f64();
        let connected: HashMap<&str, &Value> = list
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|s| Some((s["id"].as_str()?, s)))
                    .collect()
            })
            .unwrap_or_default();
        for id in moved {
            if back.contains_key(id.as_str()) {
                continue;
            }
            if let Some(s) = connected.get(id.as_str()) {
                if s["status"] == "connected" && s["node"].as_str().is_some_and(|n| n != victim) {
                    back.insert(id, now);
                }
            }
        }
    }
    Ok(back.into_values().collect())
}

async fn wait_nodes_up(api: &Http, count: usize) -> anyhow::Result<()> {
    super::poll(|| async {
        let (_, nodes) = api.get("/v1/nodes").await?;
        let up = nodes["nodes"]
            .as_array()
            .map(|n| n.iter().filter(|n| n["state"] == "up").count())
            .unwrap_or(0);
        Ok((up >= count).then_some(()))
    })
    .await
}

fn percentiles(times: &[f64]) -> (f64, f64, f64) {
    if times.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), sorted[sorted.len() - 1])
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").context("a postgres:// URL")? + 3;
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    Ok(format!("{}/{name}{query}", &base[..path]))
}

/// Runs one statement on the server `url` names.
async fn admin_sql(url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("PostgreSQL at {url}"))?;
    let connection = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .with_context(|| sql.to_string())?;
    drop(client);
    let _ = connection.await;
    Ok(())
}
