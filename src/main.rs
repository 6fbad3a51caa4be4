//! The `wasp` command: one binary, one subcommand per job.
//!
//! `wasp sim` runs the simulated WhatsApp server; `wasp link` runs one
//! WhatsApp session in the foreground. Later subcommands (`serve`,
//! `bench`) join them here. This file is the only user of `anyhow`.

use std::net::SocketAddr;
use std::path::PathBuf;

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
        Command::Sim(args) => run_sim(args).await,
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
    shutdown_signal().await?;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}

async fn run_link(args: LinkArgs) -> anyhow::Result<()> {
    use std::sync::Arc;
    use wasp::client::{ChannelSink, Client, ClientConfig, Event};

    let data = wasp::store::DataDir::open(&args.data)
        .with_context(|| format!("opening data directory {}", args.data.display()))?;
    let dir = data
        .session(&args.session)
        .with_context(|| format!("session id {:?}", args.session))?;
    let mut config = ClientConfig {
        url: args.whatsapp.whatsapp_url,
        ..ClientConfig::default()
    };
    if let Some(root) = args.whatsapp.whatsapp_root_key {
        config.root_key = root;
    }
    let (sink, mut events) = ChannelSink::new();
    let client = Client::spawn(args.session.clone(), Arc::new(config), dir, Arc::new(sink));
    let mut pair_code_phone = args.pair_code;

    let shutdown = shutdown_signal();
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
            signal = &mut shutdown => {
                signal?;
                tracing::info!("shutting down");
                client.shutdown().await;
                break;
            }
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
