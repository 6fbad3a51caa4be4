//! The peer half of the memory comparison in BENCHMARKS.md: N
//! `whatsapp-rust` clients (the dev-dependency peer, in-memory stores) in
//! this one process, each linked to its own phone of a running simulator,
//! then this process's RSS, measured the way `wasp bench` measures
//! `wasp serve`.
//!
//! ```sh
//! cargo run --release -- sim --listen 127.0.0.1:9000 &
//! cargo run --release --example peer_rss -- http://127.0.0.1:9000 1,100,1000
//! ```
//!
//! Prints one JSON line per step: `{"sessions", "rss_bytes",
//! "marginal_bytes_per_session", "link_secs"}`.

// The interop tests' admin client and peer builder, shared rather than copied.
#[allow(dead_code)]
#[path = "../tests/interop/admin.rs"]
mod admin;
#[allow(dead_code)]
#[path = "../tests/interop/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use whatsapp_rust::types::events::Event;

/// Resident set size of this process, from `/proc/self/statm`.
fn rss_bytes() -> Result<u64> {
    wasp::host::process_rss().context("unreadable /proc/self/statm")
}

/// Links one peer to a new phone; returns it running.
async fn link_one(
    admin: &admin::AdminClient,
    ws_url: &str,
) -> Result<whatsapp_rust::bot::BotHandle> {
    let phone = admin.create_phone().await?;
    let mut p = peer::build_peer(ws_url, peer::new_store()).await?;
    let handle = p.bot.spawn();
    let mut scanned = false;
    let wait = async {
        while let Some(event) = p.events.recv().await {
            match &*event {
                Event::PairingQrCode(qr) if !scanned => {
                    admin.scan(&phone, &qr.code).await?;
                    scanned = true;
                }
                Event::Connected(_) => return Ok(()),
                _ => {}
            }
        }
        bail!("peer event stream ended before Connected")
    };
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .context("peer never connected")??;
    // The event channel is dropped: nobody listens any more.
    Ok(handle)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let sim = args
        .next()
        .context("usage: peer_rss SIM_HTTP_URL 1,100,1000")?;
    let steps: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1,100".into())
        .split(',')
        .map(|n| n.parse().context("session counts are numbers"))
        .collect::<Result<_>>()?;
    let admin = admin::AdminClient::new(&sim)?;
    let ws_url = format!("{}/ws/chat", sim.replacen("http://", "ws://", 1));
    let mut running = Vec::new();
    let mut first = None;
    for target in steps {
        let started = Instant::now();
        while running.len() < target {
            let batch = (target - running.len()).min(16);
            let links = (0..batch).map(|_| link_one(&admin, &ws_url));
            for handle in futures_util::future::join_all(links).await {
                running.push(handle?);
            }
        }
        let link_secs = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_bytes()?;
        if target == 1 {
            first = Some(rss);
        }
        let marginal = first
            .filter(|_| target > 1)
            .map(|f| rss.saturating_sub(f) / (target as u64 - 1));
        println!(
            "{}",
            serde_json::json!({
                "sessions": target,
                "rss_bytes": rss,
                "marginal_bytes_per_session": marginal,
                "link_secs": link_secs,
            })
        );
    }
    for handle in running {
        handle.shutdown().await;
    }
    Ok(())
}
