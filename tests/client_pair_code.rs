//! End to end: our client links to our simulator with the 8-character
//! linking code instead of a QR, over real loopback WebSockets, then logs
//! in again from its stored state.

// Shared with the interop tests; this file needs only `raw`.
#[allow(dead_code)]
#[path = "interop/admin.rs"]
mod admin;
mod harness;

use serde_json::{json, Value};
use wasp::client::pairing::code::PairCodeError;
use wasp::client::{ClientError, Event, Status};
use wasp::sim::SimHandle;

use admin::AdminClient;
use harness::{Harness, Session, GUARD};

/// A fresh session showing its first QR code, and a new phone.
async fn pairing(h: &Harness, id: &str) -> (Session, String) {
    let phone = h.sim.create_phone(None).await.expect("phone");
    let mut session = h.spawn(id);
    session
        .next_matching(|e| matches!(e, Event::Qr { .. }).then_some(()))
        .await;
    (session, phone)
}

/// Asks for a code and checks the event carries the same one.
async fn pair_code(session: &mut Session, phone: &str) -> String {
    let code = tokio::time::timeout(GUARD, session.client.request_pair_code(phone))
        .await
        .expect("answered")
        .expect("a linking code");
    let shown = session
        .next_matching(|e| match e {
            Event::PairCode { code } => Some(code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(shown, code);
    code
}

/// A different code of the same alphabet.
fn mistyped(code: &str) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn links_by_code_then_logs_in_again_without_qr_or_code() {
    let h = Harness::new().await;
    let (mut session, phone) = pairing(&h, "ana").await;
    let code = pair_code(&mut session, &format!("+{phone}")).await;
    assert_eq!(code.len(), 8);

    // People type it with a dash and in lower case.
    let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
    let device = h
        .sim
        .enter_pair_code(&phone, &typed)
        .await
        .expect("the code links");
    let seen = session.until(|e| *e == Event::Connected).await;
    assert!(
        seen.contains(&Event::Paired {
            jid: device.parse().unwrap()
        }),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Qr { .. })),
        "no QR codes once the code was chosen: {seen:?}"
    );
    assert_eq!(session.client.jid().as_deref(), Some(device.as_str()));
    assert!(h.sim.devices(&phone).expect("phone")[0].connected);

    // Linked: asking for another code is an error, not a new pairing.
    let err = session.client.request_pair_code(&phone).await.unwrap_err();
    assert!(matches!(err, ClientError::AlreadyLinked), "{err}");

    session.client.shutdown().await;
    drop(session);
    let mut again = h.spawn("ana");
    let seen = again.until(|e| *e == Event::Connected).await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Qr { .. } | Event::PairCode { .. })),
        "stored credentials log in without a QR or code: {seen:?}"
    );
    assert_eq!(again.client.jid().as_deref(), Some(device.as_str()));
    again.client.shutdown().await;
}

#[tokio::test]
async fn a_wrong_code_does_not_link_and_the_right_one_still_does() {
    let h = Harness::new().await;
    let (mut session, phone) = pairing(&h, "ben").await;
    let code = pair_code(&mut session, &phone).await;

    let err = h
        .sim
        .enter_pair_code(&phone, &mistyped(&code))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "wrong_code", "{err}");
    assert_eq!(err.http_status(), 400);
    assert!(h.sim.devices(&phone).expect("phone").is_empty());
    assert_eq!(session.client.status(), Status::Qr);

    // The phone's user tries again with the right code.
    let device = h
        .sim
        .enter_pair_code(&phone, &code)
        .await
        .expect("the right code links");
    let seen = session.until(|e| *e == Event::Connected).await;
    let paired = Event::Paired {
        jid: device.parse().unwrap(),
    };
    assert!(seen.contains(&paired), "{seen:?}");
    session.client.shutdown().await;
}

#[tokio::test]
async fn a_new_code_replaces_the_old_one() {
    let h = Harness::new().await;
    let (mut session, phone) = pairing(&h, "cleo").await;
    let old = pair_code(&mut session, &phone).await;
    let new = pair_code(&mut session, &phone).await;
    assert_ne!(old, new);
    let err = h.sim.enter_pair_code(&phone, &old).await.unwrap_err();
    assert_eq!(err.code(), "wrong_code", "{err}");
    h.sim
        .enter_pair_code(&phone, &new)
        .await
        .expect("the new code links");
    session.until(|e| *e == Event::Connected).await;
    session.client.shutdown().await;
}

#[tokio::test]
async fn bad_numbers_are_refused_and_the_session_keeps_pairing() {
    let h = Harness::new().await;
    let (mut session, phone) = pairing(&h, "dina").await;

    let err = session.client.request_pair_code("12ab").await.unwrap_err();
    assert!(
        matches!(err, ClientError::PairCode(PairCodeError::InvalidPhone(_))),
        "{err}"
    );
    // A well-formed number without a WhatsApp account: the server refuses.
    let err = session
        .client
        .request_pair_code("15550009999")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::PairCode(PairCodeError::Refused { ref code, .. }) if code == "404"),
        "{err}"
    );
    // Still pairing: a good number gets its code.
    assert_eq!(session.client.status(), Status::Qr);
    pair_code(&mut session, &phone).await;
    session.client.shutdown().await;
}

/// One HTTP/1.1 request; returns status and JSON body.
/// POSTs JSON to the simulator's admin API; the status and JSON body.
async fn post(sim: &SimHandle, path: &str, body: Value) -> (u16, Value) {
    let admin = AdminClient::new(&sim.http_url()).expect("admin url");
    let (status, raw) = tokio::time::timeout(GUARD, admin.raw("POST", path, Some(body)))
        .await
        .expect("the simulator answers")
        .expect("an HTTP response");
    (status, serde_json::from_slice(&raw).expect("a JSON body"))
}

#[tokio::test]
async fn the_admin_route_links_by_code_and_reports_a_wrong_one() {
    let h = Harness::new().await;
    let (mut session, phone) = pairing(&h, "eli").await;
    let code = pair_code(&mut session, &phone).await;
    let path = format!("/sim/phones/{phone}/pair-code");

    let (status, json) = post(&h.sim, &path, json!({ "code": mistyped(&code) })).await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "wrong_code");

    let (status, json) = post(&h.sim, &path, json!({ "code": code })).await;
    assert_eq!(status, 200, "{json}");
    let device = json["device"].as_str().expect("device JID").to_string();
    let seen = session.until(|e| *e == Event::Connected).await;
    let paired = Event::Paired {
        jid: device.parse().unwrap(),
    };
    assert!(seen.contains(&paired), "{seen:?}");
    session.client.shutdown().await;
}
