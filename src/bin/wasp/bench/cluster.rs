//! The cluster a `--cluster` run measures: N `wasp serve` nodes sharing
//! a Redis (a key prefix of the run's own) and a PostgreSQL database of
//! the run's own (created, then dropped), each node on a fixed port so
//! that one started again keeps its advertised URL; and the questions
//! the runs ask of it (where each session runs, when moved sessions are
//! back).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::http::Http;
use super::procs::{Serve, Sim};

/// Every node's flags but its id: the Redis (under the key prefix
/// `name`) and the database they share, room for twice a node's share of
/// `sessions`, and `extra`.
pub fn node_args(
    redis: &str,
    postgres: &str,
    name: &str,
    sessions: usize,
    nodes: usize,
    extra: &[&str],
) -> Vec<String> {
    let per_node = (sessions * 2 / nodes.max(1) + 10).to_string();
    [
        "--redis",
        redis,
        "--postgres",
        postgres,
        "--cluster",
        name,
        "--max-sessions",
        &per_node,
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

/// The nodes, by index; a killed node's process is `None` until started
/// again.
pub struct Nodes {
    nodes: Vec<(String, u16, Option<Serve>)>,
    /// Every node's flags but `--node-id`.
    args: Vec<String>,
    data: PathBuf,
}

impl Nodes {
    /// Starts `count` nodes `n1`..`nN` with `args` (and their own
    /// `--node-id`), each with a data directory under `data`, and waits
    /// until every one is up.
    pub async fn start(
        sim: &Sim,
        count: usize,
        args: Vec<String>,
        data: &Path,
    ) -> anyhow::Result<Nodes> {
        let mut nodes = Nodes {
            nodes: Vec::new(),
            args,
            data: data.to_path_buf(),
        };
        for i in 1..=count {
            let id = format!("n{i}");
            let port = free_port()?;
            nodes.nodes.push((id, port, None));
            nodes.restart(sim, i - 1).await?;
        }
        let entry = nodes.api(0)?;
        super::wait_ready(&entry).await?;
        wait_nodes_up(&entry, count).await?;
        Ok(nodes)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn id(&self, index: usize) -> &str {
        &self.nodes[index].0
    }

    /// The API of node `index` (dead or alive).
    pub fn api(&self, index: usize) -> anyhow::Result<Http> {
        Http::new(&format!("http://127.0.0.1:{}", self.nodes[index].1))
    }

    /// The API of the first live node other than `not`.
    pub fn live_api(&self, not: Option<usize>) -> anyhow::Result<Http> {
        let index = (0..self.nodes.len())
            .find(|&i| Some(i) != not && self.nodes[i].2.is_some())
            .context("no live node")?;
        self.api(index)
    }

    /// Kills node `index` with SIGKILL.
    pub async fn kill(&mut self, index: usize) {
        if let Some(serve) = self.nodes[index].2.take() {
            serve.kill().await;
        }
    }

    /// Starts node `index` (again), on its port, over its data directory.
    pub async fn restart(&mut self, sim: &Sim, index: usize) -> anyhow::Result<()> {
        let (id, port) = (self.nodes[index].0.clone(), self.nodes[index].1);
        let dir = self.data.join(&id);
        std::fs::create_dir_all(&dir)?;
        let mut args = self.args.clone();
        args.extend(["--node-id".to_string(), id]);
        self.nodes[index].2 = Some(Serve::start_node(sim, &dir, port, &args).await?);
        Ok(())
    }

    /// Kills every node still running.
    pub async fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i).await;
        }
    }
}

/// What one failover did.
pub struct Killed {
    pub index: usize,
    pub id: String,
    /// Seconds from the kill until each of its sessions was connected on
    /// another node.
    pub times: Vec<f64>,
    /// A node that stayed up.
    pub survivor: Http,
}

/// Kills the node running the most sessions (SIGKILL) and times each of
/// its sessions until it is connected on another node.
pub async fn kill_busiest(nodes: &mut Nodes) -> anyhow::Result<Killed> {
    let placed = placement(&nodes.live_api(None)?).await?;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for node in placed.values() {
        *counts.entry(node.as_str()).or_default() += 1;
    }
    let index = (0..nodes.len())
        .max_by_key(|&i| counts.get(nodes.id(i)).copied().unwrap_or(0))
        .context("no node")?;
    let id = nodes.id(index).to_string();
    let moved: Vec<String> = placed
        .iter()
        .filter(|(_, node)| **node == id)
        .map(|(session, _)| session.clone())
        .collect();
    let survivor = nodes.live_api(Some(index))?;
    nodes.kill(index).await;
    let times = time_back(&survivor, &moved, &id, Instant::now()).await?;
    Ok(Killed {
        index,
        id,
        times,
        survivor,
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

pub async fn wait_nodes_up(api: &Http, count: usize) -> anyhow::Result<()> {
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

/// p50, p99 and max of `times`.
pub fn percentiles(times: &[f64]) -> (f64, f64, f64) {
    if times.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), sorted[sorted.len() - 1])
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A database of the run's own on the server `postgres` names: created
/// now, dropped when `run` is done (whatever its outcome). `run` gets the
/// database's URL and its name.
pub async fn with_own_database<T, F, Fut>(postgres: &str, run: F) -> anyhow::Result<T>
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let database = format!("wasp_bench_{:08x}", rand::random::<u32>());
    admin_sql(postgres, &format!("CREATE DATABASE {database}")).await?;
    let url = with_database(postgres, &database)?;
    let result = run(url, database.clone()).await;
    if let Err(e) = admin_sql(postgres, &format!("DROP DATABASE {database} WITH (FORCE)")).await {
        eprintln!("could not drop {database}: {e:#}");
    }
    result
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
    query_number(url, sql).await.map(|_| ())
}

/// Runs `sql` on the server `url` names; the first column of its first
/// row as a number, when it has one.
pub async fn query_number(url: &str, sql: &str) -> anyhow::Result<Option<i64>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("PostgreSQL at {url}"))?;
    let connection = tokio::spawn(connection);
    let messages = client
        .simple_query(sql)
        .await
        .with_context(|| sql.to_string())?;
    drop(client);
    let _ = connection.await;
    Ok(messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
        _ => None,
    }))
}
