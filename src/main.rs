//! The `wasp` command: one binary, one subcommand per job.
//!
//! `wasp serve` runs the session host behind the HTTP API; `wasp sim`
//! runs the simulated WhatsApp server; `wasp link` runs one WhatsApp
//! session in the foreground. This file is the only user of `anyhow`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod bench;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "wasp", version, about = "WhatsApp Session Pool")]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,wasp=debug`);
    /// falls back to RUST_LOG, then `info`.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the session host and its HTTP API (all stored sessions come
    /// back on start).
    Serve(Box<ServeArgs>),
    /// Load harness: link N sessions through `wasp serve` against a
    /// simulator (both child processes) and measure memory, CPU, link and
    /// restore times.
    Bench(bench::BenchArgs),
    /// Run the simulated WhatsApp server (chat at ws://ADDR/ws/chat,
    /// admin API at http://ADDR/sim/...).
    Sim(SimArgs),
    /// Run one WhatsApp session in the foreground: link it (QR or linking
    /// code) or log in from its stored state, and print its events as JSON
    /// lines until it stops.
    Link(LinkArgs),
}

/// Where sessions connect and whom they trust: shared by every command
/// that runs sessions.
#[derive(Args)]
struct WhatsAppArgs {
    /// WhatsApp's chat endpoint (a simulator's `ws://ADDR/ws/chat` in tests).
    #[arg(long, env = "WASP_WHATSAPP_URL", default_value = wasp::client::DEFAULT_URL)]
    whatsapp_url: String,
    /// The certificate root the server's Noise certificate chain must lead
    /// to, as 64 hex digits. Defaults to WhatsApp's real root.
    #[arg(long, env = "WASP_WHATSAPP_ROOT_KEY", value_parser = parse_root_key)]
    whatsapp_root_key: Option<[u8; 32]>,
}

#[derive(Args)]
struct LinkArgs {
    /// Directory holding one sub-directory of state per session.
    #[arg(long, env = "WASP_DATA", default_value = "./data")]
    data: PathBuf,
    /// Session id (`[A-Za-z0-9_-]{1,64}`); its state lives in DATA/ID.
    #[arg(long, default_value = "default")]
    session: String,
    /// Link with an 8-character code for this phone number instead of
    /// scanning a QR code.
    #[arg(long, value_name = "PHONE")]
    pair_code: Option<String>,
    #[command(flatten)]
    whatsapp: WhatsAppArgs,
}

fn parse_root_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("a root key is 32 bytes, got {}", b.len()))
}

/// `10s`, `500ms`, `2m`, or plain seconds (`10`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use e.g. 10s or 500ms"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {text:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

#[derive(Args)]
struct ServeArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "WASP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory holding the host's database and one directory per session.
    #[arg(long, env = "WASP_DATA", default_value = "./data")]
    data: PathBuf,
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
    #[command(flatten)]
    whatsapp: WhatsAppArgs,
}

#[derive(Args)]
struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// File holding the certificate root's private key (created when
    /// missing), so a restarted simulator keeps the same root.
    #[arg(long)]
    root_key_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref())?;
    match cli.command {
        Command::Serve(args) => run_serve(*args).await,
        Command::Sim(args) => run_sim(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Link(args) => run_link(args).await,
    }
}

fn init_logging(filter: Option<&str>) -> anyhow::Result<()> {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f).with_context(|| format!("bad --log filter {f:?}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

async fn run_sim(args: SimArgs) -> anyhow::Result<()> {
    let config = wasp::sim::SimConfig {
        listen: args.listen,
        root_key_file: args.root_key_file,
        ..Default::default()
    };
    let sim = wasp::sim::start(config)
        .await
        .with_context(|| format!("starting the simulator on {}", args.listen))?;
    // Stdout carries just what a script needs; logs go to stderr.
    println!("ws_url={}", sim.ws_url());
    println!("admin_url={}", sim.http_url());
    println!("root_public_key={}", hex::encode(sim.root_public_key()));
    shutdown_signal()?.await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    use std::sync::Arc;
    use wasp::api::{router_with, serve, ApiKey, HttpStats, ServerConfig, Shutdown};
    use wasp::client::ClientConfig;
    use wasp::host::{Host, HostConfig};

    let api_key = match &args.api_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading API key file {}", path.display()))?;
            let key = ApiKey::new(text.trim());
            if key.is_none() {
                anyhow::bail!("API key file {} is empty", path.display());
            }
            key
        }
        None => args.api_key.as_deref().and_then(ApiKey::new),
    };
    if api_key.is_none() && !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {} without an API key: set WASP_API_KEY or --api-key-file",
            args.listen
        );
    }
    let mut client = ClientConfig {
        url: args.whatsapp.whatsapp_url,
        ..ClientConfig::default()
    };
    if let Some(root) = args.whatsapp.whatsapp_root_key {
        client.root_key = root;
    }
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
    config.max_sessions = args.max_sessions;
    config.memory_limit = args.memory_limit;
    config.restore_per_sec = args.restore_rate;
    if let Some(path) = &args.webhook_ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading webhook CA file {}", path.display()))?;
        config
            .webhooks
            .trust_pem(&pem)
            .map_err(|e| anyhow::anyhow!("webhook CA file {}: {e}", path.display()))?;
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
    let host = Host::open(config)
        .with_context(|| format!("opening data directory {}", args.data.display()))?;
    host.spawn_monitor(std::time::Duration::from_secs(5));

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
    if tokio::time::timeout(args.shutdown_grace, host.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over: sessions left without closing");
    }
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    tracing::info!("all sessions closed");
    Ok(())
}

async fn run_link(args: LinkArgs) -> anyhow::Result<()> {
    use std::sync::Arc;
    use wasp::client::{ChannelSink, Client, ClientConfig, Event};

    use wasp::store::AuthStores as _;
    let data = wasp::store::DataDir::open(&args.data)
        .with_context(|| format!("opening data directory {}", args.data.display()))?;
    let store = wasp::store::FileStores::new(data)
        .open(&args.session)
        .with_context(|| format!("session id {:?}", args.session))?;
    let mut config = ClientConfig {
        url: args.whatsapp.whatsapp_url,
        ..ClientConfig::default()
    };
    if let Some(root) = args.whatsapp.whatsapp_root_key {
        config.root_key = root;
    }
    let (sink, mut events) = ChannelSink::new();
    let client = Client::spawn(
        args.session.clone(),
        Arc::new(config),
        store,
        Arc::new(sink),
    );
    let mut pair_code_phone = args.pair_code;

    let shutdown = shutdown_signal()?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some((_, event)) = event else { break };
                println!("{}", serde_json::to_string(&event)?);
                match &event {
                    // The first QR means the server is waiting for a link:
                    // that is when a linking code can be asked for instead.
                    Event::Qr { .. } => {
                        if let Some(phone) = pair_code_phone.take() {
                            let code = client
                                .request_pair_code(&phone)
                                .await
                                .context("requesting a linking code")?;
                            eprintln!("Enter this code on the phone: {code}");
                        }
                    }
                    Event::LoggedOut { .. } | Event::Stopped { .. } => break,
                    _ => {}
                }
            }
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                client.shutdown().await;
                break;
            }
        }
    }
    Ok(())
}

/// Installs the Ctrl-C and (on Unix) SIGTERM handlers at once, so a
/// signal that comes early is not lost; the future resolves on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "waiting for Ctrl-C failed");
        }
    })
}
