//! RAM per session, as a criterion benchmark with a custom measurement:
//! the live heap bytes one linked, connected, idle session keeps.
//!
//! Each criterion iteration links one more wasp session (the client alone:
//! no host, no HTTP) to a `wasp sim` child process, so the simulator's own
//! memory is not counted; a counting global allocator reads the live heap
//! before the batch and after every session of the batch is connected and
//! settled. Criterion then reports bytes per iteration, i.e. per session.
//!
//! Run: `cargo bench --bench session_ram`. Figures are in BENCHMARKS.md
//! (section "Heap of an idle session"). `cargo test --all-targets` runs it
//! once with one session as a smoke test.

#[allow(dead_code, unused_imports)]
#[path = "../tests/interop/admin.rs"]
mod admin;
#[path = "support/heap.rs"]
mod heap;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use heap::{CountingAllocator, HeapBytes};
use wasp::client::{ChannelSink, Client, ClientConfig, Event, Status};
use wasp::store::{DataDir, FileStores};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// How long a batch rests after its last session connected, so the tasks
/// that follow a login (prekey upload, the first presence) have finished.
const SETTLE: Duration = Duration::from_millis(500);

/// A `wasp sim` child process; killed on drop.
struct Sim {
    child: Child,
    ws_url: String,
    admin_url: String,
    root_key: [u8; 32],
}

impl Sim {
    fn start() -> Result<Sim> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["sim", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting wasp sim")?;
        let stdout = child.stdout.take().context("sim stdout")?;
        let (mut ws_url, mut admin_url, mut root_key) = (None, None, None);
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(v) = line.strip_prefix("ws_url=") {
                ws_url = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("admin_url=") {
                admin_url = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("root_public_key=") {
                root_key = Some(v.to_string());
            }
            if ws_url.is_some() && admin_url.is_some() && root_key.is_some() {
                break;
            }
        }
        let (Some(ws_url), Some(admin_url), Some(root_key)) = (ws_url, admin_url, root_key) else {
            bail!("wasp sim exited before printing its addresses");
        };
        let root_key: [u8; 32] = hex::decode(root_key)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("root key is not 32 bytes"))?;
        Ok(Sim {
            child,
            ws_url,
            admin_url,
            root_key,
        })
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Links `n` sessions, waits until all are connected and settled, and
/// returns the live heap they added, in bytes; then shuts them down.
async fn heap_of_sessions(sim: &Sim, config: &Arc<ClientConfig>, n: u64) -> Result<u64> {
    let admin = admin::AdminClient::new(&sim.admin_url)?;
    let tmp = tempfile::tempdir()?;
    let stores: Arc<FileStores> = Arc::new(FileStores::new(DataDir::open(tmp.path())?));
    let (sink, mut events) = ChannelSink::new();
    let sink = Arc::new(sink);
    let before = heap::live_bytes();

    let mut clients = Vec::with_capacity(n as usize);
    for i in 0..n {
        let id = format!("s{i}");
        clients.push(Client::spawn(
            id,
            config.clone(),
            stores.clone(),
            sink.clone(),
        ));
    }
    // A phone scans each session's first QR code, concurrently.
    let mut scanned = HashSet::new();
    let mut scans = tokio::task::JoinSet::new();
    while scanned.len() < clients.len() {
        let (id, event) = events.recv().await.context("event channel closed")?;
        if let Event::Qr { code, .. } = event {
            if scanned.insert(id) {
                let admin = admin.clone();
                scans.spawn(async move {
                    let phone = admin.create_phone().await?;
                    admin.scan(&phone, &code).await
                });
            }
        }
    }
    while let Some(scan) = scans.join_next().await {
        scan??;
    }
    for client in &clients {
        client.wait_for(|s| s == Status::Connected).await;
    }
    tokio::time::sleep(SETTLE).await;
    while events.try_recv().is_ok() {}
    let after = heap::live_bytes();

    for client in &clients {
        client.shutdown().await;
    }
    Ok(after.saturating_sub(before))
}

fn idle_session(c: &mut Criterion<HeapBytes>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sim = Sim::start().expect("wasp sim starts");
    let mut config = ClientConfig::for_tests(sim.ws_url.clone(), sim.root_key);
    // Idle as in production: a first QR that does not rotate during the
    // batch, pings every 15-30 s.
    config.qr_first_ttl = Duration::from_secs(60);
    config.keepalive_min = Duration::from_secs(15);
    config.keepalive_max = Duration::from_secs(30);
    config.keepalive_timeout = Duration::from_secs(20);
    let config = Arc::new(config);

    let mut group = c.benchmark_group("session_ram");
    // Each iteration is a linked session (milliseconds of wall time), so a
    // few hundred per sample; flat sampling keeps batches of equal size.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("idle_connected", |b| {
        b.iter_custom(|iters| {
            runtime
                .block_on(heap_of_sessions(&sim, &config, iters))
                .expect("sessions link to the simulator")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(HeapBytes);
    targets = idle_session
}
criterion_main!(benches);
