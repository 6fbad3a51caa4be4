//! A `wasp` command run as its own process, as a user runs it: its
//! stdout lines on a channel, `key=value` lines read by key, SIGTERM for
//! a clean exit and SIGKILL for a crash; killed on drop so a failing
//! test leaves nothing running.
#![allow(dead_code)] // not every test binary uses every helper

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// A hang guard, not a timing assertion.
pub const GUARD: Duration = Duration::from_secs(60);

/// A child process whose stdout lines arrive on a channel; killed on drop
/// so a failing test leaves nothing running.
pub struct Proc {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wasp starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    pub async fn next_line(&mut self) -> String {
        tokio::time::timeout(GUARD, self.lines.recv())
            .await
            .expect("a line in time")
            .expect("process still running")
    }

    /// Next JSON event line printed by `wasp link`.
    pub async fn next_event(&mut self) -> Value {
        let line = self.next_line().await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// SIGTERM, then the exit status (graceful shutdown must exit 0).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.sigterm();
        self.child.wait().expect("process exits")
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// SIGTERM, then the exit status if the process ended within `limit`.
    pub async fn terminate_within(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Proc {
    /// The process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process dies at once, as in a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `key=value` lines printed by `wasp sim` at start.
pub async fn sim_value(sim: &mut Proc, key: &str) -> String {
    let line = sim.next_line().await;
    line.strip_prefix(&format!("{key}="))
        .unwrap_or_else(|| panic!("expected {key}=..., got {line}"))
        .to_string()
}

/// Polls `check` every 50 ms until it returns `Some` (a hang guard, not a
/// timing assertion).
pub async fn poll<T, F: std::future::Future<Output = Option<T>>>(check: impl FnMut() -> F) -> T {
    poll_for(GUARD, check).await
}

/// [`poll`] with a hang guard of `limit`.
pub async fn poll_for<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    check: impl FnMut() -> F,
) -> T {
    wait_for("the state", limit, check).await
}

/// [`poll`], naming `what` it waits for if it times out.
pub async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    check: impl FnMut() -> F,
) -> T {
    wait_for(what, GUARD, check).await
}

async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    tokio::time::timeout(limit, async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Links session `id` of a running `wasp serve` (its API at `api`, with
/// `auth` headers) to a new phone of the simulator (admin API `admin`):
/// reads its QR code, scans it, waits until the session is connected.
/// Returns the phone and the linked device's JID. The test binary must
/// have `mod admin` (`tests/interop/admin.rs`).
pub async fn link_by_api(
    api: &super::admin::AdminClient,
    admin: &super::admin::AdminClient,
    id: &str,
    auth: &[(&str, &str)],
) -> (String, String) {
    let qr = poll(|| async {
        let (status, body) = api
            .request("GET", &format!("/v1/sessions/{id}/qr"), auth, None)
            .await
            .ok()?;
        let json: Value = serde_json::from_slice(&body).ok()?;
        (status == 200).then(|| json["qr"].as_str().map(String::from))?
    })
    .await;
    let phone = admin.create_phone().await.expect("phone");
    let device = admin.scan(&phone, &qr).await.expect("scan");
    poll(|| async {
        let (_, body) = api
            .request("GET", &format!("/v1/sessions/{id}"), auth, None)
            .await
            .ok()?;
        let json: Value = serde_json::from_slice(&body).ok()?;
        (json["status"] == "connected").then_some(())
    })
    .await;
    (phone, device)
}
