//! `wasp serve`: the session host behind the HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::args::{parse_duration, trust_ca_file, WhatsAppArgs};
use crate::signals::shutdown_signal;

#[derive(Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "WASP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory holding the host's database and one directory per session.
    #[arg(long, env = "WASP_DATA", default_value = "./data")]
    data: PathBuf,
    /// Keep every session's auth state and the host's records in this
    /// PostgreSQL database (`postgres://user[:password]@host[:port]/db`)
    /// instead of the data directory, so that any node reaching it can
    /// bring the sessions back. Created and migrated on start.
    #[arg(
        long,
        env = "WASP_POSTGRES",
        hide_env_values = true,
        value_name = "URL"
    )]
    postgres: Option<String>,
    /// PEM file of certificate authorities trusted for `--postgres` over
    /// TLS (`?sslmode=require` in the URL) besides the Mozilla roots: the
    /// CA a managed database's provider publishes.
    #[arg(long, env = "WASP_POSTGRES_CA_FILE", value_name = "FILE")]
    postgres_ca_file: Option<PathBuf>,
    /// Run a simulated WhatsApp network in-process and connect sessions to
    /// it (try the whole flow offline; see README).
    #[arg(long, env = "WASP_SIMULATE")]
    simulate: bool,
    /// Address of the in-process simulator (with --simulate).
    #[arg(long, env = "WASP_SIM_LISTEN", default_value = "127.0.0.1:9000")]
    sim_listen: SocketAddr,
    /// Bearer key every API request must carry. Required when --listen is
    /// not a loopback address. Prefer WASP_API_KEY or --api-key-file: a
    /// flag's value is visible to every local user in the process list.
    #[arg(long, env = "WASP_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// File holding the API key (surrounding whitespace trimmed).
    #[arg(long, env = "WASP_API_KEY_FILE", conflicts_with = "api_key")]
    api_key_file: Option<PathBuf>,
    /// Time for a request head to arrive (also how long an idle
    /// connection stays open), e.g. `10s`, `500ms`.
    #[arg(long, env = "WASP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// Time for a request body to arrive after its head.
    #[arg(long, env = "WASP_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    body_timeout: Duration,
    /// Time for a file uploaded as a multipart form to arrive after its
    /// head.
    #[arg(long, env = "WASP_UPLOAD_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    upload_timeout: Duration,
    /// Most connections open at once.
    #[arg(long, env = "WASP_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Most connections open at once from one client IP.
    #[arg(long, env = "WASP_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    max_connections_per_ip: usize,
    /// On SIGTERM: how long requests in flight may take to finish (and,
    /// after them, the sessions to close) before the process exits anyway.
    #[arg(long, env = "WASP_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    shutdown_grace: Duration,
    /// Most sessions this process runs; derived from the memory limit
    /// when unset.
    #[arg(long, env = "WASP_MAX_SESSIONS")]
    max_sessions: Option<usize>,
    /// Memory limit in bytes to derive capacity from; cgroup memory.max
    /// when unset.
    #[arg(long, env = "WASP_MEMORY_LIMIT")]
    memory_limit: Option<u64>,
    /// Stored sessions started per second on restore.
    #[arg(long, env = "WASP_RESTORE_RATE", default_value_t = 100)]
    restore_rate: u32,
    /// Media uploads and downloads in flight at once, across sessions;
    /// more are refused with 503 media_busy.
    #[arg(long, env = "WASP_MAX_MEDIA_TRANSFERS", default_value_t = 16)]
    max_media_transfers: usize,
    /// Days the record to fetch a received file by its message id is kept
    /// (`GET /v1/sessions/{id}/messages/{message_id}/media`).
    #[arg(long, env = "WASP_MEDIA_RETENTION_DAYS", default_value_t = 30)]
    media_retention_days: u64,
    /// An ffmpeg (with libopus) to convert voice notes in other formats
    /// to OGG/Opus and draw their waveform; without it such voice notes
    /// are refused.
    #[arg(long, env = "WASP_FFMPEG")]
    ffmpeg: Option<PathBuf>,
    /// A webhook receiving every event of every session (http:// or https://).
    #[arg(long, env = "WASP_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// PEM file of extra certificate authorities trusted for https
    /// webhooks (the Mozilla roots are always trusted).
    #[arg(long, env = "WASP_WEBHOOK_CA_FILE")]
    webhook_ca_file: Option<std::path::PathBuf>,
    /// Key for the global webhook's HMAC-SHA256 signature.
    #[arg(long, env = "WASP_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Let sessions' webhooks reach loopback, private, link-local and
    /// other internal addresses. Default: allowed when --listen is a
    /// loopback address, refused otherwise.
    #[arg(long, env = "WASP_WEBHOOK_ALLOW_PRIVATE", num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    webhook_allow_private: Option<bool>,
    /// Host names and address ranges sessions' webhooks may reach even
    /// when the guard refuses internal addresses (`hooks.internal,10.1.0.0/16`).
    #[arg(long, env = "WASP_WEBHOOK_ALLOW", value_name = "HOST|CIDR,...")]
    webhook_allow: Option<String>,
    /// Seconds one webhook attempt may spend resolving and connecting.
    #[arg(long, env = "WASP_WEBHOOK_CONNECT_TIMEOUT", default_value_t = 5)]
    webhook_connect_timeout: u64,
    /// Seconds one webhook attempt may take in all.
    #[arg(long, env = "WASP_WEBHOOK_TIMEOUT", default_value_t = 15)]
    webhook_timeout: u64,
    /// Webhook attempts in flight at once, across all endpoints.
    #[arg(long, env = "WASP_WEBHOOK_CONCURRENCY", default_value_t = 64)]
    webhook_concurrency: usize,
    /// Cluster mode: the Redis (redis://host:port/db) this node registers
    /// and heartbeats in, beside the cluster's other nodes.
    #[arg(long, env = "WASP_REDIS")]
    redis: Option<String>,
    /// This node's id in the cluster ([A-Za-z0-9_-]{1,64}, unique among
    /// live nodes); the host name when unset.
    #[arg(long, env = "WASP_NODE_ID")]
    node_id: Option<String>,
    /// Where the cluster's other nodes reach this one
    /// (http://10.0.0.5:8080); required with --redis.
    #[arg(long, env = "WASP_ADVERTISE")]
    advertise: Option<String>,
    /// The cluster's name: the prefix of its keys in Redis (several
    /// clusters may share one Redis).
    #[arg(long, env = "WASP_CLUSTER", default_value = "wasp")]
    cluster: String,
    /// A node that runs no session: it serves the API and routes every
    /// request to the nodes that do (a cluster's router). Needs --redis.
    #[arg(long, env = "WASP_NO_SESSIONS")]
    no_sessions: bool,
    /// How often this node heartbeats in the cluster (and renews its
    /// lease on its sessions, with --postgres).
    #[arg(long, env = "WASP_HEARTBEAT_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    heartbeat_interval: Duration,
    /// A node silent this long is dead to the others, who take over its
    /// sessions (with --postgres); at least three heartbeat intervals.
    #[arg(long, env = "WASP_NODE_DEAD_AFTER", default_value = "8s", value_parser = parse_duration)]
    node_dead_after: Duration,
    #[command(flatten)]
    whatsapp: WhatsAppArgs,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    use std::sync::Arc;
    use wasp::api::{router_with, serve, ApiKey, HttpStats, ServerConfig, Shutdown};
    use wasp::client::ClientConfig;
    use wasp::host::{Host, HostConfig};

    let raw_key = match &args.api_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading API key file {}", path.display()))?;
            if text.trim().is_empty() {
                anyhow::bail!("API key file {} is empty", path.display());
            }
            Some(text.trim().to_string())
        }
        None => args.api_key.clone(),
    };
    let api_key = raw_key.as_deref().and_then(ApiKey::new);
    if api_key.is_none() && !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {} without an API key: set WASP_API_KEY or --api-key-file",
            args.listen
        );
    }
    let mut client = args.whatsapp.client_config(ClientConfig {
        media_retention: std::time::Duration::from_secs(
            args.media_retention_days.saturating_mul(24 * 3600),
        ),
        // Media transfers spool on the data volume, not in /tmp (a tmpfs
        // in containers would hold a file in memory).
        media_dir: args.data.join(".spool"),
        ..ClientConfig::default()
    })?;
    let sim = if args.simulate {
        let config = wasp::sim::SimConfig {
            listen: args.sim_listen,
            ..Default::default()
        };
        let sim = wasp::sim::start(config)
            .await
            .with_context(|| format!("starting the simulator on {}", args.sim_listen))?;
        client.url = sim.ws_url();
        client.root_key = sim.root_public_key();
        println!("sim_admin_url={}", sim.http_url());
        Some(sim)
    } else {
        None
    };
    let mut config = HostConfig::new(&args.data, client);
    config.postgres = match args.postgres {
        Some(url) => {
            let mut postgres = wasp::store::PostgresConfig::new(url);
            if let Some(path) = &args.postgres_ca_file {
                trust_ca_file(path, "PostgreSQL", |pem| postgres.trust_pem(pem))?;
            }
            Some(postgres)
        }
        None => None,
    };
    config.max_sessions = args.max_sessions;
    if args.no_sessions {
        if args.redis.is_none() {
            anyhow::bail!("--no-sessions needs --redis: a node without sessions routes to the cluster's others");
        }
        config.max_sessions = Some(0);
    }
    config.memory_limit = args.memory_limit;
    config.restore_per_sec = args.restore_rate;
    config.max_media_transfers = args.max_media_transfers;
    if let Some(ffmpeg) = &args.ffmpeg {
        let converter =
            wasp::host::VoiceConverter::new(ffmpeg.clone()).map_err(anyhow::Error::msg)?;
        config.voice_converter = Some(converter);
    }
    if let Some(path) = &args.webhook_ca_file {
        trust_ca_file(path, "webhook", |pem| config.webhooks.trust_pem(pem))?;
    }
    let webhooks = &mut config.webhooks;
    webhooks.connect_timeout = std::time::Duration::from_secs(args.webhook_connect_timeout.max(1));
    webhooks.attempt_timeout = std::time::Duration::from_secs(args.webhook_timeout.max(1));
    webhooks.concurrency = args.webhook_concurrency.max(1);
    // Tenants' webhooks must not reach internal services of a public
    // deployment; on loopback (local use, tests) they may.
    webhooks.guard.enabled = !args
        .webhook_allow_private
        .unwrap_or(args.listen.ip().is_loopback());
    if let Some(list) = &args.webhook_allow {
        webhooks
            .guard
            .allow(list)
            .map_err(|e| anyhow::anyhow!("--webhook-allow: {e}"))?;
    }
    if let Some(url) = args.webhook_url {
        wasp::host::validate_webhook_url(&url)?;
        config.webhooks.global = Some(wasp::host::WebhookTarget {
            url,
            secret: args.webhook_secret,
        });
    }
    config.cluster = match &args.redis {
        Some(url) => {
            let cluster = ClusterArgs {
                name: &args.cluster,
                node_id: &args.node_id,
                advertise: args.advertise.as_deref(),
                heartbeat_interval: args.heartbeat_interval,
                node_dead_after: args.node_dead_after,
                api_key: api_key.as_ref().and(raw_key.as_deref()),
            };
            Some(connect_cluster(&cluster, url).await?)
        }
        None => None,
    };
    let opening = match &config.postgres {
        // The store's error names the server (never the password).
        Some(_) => "opening the PostgreSQL store".to_string(),
        None => format!("opening data directory {}", args.data.display()),
    };
    let host = Host::open(config).context(opening)?;
    host.spawn_monitor(std::time::Duration::from_secs(5));
    host.join_cluster().await?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    // Before the address is out: a SIGTERM from then on shuts down cleanly.
    let signal = shutdown_signal()?;
    println!("api_url=http://{}", listener.local_addr()?);
    let restoring = {
        let host = host.clone();
        tokio::spawn(async move {
            if let Err(e) = host.restore().await {
                tracing::error!(error = %e, "restore failed");
            }
        })
    };
    let stats = Arc::new(HttpStats::default());
    let shutdown = Shutdown::new();
    let app = router_with(host.clone(), api_key, stats.clone(), &shutdown);
    let server = ServerConfig {
        head_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        upload_timeout: args.upload_timeout,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        shutdown_grace: args.shutdown_grace,
    };
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down: no new requests");
        trigger.trigger();
    });
    serve(listener, app, server, stats, shutdown).await;
    restoring.abort();
    // Sessions close cleanly (the phone sees them go offline), but a
    // session that does not answer cannot hold the process up.
    let closed = tokio::time::timeout(args.shutdown_grace, host.shutdown())
        .await
        .is_ok();
    if !closed {
        tracing::warn!("grace period over: sessions left without closing");
    }
    host.leave_cluster(closed).await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    tracing::info!("all sessions closed");
    Ok(())
}

/// What `--redis` comes with.
struct ClusterArgs<'a> {
    name: &'a str,
    node_id: &'a Option<String>,
    advertise: Option<&'a str>,
    heartbeat_interval: Duration,
    node_dead_after: Duration,
    /// The API key, which nodes forward each other's requests with.
    api_key: Option<&'a str>,
}

/// Connects to the cluster's Redis as the node `--node-id` (the host
/// name by default) reachable at `--advertise`.
async fn connect_cluster(
    args: &ClusterArgs<'_>,
    url: &str,
) -> anyhow::Result<wasp::cluster::Cluster> {
    let advertise = args
        .advertise
        .context("--redis needs --advertise: the URL the other nodes reach this one at")?;
    let node_id = match args.node_id {
        Some(id) => id.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| wasp::cluster::valid_node_id(h))
            .context("no --node-id given and the host name is not a usable one")?,
    };
    // A node that cannot renew its lease stops its sessions after half
    // the dead-after time, at worst a heartbeat later: that must come
    // before the others count it dead.
    if args.node_dead_after < args.heartbeat_interval * 3 {
        anyhow::bail!("--node-dead-after must be at least three --heartbeat-interval");
    }
    let mut config = wasp::cluster::ClusterConfig::new(url, &node_id, advertise);
    config.prefix = args.name.to_string();
    config.heartbeat = args.heartbeat_interval;
    config.dead_after = args.node_dead_after;
    config.key_check = key_check(args.api_key);
    Ok(wasp::cluster::Cluster::connect(config).await?)
}

/// What the nodes of a cluster compare to know they share one API key:
/// 64 bits of an HMAC of it (empty without a key), enough to tell keys
/// apart and too little to stand in for the key.
fn key_check(api_key: Option<&str>) -> String {
    api_key.map_or_else(String::new, |key| {
        let mac = wasp::crypto::hmac_sha256(b"wasp cluster key check", &[key.as_bytes()]);
        hex::encode(&mac[..8])
    })
}
