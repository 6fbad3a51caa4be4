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
    /// Also serve the chat endpoint over TLS (`wss://`) on this address,
    /// with a fresh test certificate (written to `--tls-ca-file`).
    #[arg(long, requires = "tls_ca_file")]
    tls_listen: Option<SocketAddr>,
    /// Where to write the test certificate clients of `--tls-listen` must
    /// trust (PEM; `wasp serve --whatsapp-ca-file`).
    #[arg(long, requires = "tls_listen")]
    tls_ca_file: Option<PathBuf>,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = wasp::sim::SimConfig {
        listen: args.listen,
        root_key_file: args.root_key_file,
        tls_listen: args.tls_listen,
        ..Default::default()
    };
    let sim = wasp::sim::start(config)
        .await
        .with_context(|| format!("starting the simulator on {}", args.listen))?;
    // Stdout carries just what a script needs; logs go to stderr.
    if let (Some(path), Some(pem)) = (&args.tls_ca_file, sim.tls_ca_pem()) {
        std::fs::write(path, pem)
            .with_context(|| format!("writing the test certificate to {}", path.display()))?;
    }
    println!("ws_url={}", sim.ws_url());
    if let Some(url) = sim.wss_url() {
        println!("wss_url={url}");
    }
    println!("admin_url={}", sim.http_url());
    println!("root_public_key={}", hex::encode(sim.root_public_key()));
    shutdown_signal()?.await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}
