//! The `wasp` command: one binary, one subcommand per job.
//!
//! `wasp sim` runs the simulated WhatsApp server. Later subcommands
//! (`serve`, `bench`) join it here.

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
}

#[derive(Args)]
struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
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
