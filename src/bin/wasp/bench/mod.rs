//! `wasp bench`: the load harness.
//!
//! Starts the simulator and `wasp serve` as two child processes of this
//! executable, links N sessions through the real HTTP API, and measures
//! the serve process from outside: RSS total and per session, time to
//! link, idle CPU, and time to restore every session after a restart.
//! Part of the binary, not the library: it only drives processes.

mod chaos;
mod cluster;
mod failover;
mod http;
mod measure;
mod plot;
mod procs;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;

use http::Http;
use procs::{Pinning, Serve, Sim};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Session counts to measure at, ascending (e.g. 1,100,1000,5000).
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    sessions: Vec<usize>,
    /// Seconds to sample idle CPU over, once all sessions are connected.
    #[arg(long, default_value_t = 10)]
    idle_secs: u64,
    /// Links (and texts) in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Texts to send through the API once every session is linked (each
    /// session writes to the next session's phone; 0 skips the phase).
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Before the measured texts, one text from each session to the
    /// next, unmeasured: the first contacts (device query, prekey bundle,
    /// X3DH) are then out of the figures, which measure texts between
    /// sessions that already talk.
    #[arg(long)]
    warm_up: bool,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench.json")]
    out: PathBuf,
    /// Also draw RSS against sessions into this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Working directory for the serve process's data (a temporary one
    /// under the system temp dir by default; it is removed at the end).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Measure failover instead: start this many `wasp serve` nodes of a
    /// cluster (Redis and PostgreSQL needed), link the largest
    /// `--sessions` count, and kill the busiest node `--kills` times.
    #[arg(long)]
    cluster: Option<usize>,
    /// Nodes killed, one after another, with `--cluster`.
    #[arg(long, default_value_t = 3)]
    kills: usize,
    /// With `--cluster`: a chaos run of this many seconds instead (phones
    /// text the sessions all along; the busiest node is killed, started
    /// again and the cluster rebalanced every `--kill-every` seconds);
    /// `--plot` draws the sessions per node.
    #[arg(long)]
    chaos: Option<u64>,
    /// Seconds between two kills of a chaos run.
    #[arg(long, default_value_t = 30)]
    kill_every: u64,
    /// Texts per second the phones send during a chaos run.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// The Redis of `--cluster` (a key prefix of the run's own).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// The single-node run with serve's state in PostgreSQL instead of
    /// files: the server (its user may create a database; one of the
    /// run's own is dropped at the end).
    #[arg(long)]
    store_postgres: Option<String>,
    /// The PostgreSQL server of `--cluster`: its user may create a
    /// database (one of the run's own, dropped at the end).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Measure over TLS too: the same run over `ws://`, then with the
    /// simulator serving `wss://` (a test certificate of its own), the
    /// two reported side by side.
    #[arg(long)]
    tls: bool,
    /// Pin `wasp serve` to the first core and the simulator and this
    /// harness to the others (`taskset`), so serve's CPU figures are its
    /// own work (2 cores at least).
    #[arg(long)]
    pin: bool,
}

#[derive(Serialize)]
struct Step {
    sessions: usize,
    rss_bytes: u64,
    /// (RSS now - RSS with one session) / (sessions - 1).
    marginal_bytes_per_session: Option<u64>,
    link_secs: f64,
}

/// The messaging phase: texts sent through `POST /v1/sessions/{id}/messages`.
#[derive(Serialize)]
struct Messaging {
    messages: usize,
    /// Texts the server acknowledged per second, over the whole phase.
    sent_per_sec: f64,
    /// API latency of one send (request to the server's ack), ms.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Until every text was also received (decrypted) by its recipient
    /// session, counted from the start of the phase.
    all_received_secs: f64,
    /// CPU time (user + system) `wasp serve` spent per text over the
    /// phase, sending and receiving it (both sessions are its own), µs.
    serve_cpu_us_per_text: f64,
    /// The same for the simulator (the server and the phones' side).
    sim_cpu_us_per_text: f64,
    rss_after_bytes: u64,
}

#[derive(Serialize)]
struct Report {
    profile: &'static str,
    baseline_rss_bytes: u64,
    steps: Vec<Step>,
    idle_cpu_percent_of_one_core_per_1000: Option<f64>,
    messaging: Option<Messaging>,
    restore_sessions: usize,
    restore_secs: f64,
    rss_after_restore_bytes: u64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut targets = args.sessions.clone();
    targets.sort_unstable();
    targets.dedup();
    let Some(&max) = targets.last() else {
        bail!("--sessions needs at least one count");
    };
    let tmp = tempdir_for(args.data.clone())?;
    if let (Some(nodes), Some(secs)) = (args.cluster, args.chaos) {
        let plan = chaos::Plan {
            nodes,
            sessions: max,
            secs,
            kill_every: args.kill_every.max(1),
            rate: args.rate,
            concurrency: args.concurrency,
            redis: &args.redis,
            postgres: &args.postgres,
            data: &tmp,
        };
        let report = chaos::run(&plan).await;
        if args.data.is_none() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        let report = report?;
        println!(
            "chaos: {} nodes, {} sessions, {} s, {} kills: back in p50 {:.1}s p99 {:.1}s max {:.1}s; texts sent {}, lost {}, received twice {}, webhook redeliveries {}; most logins of one device at once: {}",
            report.nodes,
            report.sessions,
            report.chaos_secs,
            report.kills,
            report.failover_p50_secs,
            report.failover_p99_secs,
            report.failover_max_secs,
            report.texts_sent,
            report.texts_lost,
            report.texts_received_twice,
            report.webhook_redeliveries,
            report.max_concurrent_logins_per_device
        );
        if let Some(path) = &args.plot {
            let names: Vec<String> = (1..=report.nodes).map(|i| format!("n{i}")).collect();
            let points: Vec<(f64, Vec<u64>)> = report
                .samples
                .iter()
                .map(|s| {
                    let counts = names
                        .iter()
                        .map(|n| s.sessions.get(n).copied().unwrap_or(0))
                        .collect();
                    (s.secs, counts)
                })
                .collect();
            let title = format!(
                "Sessions per node: {} sessions, a node killed every {} s",
                report.sessions, args.kill_every
            );
            std::fs::write(path, plot::nodes_svg(&title, &names, &points))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("plot written to {}", path.display());
        }
        std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", args.out.display()))?;
        println!("report written to {}", args.out.display());
        return Ok(());
    }
    if let Some(nodes) = args.cluster {
        let plan = failover::Plan {
            nodes,
            sessions: max,
            kills: args.kills,
            concurrency: args.concurrency,
            redis: &args.redis,
            postgres: &args.postgres,
            data: &tmp,
        };
        let report = failover::run(&plan).await;
        if args.data.is_none() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        let report = report?;
        println!(
            "failover: {} nodes, {} sessions, {} kills: back in p50 {:.1}s p99 {:.1}s max {:.1}s; most logins of one device at once: {}",
            report.nodes,
            report.sessions,
            report.rounds.len(),
            report.p50_secs,
            report.p99_secs,
            report.max_secs,
            report.max_concurrent_logins_per_device
        );
        std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", args.out.display()))?;
        println!("report written to {}", args.out.display());
        return Ok(());
    }
    let pinning = if args.pin { pin()? } else { Pinning::default() };
    let mut runs = vec![(
        "ws",
        measure_run(&args, &targets, &tmp.join("ws"), false, &pinning).await,
    )];
    if args.tls {
        runs.push((
            "wss",
            measure_run(&args, &targets, &tmp.join("wss"), true, &pinning).await,
        ));
    }
    if args.data.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let mut reports = Vec::new();
    for (name, report) in runs {
        let report = report.with_context(|| format!("the run over {name}://"))?;
        println!("over {name}://");
        print_table(&report);
        reports.push((name, report));
    }
    if let [(_, ws), (_, wss)] = &reports[..] {
        print_side_by_side(ws, wss);
    }
    let json = match &reports[..] {
        [(_, only)] => serde_json::to_vec_pretty(only)?,
        all => serde_json::to_vec_pretty(
            &all.iter()
                .map(|(n, r)| (*n, r))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )?,
    };
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    println!("report written to {}", args.out.display());
    if let (Some(path), Some((_, report))) = (&args.plot, reports.first()) {
        let mut points = vec![(0, report.baseline_rss_bytes)];
        points.extend(report.steps.iter().map(|s| (s.sessions, s.rss_bytes)));
        let title = format!(
            "wasp serve RSS against connected sessions ({} build)",
            report.profile
        );
        std::fs::write(path, plot::rss_svg(&title, &points))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    Ok(())
}

/// `--pin`: serve on core 0, the simulator and this harness on the rest.
fn pin() -> anyhow::Result<Pinning> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        bail!("--pin needs at least 2 cores, this machine has {cores}");
    }
    let rest = format!("1-{}", cores - 1);
    procs::pin_self(&rest)?;
    eprintln!("pinned: serve on core 0, the simulator and the harness on cores {rest}");
    Ok(Pinning {
        serve: Some("0".into()),
        sim: Some(rest),
    })
}

/// One single-node run over `data`, over TLS when `tls`, with serve's
/// state in files or in a PostgreSQL database of the run's own.
async fn measure_run(
    args: &BenchArgs,
    targets: &[usize],
    data: &std::path::Path,
    tls: bool,
    pinning: &Pinning,
) -> anyhow::Result<Report> {
    // Private, as serve wants its data directory (else it warns).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(data)
        .with_context(|| format!("creating {}", data.display()))?;
    match args.store_postgres.clone() {
        Some(server) => {
            cluster::with_own_database(&server, |url, _| async move {
                single(
                    args,
                    targets,
                    data,
                    &["--postgres".into(), url],
                    tls,
                    pinning,
                )
                .await
            })
            .await
        }
        None => single(args, targets, data, &[], tls, pinning).await,
    }
}

/// The single-node run: one `wasp serve` (with `store` flags added).
async fn single(
    args: &BenchArgs,
    targets: &[usize],
    tmp: &std::path::Path,
    store: &[String],
    tls: bool,
    pinning: &Pinning,
) -> anyhow::Result<Report> {
    let max = targets.last().copied().unwrap_or(0);
    // Beside serve's data directory, not in it: serve makes what it
    // finds there private and warns about the file.
    let ca_file = tmp.with_extension("sim-ca.pem");
    let sim = Sim::start_with(pinning.sim.as_deref(), tls.then_some(ca_file.as_path()))
        .await
        .context("starting the simulator")?;
    let mut serve = Serve::start(&sim, tmp, max, store, pinning.serve.as_deref())
        .await
        .context("starting wasp serve")?;
    let api = Http::new(&serve.api_url)?;
    let admin = Http::new(&sim.admin_url)?;
    wait_ready(&api).await?;
    let baseline = measure::rss(serve.pid())?;
    eprintln!("serve pid {} baseline RSS {}", serve.pid(), mib(baseline));

    let mut steps = Vec::new();
    let mut phones: Vec<(usize, String)> = Vec::new();
    let mut linked = 0usize;
    let mut one_session_rss = None;
    for &target in targets {
        let started = Instant::now();
        phones.extend(link_many(&api, &admin, linked, target, args.concurrency).await?);
        let link_secs = started.elapsed().as_secs_f64();
        linked = target;
        // Let allocators and buffers settle before reading RSS.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = measure::rss(serve.pid())?;
        if target == 1 {
            one_session_rss = Some(rss);
        }
        let marginal = match one_session_rss {
            Some(first) if target > 1 => Some(rss.saturating_sub(first) / (target as u64 - 1)),
            _ => None,
        };
        eprintln!(
            "{target:>6} sessions: RSS {} link {link_secs:.1}s",
            mib(rss)
        );
        steps.push(Step {
            sessions: target,
            rss_bytes: rss,
            marginal_bytes_per_session: marginal,
            link_secs,
        });
    }

    let idle = measure::cpu_ticks(serve.pid())?;
    let window = Duration::from_secs(args.idle_secs);
    tokio::time::sleep(window).await;
    let busy = measure::cpu_ticks(serve.pid())?.saturating_sub(idle);
    let idle_cpu = (max > 0).then(|| {
        let percent = busy as f64 / measure::ticks_per_sec() / window.as_secs_f64() * 100.0;
        percent * 1000.0 / max as f64
    });

    phones.sort_unstable();
    let messaging = if args.messages > 0 && max > 1 {
        let pids = (serve.pid(), sim.pid());
        if args.warm_up {
            send_many(&api, &phones, phones.len(), args.concurrency, pids)
                .await
                .context("warming up")?;
        }
        Some(send_many(&api, &phones, args.messages, args.concurrency, pids).await?)
    } else {
        None
    };

    // Restore: stop serve cleanly, start it again over the same data.
    serve.stop().await?;
    let started = Instant::now();
    serve = Serve::start(&sim, tmp, max, store, pinning.serve.as_deref()).await?;
    let api = Http::new(&serve.api_url)?;
    wait_connected(&api, max).await?;
    let restore_secs = started.elapsed().as_secs_f64();
    let rss_after_restore = measure::rss(serve.pid())?;
    serve.stop().await?;
    sim.stop().await;

    let report = Report {
        profile: profile(),
        baseline_rss_bytes: baseline,
        steps,
        idle_cpu_percent_of_one_core_per_1000: idle_cpu,
        messaging,
        restore_sessions: max,
        restore_secs,
        rss_after_restore_bytes: rss_after_restore,
    };
    Ok(report)
}

/// Sends `count` texts, session `i` to the phone of session `i+1`, with
/// `concurrency` in flight; measures each send's API latency, then waits
/// until every recipient session has received its text.
async fn send_many(
    api: &Http,
    phones: &[(usize, String)],
    count: usize,
    concurrency: usize,
    (pid, sim_pid): (u32, u32),
) -> anyhow::Result<Messaging> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let received_before = received_total(api).await?;
    let cpu_before = (measure::cpu_ticks(pid)?, measure::cpu_ticks(sim_pid)?);
    let started = Instant::now();
    let mut latencies: Vec<f64> = stream::iter(0..count)
        .map(|n| {
            let (i, _) = &phones[n % phones.len()];
            let (_, to) = &phones[(n + 1) % phones.len()];
            async move {
                let sent = Instant::now();
                api.json(
                    "POST",
                    &format!("/v1/sessions/bench{i}/messages"),
                    Some(serde_json::json!({ "to": to, "text": format!("bench text {n}") })),
                )
                .await?;
                anyhow::Ok(sent.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let sent_secs = started.elapsed().as_secs_f64();
    poll(|| async {
        let received = received_total(api).await?;
        Ok((received >= received_before + count as u64).then_some(()))
    })
    .await
    .context("not every text reached its recipient session")?;
    let all_received_secs = started.elapsed().as_secs_f64();
    let per_text = |after: u64, before: u64| {
        after.saturating_sub(before) as f64 / measure::ticks_per_sec() * 1e6 / count as f64
    };
    let serve_cpu_us_per_text = per_text(measure::cpu_ticks(pid)?, cpu_before.0);
    let sim_cpu_us_per_text = per_text(measure::cpu_ticks(sim_pid)?, cpu_before.1);
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let m = Messaging {
        messages: count,
        sent_per_sec: count as f64 / sent_secs,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        all_received_secs,
        serve_cpu_us_per_text,
        sim_cpu_us_per_text,
        rss_after_bytes: measure::rss(pid)?,
    };
    eprintln!(
        "{count} texts: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, all received after {:.1}s",
        m.sent_per_sec, m.p50_ms, m.p99_ms, m.all_received_secs
    );
    Ok(m)
}

/// `wasp_messages_received_total` from /metrics.
async fn received_total(api: &Http) -> anyhow::Result<u64> {
    let (_, text) = api.get_text("/metrics").await?;
    text.lines()
        .find_map(|l| l.strip_prefix("wasp_messages_received_total "))
        .and_then(|v| v.trim().parse().ok())
        .context("/metrics has no wasp_messages_received_total")
}

/// Creates sessions `from..to` and links each to a new simulated phone;
/// returns (session index, phone number) of each.
async fn link_many(
    api: &Http,
    admin: &Http,
    from: usize,
    to: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<(usize, String)>> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let phones = stream::iter(from..to)
        .map(|i| link_one(api, admin, i))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    wait_connected(api, to).await?;
    Ok(phones)
}

async fn link_one(api: &Http, admin: &Http, i: usize) -> anyhow::Result<(usize, String)> {
    let id = format!("bench{i}");
    api.json(
        "POST",
        "/v1/sessions",
        Some(serde_json::json!({ "id": id })),
    )
    .await?;
    let qr = poll(|| async {
        let (status, body) = api.get(&format!("/v1/sessions/{id}/qr")).await?;
        Ok((status == 200)
            .then(|| body["qr"].as_str().map(String::from))
            .flatten())
    })
    .await
    .with_context(|| format!("no QR for {id}"))?;
    let phone = admin
        .json("POST", "/sim/phones", Some(serde_json::json!({})))
        .await?;
    let phone = phone["phone"]
        .as_str()
        .context("sim gave no phone")?
        .to_string();
    admin
        .json(
            "POST",
            &format!("/sim/phones/{phone}/scan"),
            Some(serde_json::json!({ "qr": qr })),
        )
        .await?;
    Ok((i, phone))
}

async fn wait_connected(api: &Http, want: usize) -> anyhow::Result<()> {
    poll(|| async {
        let (_, list) = api.get("/v1/sessions").await?;
        let connected = list
            .as_array()
            .map(|l| l.iter().filter(|s| s["status"] == "connected").count())
            .unwrap_or(0);
        Ok((connected >= want).then_some(()))
    })
    .await
    .with_context(|| format!("{want} sessions never all connected"))
}

async fn wait_ready(api: &Http) -> anyhow::Result<()> {
    poll(|| async {
        let (status, _) = api.get("/readyz").await?;
        Ok((status == 200).then_some(()))
    })
    .await
    .context("serve never became ready")
}

/// Polls `f` every 100 ms for up to 10 minutes.
async fn poll<T, F, Fut>(mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("gave up after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tempdir_for(data: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = data
        .unwrap_or_else(|| std::env::temp_dir().join(format!("wasp-bench-{}", std::process::id())));
    // Private from the start, as `wasp serve` wants its data directory
    // (it would repair a wider mode, with a warning).
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The build measured: a debug build is several times slower.
fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// Idle memory per session over ws:// and wss:// at each step.
fn print_side_by_side(ws: &Report, wss: &Report) {
    println!(
        "{:>8} {:>14} {:>14} {:>12}",
        "sessions", "ws per session", "wss per session", "TLS adds"
    );
    for (a, b) in ws.steps.iter().zip(&wss.steps) {
        let kib = |s: &Step| s.marginal_bytes_per_session.map(|v| v as f64 / 1024.0);
        match (kib(a), kib(b)) {
            (Some(x), Some(y)) => println!(
                "{:>8} {:>10.1} KiB {:>10.1} KiB {:>8.1} KiB",
                a.sessions,
                x,
                y,
                y - x
            ),
            _ => println!(
                "{:>8} RSS {} over ws, {} over wss",
                a.sessions,
                mib(a.rss_bytes),
                mib(b.rss_bytes)
            ),
        }
    }
}

fn print_table(r: &Report) {
    println!("wasp bench ({} build)", r.profile);
    println!("baseline RSS (no session): {}", mib(r.baseline_rss_bytes));
    println!(
        "{:>8} {:>12} {:>16} {:>10}",
        "sessions", "RSS", "per session", "link"
    );
    for s in &r.steps {
        let per = s
            .marginal_bytes_per_session
            .map(|b| format!("{:.1} KiB", b as f64 / 1024.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>8} {:>12} {:>16} {:>9.1}s",
            s.sessions,
            mib(s.rss_bytes),
            per,
            s.link_secs
        );
    }
    if let Some(cpu) = r.idle_cpu_percent_of_one_core_per_1000 {
        println!("idle CPU: {cpu:.2}% of one core per 1,000 sessions");
    }
    if let Some(m) = &r.messaging {
        println!(
            "{} texts through the API: {:.0}/s, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all received after {:.1}s; RSS after {}",
            m.messages, m.sent_per_sec, m.p50_ms, m.p99_ms, m.max_ms, m.all_received_secs, mib(m.rss_after_bytes)
        );
        println!(
            "CPU per text (sent and received): serve {:.0} µs, simulator {:.0} µs",
            m.serve_cpu_us_per_text, m.sim_cpu_us_per_text
        );
    }
    println!(
        "restore {} sessions to connected: {:.1}s (RSS after: {})",
        r.restore_sessions,
        r.restore_secs,
        mib(r.rss_after_restore_bytes)
    );
}
