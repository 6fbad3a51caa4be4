//! The `wasp` binary as a user runs it: `wasp sim` in one process,
//! `wasp link` in another, linked through the simulator's HTTP phone API,
//! then a restart that logs in from the stored state without a QR; and
//! `wasp serve` shutting down on SIGTERM while a client holds an event
//! stream open.
#![cfg(unix)]

#[path = "interop/admin.rs"]
mod admin;
mod process;

use std::process::Command;
use std::time::Duration;

use admin::AdminClient;
use process::{poll, sim_value, Proc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_and_link_commands_pair_restart_and_shut_down_cleanly() {
    let mut sim = Proc::spawn(&["sim", "--listen", "127.0.0.1:0"]);
    let ws_url = sim_value(&mut sim, "ws_url").await;
    let admin_url = sim_value(&mut sim, "admin_url").await;
    let root = sim_value(&mut sim, "root_public_key").await;
    let admin = AdminClient::new(&admin_url).expect("admin url");
    let phone = admin.create_phone().await.expect("phone");

    let data = tempfile::tempdir().expect("temp dir");
    let data_path = data.path().to_str().expect("utf-8 path");
    let link_args = [
        "link",
        "--data",
        data_path,
        "--session",
        "cli",
        "--whatsapp-url",
        &ws_url,
        "--whatsapp-root-key",
        &root,
    ];

    let mut link = Proc::spawn(&link_args);
    let first = link.next_event().await;
    assert_eq!(first["type"], "qr", "{first}");
    let qr = first["code"].as_str().expect("qr code");
    let device = admin.scan(&phone, qr).await.expect("scan");
    assert_eq!(link.next_event().await["jid"], device.as_str());
    assert_eq!(link.next_event().await["type"], "connected");
    assert!(link.terminate().success(), "SIGTERM exits cleanly");

    // A restart logs in from ./data/cli without a new QR.
    let mut again = Proc::spawn(&link_args);
    assert_eq!(again.next_event().await["type"], "connected");
    let devices = admin.devices(&phone).await.expect("devices");
    assert!(devices.iter().any(|d| d.jid == device && d.connected));
    assert!(again.terminate().success());

    assert!(
        sim.terminate().success(),
        "the simulator shuts down cleanly"
    );
}

#[test]
fn a_malformed_root_key_is_refused_with_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["link", "--whatsapp-root-key", "abcd", "--data"])
        .arg(std::env::temp_dir())
        .output()
        .expect("wasp runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a root key is 32 bytes"), "{stderr}");
}

#[test]
fn serve_refuses_a_public_listener_without_an_api_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(std::env::temp_dir().join("wasp-cli-no-key"))
        .env_remove("WASP_API_KEY")
        .output()
        .expect("wasp runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without an API key"), "{stderr}");
}

/// A public listener guards sessions' webhooks against internal addresses
/// by default; `--webhook-allow-private` lifts the guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_a_public_listener_refuses_internal_webhooks() {
    for (allow, want) in [(None, 400), (Some("--webhook-allow-private"), 201)] {
        let data = tempfile::tempdir().unwrap();
        let data = data.path().to_str().unwrap();
        let mut args = vec![
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--api-key",
            "k",
            "--data",
            data,
            "--simulate",
            "--sim-listen",
            "127.0.0.1:0",
        ];
        args.extend(allow);
        let mut serve = Proc::spawn(&args);
        sim_value(&mut serve, "sim_admin_url").await;
        let url = sim_value(&mut serve, "api_url").await;
        let port = url.rsplit(':').next().unwrap();
        let api = AdminClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let body = br#"{"id": "s", "webhook_url": "http://127.0.0.1:9/hook"}"#;
        let (status, answer) = api
            .request(
                "POST",
                "/v1/sessions",
                &[("Authorization", "Bearer k")],
                Some(body),
            )
            .await
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, want, "{allow:?}: {answer}");
        if want == 400 {
            assert!(answer.contains("invalid_webhook"), "{answer}");
        }
        assert!(serve.terminate().success());
    }
}

/// Runs a `wasp bench` command with its report written into `dir`; its
/// standard output and the report, once it succeeded.
fn bench_report(mut bench: Command, dir: &std::path::Path) -> (String, serde_json::Value) {
    let out_file = dir.join("bench.json");
    let out = bench
        .arg("--out")
        .arg(&out_file)
        .output()
        .expect("wasp runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), report)
}

/// The load harness end to end at a tiny size: it starts its own
/// simulator and serve processes, links sessions over HTTP, restores them
/// and writes a JSON report with the figures the README promises.
#[test]
fn the_bench_harness_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_wasp"));
    bench
        .args(["bench", "--sessions", "1,3", "--idle-secs", "1"])
        .args(["--messages", "20"])
        .arg("--data")
        .arg(dir.path().join("data"));
    let (_, report) = bench_report(bench, dir.path());
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1]["sessions"], 3);
    assert!(steps[1]["rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(report["messaging"]["messages"], 20);
    assert!(report["messaging"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(report["restore_sessions"], 3);
    assert!(report["restore_secs"].as_f64().is_some());
}

/// `wasp bench --tls`: the same tiny run over ws:// and over wss:// (the
/// simulator's own test certificate, trusted by serve through
/// `--whatsapp-ca-file`), both in the report; texts flow over TLS too.
#[test]
fn the_bench_harness_measures_over_tls_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_wasp"));
    bench
        .args(["bench", "--tls", "--sessions", "1,2", "--idle-secs", "1"])
        .args(["--messages", "4"]);
    let (stdout, report) = bench_report(bench, dir.path());
    assert!(stdout.contains("wss per session"), "{stdout}");
    for run in ["ws", "wss"] {
        assert_eq!(report[run]["steps"][1]["sessions"], 2, "{run}");
        assert_eq!(report[run]["messaging"]["messages"], 4, "{run}");
        assert_eq!(report[run]["restore_sessions"], 2, "{run}");
    }
}

/// `wasp serve` with a linked session and an open SSE stream gets SIGTERM:
/// the stream ends, the process exits 0 within its grace period, and the
/// session closed cleanly (the simulator sees the device offline). The
/// API key comes from a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_shuts_down_on_sigterm_with_an_event_stream_open() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut sim = Proc::spawn(&["sim", "--listen", "127.0.0.1:0"]);
    let ws_url = sim_value(&mut sim, "ws_url").await;
    let admin_url = sim_value(&mut sim, "admin_url").await;
    let root = sim_value(&mut sim, "root_public_key").await;
    let admin = AdminClient::new(&admin_url).expect("admin url");

    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("api.key");
    std::fs::write(&key_file, "  file-key-0123456789\n").unwrap();
    let data = dir.path().join("data");
    let grace = Duration::from_secs(3);
    let mut serve = Proc::spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
        "--whatsapp-url",
        &ws_url,
        "--whatsapp-root-key",
        &root,
        "--api-key-file",
        key_file.to_str().unwrap(),
        "--shutdown-grace",
        "3s",
    ]);
    let api_url = sim_value(&mut serve, "api_url").await;
    let api = AdminClient::new(&api_url).expect("api url");
    let auth = [("Authorization", "Bearer file-key-0123456789")];
    let (status, _) = api.request("GET", "/v1/sessions", &[], None).await.unwrap();
    assert_eq!(status, 401, "the key file is in force");

    let body = br#"{"id":"alice"}"#;
    let (status, _) = api
        .request("POST", "/v1/sessions", &auth, Some(body))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let (phone, device) = process::link_by_api(&api, &admin, "alice", &auth).await;

    // An event stream that stays open: this client never leaves.
    let mut stream = tokio::net::TcpStream::connect(api_url.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            b"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer file-key-0123456789\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    // The grace period is the deadline under test; the margin covers a
    // slow machine closing the session after it.
    let status = serve
        .terminate_within(grace * 2 + Duration::from_secs(20))
        .await
        .expect("serve exits although the stream is open");
    assert!(status.success(), "exit status {status}");
    poll(|| async {
        let devices = admin.devices(&phone).await.ok()?;
        devices
            .iter()
            .any(|d| d.jid == device && !d.connected)
            .then_some(())
    })
    .await;
    assert!(sim.terminate().success());
}

#[test]
fn serve_takes_one_api_key_source_only() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "k").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["serve", "--api-key", "k", "--api-key-file"])
        .arg(&key_file)
        .arg("--data")
        .arg(dir.path())
        .output()
        .expect("wasp runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
