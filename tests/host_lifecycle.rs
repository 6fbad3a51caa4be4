//! A session's life under concurrency: admissions never pass the session
//! limit however many creates race, and a logout racing a delete or a
//! restart, or finding no state on disk, is never a storage error.

use std::sync::Arc;
use std::time::Duration;

use wasp::client::ClientConfig;
use wasp::host::{CreateSession, Host, HostConfig, HostError};
use wasp::sim::{self, SimConfig, SimHandle};

/// A hang guard, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

fn host(sim: &SimHandle, data: &std::path::Path, max_sessions: Option<usize>) -> Arc<Host> {
    let mut client = ClientConfig::for_tests(sim.ws_url(), sim.root_public_key());
    client.qr_first_ttl = Duration::from_secs(30);
    let mut config = HostConfig::new(data, client);
    config.max_sessions = max_sessions;
    Host::open(config).expect("host opens")
}

fn new_session(id: &str) -> CreateSession {
    CreateSession {
        id: Some(id.into()),
        ..CreateSession::default()
    }
}

/// Waits until session `id` reports `status` (as the API names it).
async fn wait_status(host: &Host, id: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let info = host.get(id).unwrap();
        if serde_json::to_value(info.status).unwrap() == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never {status}: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_pass_the_session_limit() {
    const MAX: usize = 5;
    const CREATES: usize = 30;
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let host = host(&sim, data.path(), Some(MAX));
    for round in 0..8 {
        let start = Arc::new(std::sync::Barrier::new(CREATES));
        let creates: Vec<_> = (0..CREATES)
            .map(|i| {
                let (host, start) = (host.clone(), start.clone());
                tokio::task::spawn_blocking(move || {
                    start.wait();
                    host.create(new_session(&format!("r{round}-{i}")))
                })
            })
            .collect();
        let mut admitted = Vec::new();
        for create in creates {
            match create.await.unwrap() {
                Ok(info) => admitted.push(info.id),
                Err(HostError::CapacityExhausted { max }) => assert_eq!(max, MAX),
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(admitted.len(), MAX, "round {round} admitted {admitted:?}");
        assert_eq!(host.capacity().sessions, MAX, "round {round}");
        assert_eq!(host.list().unwrap().len(), MAX, "round {round}");
        for id in &admitted {
            host.delete(id).await.unwrap();
        }
        assert_eq!(host.capacity().sessions, 0, "round {round}");
    }
    host.shutdown().await;
}

#[tokio::test]
async fn logout_of_a_session_whose_state_is_gone_unlinks_it() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let first = host(&sim, data.path(), None);
    first.create(new_session("gone")).unwrap();
    wait_status(&first, "gone", "qr").await;
    first.shutdown().await;
    drop(first);
    // The record stays, the directory does not (a crash before the first
    // write, an operator's cleanup); the session is not restored yet.
    std::fs::remove_dir_all(data.path().join("gone")).unwrap();
    let host = host(&sim, data.path(), None);
    let info = host.logout("gone").await.expect("logout succeeds");
    assert_eq!(info.id, "gone");
    wait_status(&host, "gone", "logged_out").await;
    // Logging out again, and restoring, keep it logged out.
    host.logout("gone").await.expect("second logout succeeds");
    host.restore().await.unwrap();
    wait_status(&host, "gone", "logged_out").await;
    assert_eq!(host.capacity().sessions, 0);
    host.shutdown().await;
}

enum Op {
    Delete,
    Restart,
}

/// Runs `op` and a logout of session `id` at once, on separate workers.
async fn both(
    host: &Arc<Host>,
    id: &str,
    op: Op,
) -> (Result<(), HostError>, Result<(), HostError>) {
    let (h, i) = (host.clone(), id.to_string());
    let first = tokio::spawn(async move {
        match op {
            Op::Delete => h.delete(&i).await,
            Op::Restart => h.restart(&i).await.map(|_| ()),
        }
    });
    let (h, i) = (host.clone(), id.to_string());
    let logout = tokio::spawn(async move { h.logout(&i).await.map(|_| ()) });
    (first.await.unwrap(), logout.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_racing_a_delete_or_a_restart_is_never_an_internal_error() {
    let sim = sim::start(SimConfig::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let host = host(&sim, data.path(), None);
    for round in 0..10 {
        let id = format!("del{round}");
        host.create(new_session(&id)).unwrap();
        wait_status(&host, &id, "qr").await;
        let (deleted, logged_out) = both(&host, &id, Op::Delete).await;
        deleted.unwrap_or_else(|e| panic!("round {round}: delete: {e}"));
        match logged_out {
            Ok(_) | Err(HostError::NotFound(_)) => {}
            Err(e) => panic!("round {round}: logout: {e}"),
        }
        assert!(!data.path().join(&id).exists(), "round {round}: state left");
        assert!(matches!(host.get(&id), Err(HostError::NotFound(_))));

        let id = format!("re{round}");
        host.create(new_session(&id)).unwrap();
        wait_status(&host, &id, "qr").await;
        let (restarted, logged_out) = both(&host, &id, Op::Restart).await;
        restarted.unwrap_or_else(|e| panic!("round {round}: restart: {e}"));
        logged_out.unwrap_or_else(|e| panic!("round {round}: logout: {e}"));
        // Whichever came last, the session ends up unlinked.
        wait_status(&host, &id, "logged_out").await;
    }
    host.shutdown().await;
}
