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

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::cluster::{
    kill_busiest, node_args, percentiles, wait_nodes_up, with_own_database, Nodes,
};
use super::http::Http;
use super::procs::Sim;

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
    with_own_database(plan.postgres, |url, database| async move {
        run_on(plan, &url, &database).await
    })
    .await
}

async fn run_on(plan: &Plan<'_>, postgres: &str, suffix: &str) -> anyhow::Result<FailoverReport> {
    let sim = Sim::start().await.context("starting the simulator")?;
    let admin = Http::new(&sim.admin_url)?;
    let cluster = format!("wasp-bench-{suffix}");
    let args = node_args(
        plan.redis,
        postgres,
        &cluster,
        plan.sessions,
        plan.nodes,
        &[],
    );
    let mut nodes = Nodes::start(&sim, plan.nodes, args, plan.data).await?;
    let entry = nodes.api(0)?;
    let started = Instant::now();
    super::link_many(&entry, &admin, 0, plan.sessions, plan.concurrency).await?;
    let link_secs = started.elapsed().as_secs_f64();
    eprintln!("{} sessions linked in {link_secs:.1}s", plan.sessions);

    let mut rounds = Vec::new();
    let mut all = Vec::new();
    for round in 1..=plan.kills {
        let killed = kill_busiest(&mut nodes).await?;
        let (p50, p99, max) = percentiles(&killed.times);
        eprintln!(
            "round {round}: killed {} ({} sessions): back in p50 {p50:.1}s p99 {p99:.1}s max {max:.1}s",
            killed.id,
            killed.times.len()
        );
        all.extend_from_slice(&killed.times);
        rounds.push(Round {
            killed: killed.id.clone(),
            sessions_moved: killed.times.len(),
            p50_secs: p50,
            p99_secs: p99,
            max_secs: max,
        });
        // The dead node comes back (empty-handed: its sessions moved).
        nodes.restart(&sim, killed.index).await?;
        wait_nodes_up(&killed.survivor, plan.nodes).await?;
    }
    let (_, connections) = admin.get("/sim/connections").await?;
    let max_concurrent = connections["max_concurrent_per_device"]
        .as_u64()
        .unwrap_or(0);
    nodes.kill_all().await;
    sim.stop().await;
    let (p50, p99, max) = percentiles(&all);
    Ok(FailoverReport {
        profile: super::profile(),
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
