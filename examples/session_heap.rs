//! Where an idle session's bytes go: N wasp sessions (the client alone, no
//! host or HTTP) in this process, linked to a running simulator, with a
//! counting global allocator. Reports live heap bytes per session at each
//! stage and this process's RSS, so heap can be told apart from what the
//! allocator and the runtime add around it.
//!
//! ```sh
//! cargo run --release -- sim --listen 127.0.0.1:9000 &
//! cargo run --release --example session_heap -- http://127.0.0.1:9000 1000
//! ```

#[allow(dead_code)]
#[path = "../tests/interop/admin.rs"]
mod admin;

#[allow(dead_code)]
#[path = "../benches/support/heap.rs"]
mod heap;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use heap::CountingAllocator;
use wasp::client::{ChannelSink, Client, ClientConfig, Event, Status};
use wasp::store::{DataDir, FileStores};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn live() -> i64 {
    heap::live_bytes() as i64
}

fn rss() -> u64 {
    wasp::host::process_rss().unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let sim = args.next().context("usage: session_heap SIM_HTTP_URL N")?;
    let n: usize = args.next().unwrap_or_else(|| "100".into()).parse()?;
    let admin = admin::AdminClient::new(&sim)?;
    let (_, root) = admin.raw("GET", "/sim/root-key", None).await?;
    let root: serde_json::Value = serde_json::from_slice(&root)?;
    let root: [u8; 32] = hex::decode(root["root_public_key"].as_str().context("root key")?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("root key is not 32 bytes"))?;
    let ws = format!("{}/ws/chat", sim.replacen("http://", "ws://", 1));
    let mut config = ClientConfig::for_tests(ws, root);
    config.qr_first_ttl = Duration::from_secs(60);
    // Idle as in production: pings every 15-30 s.
    config.keepalive_min = Duration::from_secs(15);
    config.keepalive_max = Duration::from_secs(30);
    config.keepalive_timeout = Duration::from_secs(20);
    let config = Arc::new(config);
    let tmp = tempfile::tempdir()?;
    let stores: Arc<FileStores> = Arc::new(FileStores::new(DataDir::open(tmp.path())?));
    let (sink, mut events) = ChannelSink::new();
    let sink = Arc::new(sink);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let (heap0, rss0) = (live(), rss());
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("s{i}");
        clients.push(Client::spawn(
            id.clone(),
            config.clone(),
            stores.clone(),
            sink.clone(),
        ));
        // Link this one before the next (keeps QR timers short).
        let qr = loop {
            let (who, event) = events.recv().await.context("events")?;
            if let (true, Event::Qr { code, .. }) = (who == id, event) {
                break code;
            }
        };
        let phone = admin.create_phone().await?;
        admin.scan(&phone, &qr).await?;
    }
    for c in &clients {
        c.wait_for(|s| s == Status::Connected).await;
    }
    // Drain what the sessions reported and let link-time buffers go.
    while events.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (heap1, rss1) = (live(), rss());
    let per = |a: i64, b: i64| (b - a) as f64 / n as f64 / 1024.0;
    println!(
        "{}",
        serde_json::json!({
            "sessions": n,
            "heap_per_session_kib": per(heap0, heap1),
            "rss_per_session_kib": per(rss0 as i64, rss1 as i64),
        })
    );
    for c in &clients {
        c.shutdown().await;
    }
    Ok(())
}
