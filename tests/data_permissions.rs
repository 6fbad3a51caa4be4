//! Secrets at rest: every directory the service creates in its data
//! directory is 0700 and every file 0600 (keys, Signal sessions, the host's
//! database with its webhook secrets and its WAL), whatever the umask; a
//! data directory left with wider modes is repaired on start.
//!
//! The umask is process-wide: this file is its own test binary, and every
//! test in it wants the same 022.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wasp::client::ClientConfig;
use wasp::host::{CreateSession, Host, HostConfig};
use wasp::sim::{self, SimConfig};

/// A hang guard, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

/// Umask 022, a simulator and a temporary directory for the data root.
async fn start() -> (sim::SimHandle, tempfile::TempDir) {
    // SAFETY: umask only swaps the process's file mode mask.
    #[allow(unsafe_code)]
    unsafe {
        libc::umask(0o022);
    }
    let sim = sim::start(SimConfig::default()).await.unwrap();
    (sim, tempfile::tempdir().unwrap())
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Every path under `root` with its mode (directories end in `/`).
fn modes(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let is_dir = path.is_dir();
        out.push((path.clone(), mode(&path), is_dir));
        if is_dir {
            out.extend(modes(&path));
        }
    }
    out
}

fn assert_private(root: &Path) {
    assert_eq!(mode(root), 0o700, "{}", root.display());
    for (path, mode, is_dir) in modes(root) {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn everything_the_service_writes_is_private() {
    let (sim, tmp) = start().await;
    let data = tmp.path().join("data");
    let mut client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
    client.qr_first_ttl = Duration::from_secs(30);
    let mut config = HostConfig::new(&data, client);
    config.webhooks.global = Some(wasp::host::WebhookTarget {
        url: "http://127.0.0.1:9/nobody".into(),
        secret: Some("webhook-secret".into()),
    });
    let host = Host::open(config).unwrap();
    host.create(CreateSession {
        id: Some("alice".into()),
        webhook_url: Some("http://127.0.0.1:9/alice".into()),
        webhook_secret: Some("tenant-secret".into()),
    })
    .unwrap();
    // Link, then send a first text: credentials, prekeys, a Signal session.
    let mut qr = None;
    wait_until("a QR code", || {
        qr = host.qr("alice").unwrap();
        qr.is_some()
    })
    .await;
    let phone = sim.create_phone(None).await.unwrap();
    sim.scan(&phone, &qr.unwrap().qr).await.unwrap();
    let alice = data.join("alice");
    wait_until("connected", || {
        host.get("alice").unwrap().status == wasp::client::Status::Connected
    })
    .await;
    let bob = sim.create_phone(None).await.unwrap();
    host.send_text("alice", &format!("+{bob}"), "hi")
        .await
        .unwrap();
    wait_until("prekeys stored", || alice.join("prekeys.json.a").exists()).await;
    let names: Vec<String> = std::fs::read_dir(&alice)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"creds.json".to_string()), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("session-")), "{names:?}");
    assert!(data.join("wasp.db-wal").exists());
    assert_private(&data);
    host.shutdown().await;
}

#[tokio::test]
async fn a_data_directory_with_wide_modes_is_repaired_on_start() {
    let (sim, tmp) = start().await;
    let data = tmp.path().join("data");
    // As an earlier version left it under umask 022.
    let old = data.join("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("creds.json"), b"{}").unwrap();
    std::fs::write(old.join("session-1.0.json.a"), b"x").unwrap();
    std::fs::write(data.join("stray"), b"x").unwrap();
    assert_eq!(mode(&old.join("creds.json")), 0o644);
    assert_eq!(mode(&data), 0o755);

    let client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
    let host = Host::open(HostConfig::new(&data, client)).unwrap();
    assert_private(&data);
    host.shutdown().await;
}
