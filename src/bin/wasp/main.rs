//! The `wasp` command: one binary, one subcommand per job, a file each.
//!
//! `wasp serve` runs the session host behind the HTTP API; `wasp sim`
//! runs the simulated WhatsApp server; `wasp link` runs one WhatsApp
//! session in the foreground; `wasp bench` is the load harness. The
//! binary is the only user of `anyhow`; the library's errors are typed.

mod args;
mod bench;
mod link;
mod serve;
mod signals;
mod sim;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
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
    Serve(Box<serve::ServeArgs>),
    /// Load harness: link N sessions through `wasp serve` against a
    /// simulator (both child processes) and measure memory, CPU, link and
    /// restore times.
    Bench(bench::BenchArgs),
    /// Run the simulated WhatsApp server (chat at ws://ADDR/ws/chat,
    /// admin API at http://ADDR/sim/...).
    Sim(sim::SimArgs),
    /// Run one WhatsApp session in the foreground: link it (QR or linking
    /// code) or log in from its stored state, and print its events as JSON
    /// lines until it stops.
    Link(link::LinkArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref())?;
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Link(args) => link::run(args).await,
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
