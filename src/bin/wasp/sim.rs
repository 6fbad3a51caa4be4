//! `wasp sim`: the simulated WhatsApp server on its own.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::signals::shutdown_signal;

#[derive(Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// File holding the certificate root's private key (created when
    /// missing), so a restarted simulator keeps the same root.
    #[arg(long)]
    root_key_file: Option<PathBuf>,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
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
