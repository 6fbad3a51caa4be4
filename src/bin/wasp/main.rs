//! The `wasp` command: one binary, one subcommand per job, a file each.
//!
//! `wasp serve` runs the session host behind the HTTP API; `wasp sim`
//! runs the simulated WhatsApp server; `wasp link` runs one WhatsApp
//! session in the foreground; `wasp bench` is the load harness; `wasp
//! qr` draws a running server's QR code in the terminal and `wasp
//! healthcheck` probes it (the container's health check). The binary is
//! the only user of `anyhow`; the library's errors are typed.

mod args;
mod bench;
mod healthcheck;
mod http_get;
mod link;
mod qr;
mod serve;
mod signals;
mod sim;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "wasp", version, about = "WhatsApp Session Pool")]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,wasp=debug`);
    /// falls back to RUST_LOG, then `info`.
    #[arg(long, global = true, env = "WASP_LOG")]
    log: Option<String>,
    /// Log lines as readable text or as one JSON object each (for log
    /// collectors). Logs go to stderr.
    #[arg(long, global = true, env = "WASP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
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
    /// Draw the QR code a session of a running `wasp serve` shows now in
    /// the terminal (and its text), optionally following its rotation.
    Qr(qr::QrArgs),
    /// Probe a running `wasp serve` (`/healthz`): exit 0 when healthy,
    /// 1 otherwise. The container image's health check.
    Healthcheck(healthcheck::HealthcheckArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref(), cli.log_format)?;
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Link(args) => link::run(args).await,
        Command::Qr(args) => qr::run(args).await,
        Command::Healthcheck(args) => healthcheck::run(args).await,
    }
}

fn init_logging(filter: Option<&str>, format: LogFormat) -> anyhow::Result<()> {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f).with_context(|| format!("bad --log filter {f:?}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        // One object per line: timestamp, level, target, the message and
        // the event's fields at the top level.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    Ok(())
}
