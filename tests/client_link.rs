//! End to end: our client against our simulator over real loopback
//! WebSockets — linking by QR, logging in again from stored state, and
//! every way a connection can end.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::Harness;
use wasp::client::{Event, Status};
use wasp::sim::{FaultKind, SimHandle};

async fn device_connected(sim: &SimHandle, phone: &str, jid: &str) -> bool {
    sim.devices(phone)
        .expect("phone exists")
        .iter()
        .any(|d| d.jid == jid && d.connected)
}

#[tokio::test]
async fn links_by_qr_and_reconnects_after_a_dropped_socket() {
    let h = Harness::new().await;
    let (mut session, phone, jid) = h.linked("alice").await;
    assert_eq!(session.client.status(), Status::Connected);
    assert_eq!(session.client.jid().as_deref(), Some(jid.as_str()));
    assert!(device_connected(&h.sim, &phone, &jid).await);

    h.sim.fault(&jid, FaultKind::Drop).expect("fault injected");
    let seen = session.until(|e| *e == Event::Connected).await;
    assert!(
        seen.iter().any(|e| matches!(e, Event::Reconnecting { .. })),
        "a dropped socket is followed by a reconnect: {seen:?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Qr { .. })),
        "no new QR after a drop: {seen:?}"
    );
    session.client.shutdown().await;
}

#[tokio::test]
async fn logs_in_again_from_stored_state_after_a_restart() {
    let h = Harness::new().await;
    let (session, phone, jid) = h.linked("bob").await;
    session.client.shutdown().await;
    drop(session);

    // A new client task over the same directory: the process restarted.
    let mut again = h.spawn("bob");
    let seen = again.until(|e| *e == Event::Connected).await;
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Qr { .. })),
        "stored credentials log in without a QR: {seen:?}"
    );
    assert_eq!(again.client.jid().as_deref(), Some(jid.as_str()));
    assert!(device_connected(&h.sim, &phone, &jid).await);
    again.client.shutdown().await;
}

#[tokio::test]
async fn stops_when_another_client_replaces_the_session() {
    let h = Harness::new().await;
    let (mut session, _phone, jid) = h.linked("carol").await;
    h.sim
        .fault(&jid, FaultKind::Conflict)
        .expect("fault injected");
    let seen = session
        .until(|e| matches!(e, Event::Stopped { .. } | Event::LoggedOut { .. }))
        .await;
    assert!(
        matches!(seen.last(), Some(Event::Stopped { reason }) if reason.contains("replaced")),
        "conflict stops the session: {seen:?}"
    );
    assert_eq!(session.client.status(), Status::Stopped);
    // Stopped means stopped: no reconnect attempt follows.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(session.events.try_recv().is_err());
}

#[tokio::test]
async fn reports_logged_out_when_the_phone_removes_the_device() {
    let h = Harness::new().await;
    let (mut session, phone, jid) = h.linked("dave").await;
    h.sim
        .fault(&jid, FaultKind::Logout)
        .expect("fault injected");
    let seen = session
        .until(|e| matches!(e, Event::LoggedOut { .. } | Event::Stopped { .. }))
        .await;
    assert!(
        matches!(seen.last(), Some(Event::LoggedOut { .. })),
        "{seen:?}"
    );
    assert_eq!(session.client.status(), Status::LoggedOut);

    // Nothing usable is left on disk.
    let creds = h
        .data
        .session("dave")
        .expect("id")
        .read("creds.json")
        .expect("readable")
        .expect("a logged-out record remains");
    let text = String::from_utf8(creds).expect("json");
    for secret in ["noise_key", "identity_key", "adv_secret", "signed_prekey"] {
        assert!(!text.contains(secret), "{secret} survived logout: {text}");
    }
    let dave = h.data.session("dave").expect("id");
    let prekeys = (dave.read_slotted("prekeys.json"), dave.read("prekeys.json"));
    assert!(
        matches!(prekeys, (Ok(None), Ok(None))),
        "one-time prekeys are wiped too"
    );
    assert!(!device_connected(&h.sim, &phone, &jid).await);

    // A restart keeps it logged out instead of showing a QR.
    let mut again = h.spawn("dave");
    let seen = again
        .until(|e| matches!(e, Event::LoggedOut { .. } | Event::Stopped { .. }))
        .await;
    assert!(
        matches!(seen.last(), Some(Event::LoggedOut { .. })),
        "{seen:?}"
    );
}

#[tokio::test]
async fn logout_removes_the_companion_device_on_the_server() {
    let h = Harness::new().await;
    let (session, phone, jid) = h.linked("erin").await;
    session.client.logout().await.expect("logout");
    assert_eq!(session.client.status(), Status::LoggedOut);
    let devices = h.sim.devices(&phone).expect("phone");
    assert!(
        devices.iter().all(|d| d.jid != jid),
        "device unlinked on the server: {devices:?}"
    );
}

#[tokio::test]
async fn keepalive_detects_a_silent_server_and_reconnects() {
    let h = Harness::new().await;
    let (mut session, _phone, jid) = h.linked("frank").await;
    h.sim
        .fault(&jid, FaultKind::Silence)
        .expect("fault injected");
    let seen = session.until(|e| *e == Event::Connected).await;
    assert!(
        seen.iter().any(|e| matches!(e, Event::Disconnected { .. })),
        "the dead socket is noticed: {seen:?}"
    );
    session.client.shutdown().await;
}

#[tokio::test]
async fn refuses_a_server_whose_certificate_chain_leads_to_another_root() {
    let h = Harness::new().await;
    let mut config = (*h.config()).clone();
    config.root_key = [7u8; 32];
    let mut session = h.spawn_with("grace", Arc::new(config));
    let seen = session
        .until(|e| matches!(e, Event::Reconnecting { attempt: 2, .. }))
        .await;
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Qr { .. })),
        "{seen:?}"
    );
    let error = session.client.last_error().unwrap_or_default();
    assert!(error.contains("certificate"), "clear error: {error}");
    session.client.shutdown().await;
}
