//! Protocol tests with plain nodes, and run-loop tests that need no wire.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::creds::tests_support::creds_without_signature;
use super::creds::{self, Creds, PairedIdentity, StoredCreds};
use super::pairing::phone;
use super::protocol::{Action, Command, Ending, Protocol};
use super::*;
use crate::wire::Node;

const JID: &str = "15551234567:7@s.whatsapp.net";

fn config() -> Arc<ClientConfig> {
    Arc::new(ClientConfig::default())
}

fn paired_creds() -> Creds {
    let mut creds = creds_without_signature();
    creds.paired = Some(PairedIdentity {
        jid: JID.into(),
        lid: None,
        account: vec![1],
        platform: "android".into(),
        business_name: String::new(),
    });
    creds
}

fn online(creds: Creds) -> Protocol {
    let mut p = Protocol::new(creds, config());
    p.on_connected();
    p
}

fn connected() -> (Protocol, Instant, Vec<Action>) {
    let mut p = online(paired_creds());
    let now = Instant::now();
    let out = p.on_node(&Node::new("success").attr("t", "1"), now);
    (p, now, out)
}

fn sent(actions: &[Action]) -> Vec<&Node> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn events(actions: &[Action]) -> Vec<&Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn ending(actions: Vec<Action>) -> Option<Ending> {
    actions.into_iter().find_map(|a| match a {
        Action::End(e) => Some(e),
        _ => None,
    })
}

fn result_for(request: &Node) -> Node {
    Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "result")
        .attr("id", request.get_attr("id").unwrap())
}

fn pair_device(refs: &[&str]) -> Node {
    Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "set")
        .attr("id", "pd1")
        .attr("xmlns", "md")
        .children(vec![Node::new("pair-device").children(
            refs.iter()
                .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec()))
                .collect(),
        )])
}

fn stream_error(code: Option<&str>, conflict: Option<&str>) -> Node {
    let mut node = Node::new("stream:error");
    if let Some(code) = code {
        node = node.attr("code", code);
    }
    if let Some(kind) = conflict {
        node = node.children(vec![Node::new("conflict").attr("type", kind)]);
    }
    node
}

#[test]
fn qr_codes_rotate_on_the_server_schedule_then_stop() {
    let creds = creds_without_signature();
    let mut p = online(creds.clone());
    let t0 = Instant::now();
    let out = p.on_node(&pair_device(&["r1", "r2"]), t0);

    let acks = sent(&out);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].get_attr("type"), Some("result"));
    assert_eq!(acks[0].get_attr("id"), Some("pd1"));
    assert!(out.iter().any(|a| matches!(a, Action::Status(Status::Qr))));
    assert_eq!(
        events(&out),
        vec![&Event::Qr {
            code: qr_string("r1", &creds, "chrome"),
            expires_in_secs: 60
        }]
    );
    assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(60)));

    // Nothing happens before the deadline.
    assert!(p.on_timer(t0 + Duration::from_secs(59)).is_empty());
    let t1 = t0 + Duration::from_secs(60);
    let out = p.on_timer(t1);
    assert_eq!(
        events(&out),
        vec![&Event::Qr {
            code: qr_string("r2", &creds, "chrome"),
            expires_in_secs: 20
        }]
    );
    assert_eq!(p.next_deadline(), Some(t1 + Duration::from_secs(20)));

    let out = p.on_timer(t1 + Duration::from_secs(20));
    assert_eq!(
        events(&out),
        vec![&Event::Disconnected {
            reason: "qr timeout".into()
        }]
    );
    assert!(matches!(
        ending(out),
        Some(Ending::Stop { failed: false, ref reason, .. }) if reason == "qr timeout"
    ));
}

#[test]
fn forged_pair_success_is_refused_and_nothing_is_saved() {
    let creds = creds_without_signature();
    let mut p = online(creds.clone());
    p.on_node(&pair_device(&["r1"]), Instant::now());
    // MACed with the wrong ADV secret (no signature work needed).
    let container = crate::proto::AdvSignedDeviceIdentityHmac {
        details: Some(vec![10, 1, 1]),
        hmac: Some(crate::crypto::hmac_sha256(&[1; 32], &[&[10, 1, 1]]).to_vec()),
        account_type: None,
    };
    let success = phone::pair_success_node(prost::Message::encode_to_vec(&container));
    let iq = Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "set")
        .attr("id", "ps1")
        .children(vec![success]);
    let out = p.on_node(&iq, Instant::now());

    assert!(!out.iter().any(|a| matches!(a, Action::SaveCreds)));
    assert!(!out
        .iter()
        .any(|a| matches!(a, Action::Emit(Event::Paired { .. }))));
    let replies = sent(&out);
    assert_eq!(replies[0].get_attr("type"), Some("error"));
    assert_eq!(replies[0].get_attr("id"), Some("ps1"));
    assert_eq!(
        replies[0].child("error").unwrap().get_attr("code"),
        Some("401")
    );
    assert!(matches!(
        ending(out),
        Some(Ending::Stop { failed: true, ref reason, .. }) if reason.contains("HMAC")
    ));
    assert!(p.creds().paired.is_none());
    // QR rotation is over too.
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn valid_pair_success_saves_before_replying_then_515_restarts() {
    let creds = creds_without_signature();
    let account = crate::crypto::KeyPair::generate();
    let mut p = online(creds.clone());
    p.on_node(&pair_device(&["r1"]), Instant::now());
    let iq = Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "set")
        .attr("id", "ps1")
        .children(vec![phone::pair_success(
            &creds,
            &account,
            &creds.adv_secret_key,
            1,
        )]);
    let out = p.on_node(&iq, Instant::now());
    let save = out.iter().position(|a| matches!(a, Action::SaveCreds));
    let send = out.iter().position(|a| matches!(a, Action::Send(_)));
    assert!(
        save.is_some() && save < send,
        "credentials saved before the reply"
    );
    assert!(events(&out).contains(&&Event::Paired {
        jid: "15551234567:7@s.whatsapp.net".into()
    }));
    let reply = sent(&out)[0];
    assert_eq!(reply.get_attr("type"), Some("result"));
    assert!(reply.child("pair-device-sign").is_some());
    assert_eq!(p.creds().jid(), Some("15551234567:7@s.whatsapp.net"));

    let out = p.on_node(&stream_error(Some("515"), None), Instant::now());
    assert!(matches!(ending(out), Some(Ending::Restart)));
}

#[test]
fn login_success_goes_active_and_uploads_prekeys_when_the_server_is_low() {
    let (mut p, now, out) = connected();
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Status(Status::Connected))));
    assert_eq!(events(&out), vec![&Event::Connected]);
    let iqs = sent(&out);
    assert_eq!(iqs.len(), 2);
    assert_eq!(iqs[0].get_attr("xmlns"), Some("passive"));
    assert!(iqs[0].child("active").is_some());
    assert_eq!(iqs[1].get_attr("xmlns"), Some("encrypt"));
    assert!(iqs[1].child("count").is_some());

    let count_id = iqs[1].get_attr("id").unwrap().to_string();
    let answer = Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "result")
        .attr("id", count_id)
        .children(vec![Node::new("count").attr("value", "2")]);
    let out = p.on_node(&answer, now);
    // Keys and the advanced id are persisted before the upload goes out.
    assert!(matches!(out[0], Action::StorePreKeys(ref k) if k.len() == 50 && k[0].id == 1));
    assert!(matches!(out[1], Action::SaveCreds));
    let Action::Send(upload) = &out[2] else {
        panic!("upload expected third")
    };
    assert_eq!(upload.child("list").unwrap().child_nodes().len(), 50);
    assert_eq!(p.creds().next_prekey_id, 51);
    assert_eq!(p.creds().first_unuploaded_prekey_id, 1);

    let out = p.on_node(&result_for(upload), now);
    assert!(matches!(out[..], [Action::SaveCreds]));
    assert_eq!(p.creds().first_unuploaded_prekey_id, 51);
}

#[test]
fn enough_prekeys_on_the_server_means_no_upload() {
    let (mut p, now, out) = connected();
    let count_id = sent(&out)[1].get_attr("id").unwrap().to_string();
    let answer = Node::new("iq")
        .attr("type", "result")
        .attr("id", count_id)
        .children(vec![Node::new("count").attr("value", "5")]);
    assert!(p.on_node(&answer, now).is_empty());
    assert_eq!(p.creds().next_prekey_id, 1);
}

#[test]
fn keepalive_pings_on_cadence_and_declares_a_silent_socket_dead() {
    let (mut p, now, _) = connected();
    let first = p.next_deadline().unwrap();
    // The passive/count iqs expire at 60 s; the ping is due within 15-30 s.
    assert!(first >= now + Duration::from_secs(15) && first <= now + Duration::from_secs(30));
    let out = p.on_timer(first);
    let ping = sent(&out)[0].clone();
    assert_eq!(ping.get_attr("xmlns"), Some("w:p"));
    assert_eq!(ping.get_attr("type"), Some("get"));
    assert!(ping.child("ping").is_some());

    // Answered: the next ping is scheduled.
    assert!(p.on_node(&result_for(&ping), first).is_empty());
    let second = p.next_deadline().unwrap();
    assert!(second >= first + Duration::from_secs(15));
    let out = p.on_timer(second);
    assert_eq!(sent(&out).len(), 1);

    // Not answered within the timeout: reconnect.
    let out = p.on_timer(second + Duration::from_secs(20));
    assert!(matches!(
        ending(out),
        Some(Ending::Reconnect { ref reason, .. }) if reason == "keepalive timeout"
    ));
}

#[test]
fn server_pings_are_answered() {
    let mut p = online(paired_creds());
    let ping = Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "get")
        .attr("xmlns", "urn:xmpp:ping")
        .attr("id", "sp1");
    let out = p.on_node(&ping, Instant::now());
    let reply = sent(&out)[0];
    assert_eq!(reply.get_attr("type"), Some("result"));
    assert_eq!(reply.get_attr("id"), Some("sp1"));
    assert_eq!(reply.get_attr("to"), Some(SERVER_JID));
}

#[test]
fn stream_errors_map_to_the_right_ending() {
    let cases: Vec<(Node, &str)> = vec![
        (stream_error(Some("515"), None), "restart"),
        (stream_error(None, Some("replaced")), "stop:replaced"),
        (
            stream_error(Some("401"), Some("device_removed")),
            "logout:device_removed",
        ),
        (stream_error(Some("401"), None), "logout:unauthorized"),
        (stream_error(Some("516"), None), "logout:device_removed"),
        (stream_error(Some("409"), None), "stop:replaced"),
        (stream_error(Some("503"), None), "reconnect"),
        (stream_error(Some("429"), None), "reconnect"),
    ];
    for (node, expected) in cases {
        let (mut p, now, _) = connected();
        let got = match ending(p.on_node(&node, now)) {
            Some(Ending::Restart) => "restart".to_string(),
            Some(Ending::Stop { reason, .. }) => format!("stop:{reason}"),
            Some(Ending::LoggedOut { reason, .. }) => format!("logout:{reason}"),
            Some(Ending::Reconnect { .. }) => "reconnect".to_string(),
            None => "none".to_string(),
        };
        assert_eq!(got, expected, "{node:?}");
    }
    // Unknown stream errors keep the connection.
    let (mut p, now, _) = connected();
    assert!(p
        .on_node(
            &stream_error(None, None).children(vec![Node::new("ack")]),
            now
        )
        .is_empty());
}

#[test]
fn login_failures_map_to_logout_stop_or_retry() {
    for (reason, expected) in [
        ("401", "logout"),
        ("403", "logout"),
        ("406", "logout"),
        ("402", "stop"),
        ("405", "stop"),
        ("500", "reconnect"),
        ("503", "reconnect"),
    ] {
        let mut p = online(paired_creds());
        let node = Node::new("failure").attr("reason", reason);
        let got = match ending(p.on_node(&node, Instant::now())) {
            Some(Ending::LoggedOut { .. }) => "logout",
            Some(Ending::Stop { .. }) => "stop",
            Some(Ending::Reconnect { .. }) => "reconnect",
            _ => "other",
        };
        assert_eq!(got, expected, "reason {reason}");
    }
    let mut p = online(paired_creds());
    let ban = Node::new("failure")
        .attr("reason", "402")
        .attr("code", "101")
        .attr("expire", "3600");
    assert!(matches!(
        ending(p.on_node(&ban, Instant::now())),
        Some(Ending::Stop { ref reason, .. }) if reason.contains("banned") && reason.contains("3600")
    ));
}

#[test]
fn logout_removes_the_companion_then_ends_logged_out() {
    let (mut p, now, _) = connected();
    let (done, mut rx) = oneshot::channel();
    let out = p.on_command(Command::Logout { done }, now);
    let iq = sent(&out)[0].clone();
    assert_eq!(iq.get_attr("xmlns"), Some("md"));
    assert_eq!(iq.get_attr("type"), Some("set"));
    let remove = iq.child("remove-companion-device").unwrap();
    assert_eq!(remove.get_attr("jid"), Some(JID));
    assert_eq!(remove.get_attr("reason"), Some("user_initiated"));
    assert!(rx.try_recv().is_err(), "not done before the server answers");

    match ending(p.on_node(&result_for(&iq), now)) {
        Some(Ending::LoggedOut {
            reason,
            done: Some(_),
        }) => assert_eq!(reason, "logout"),
        _ => panic!("expected a logged-out ending carrying the caller"),
    }
}

#[test]
fn unanswered_logout_still_logs_out_after_the_timeout() {
    let (mut p, now, _) = connected();
    let (done, _rx) = oneshot::channel();
    p.on_command(Command::Logout { done }, now);
    let out = p.on_timer(now + Duration::from_secs(10));
    assert!(matches!(ending(out), Some(Ending::LoggedOut { .. })));
}

fn ask_pair_code(
    p: &mut Protocol,
    phone: &str,
) -> (Vec<Action>, oneshot::Receiver<Result<String, ClientError>>) {
    let (reply, rx) = oneshot::channel();
    let out = p.on_command(
        Command::PairCode {
            phone: phone.into(),
            reply,
        },
        Instant::now(),
    );
    (out, rx)
}

/// Runs the protocol's blocking work inline, as the run loop does.
fn run_blocking(p: &mut Protocol, actions: Vec<Action>, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    for action in actions {
        match action {
            Action::Blocking(work) => {
                let next = p.on_work_done(work.run(&SessionDir::at(std::env::temp_dir())), now);
                out.extend(run_blocking(p, next, now));
            }
            other => out.push(other),
        }
    }
    out
}

#[test]
fn pair_code_is_refused_outside_an_unlinked_qr_phase() {
    let refused = |p: &mut Protocol, phone: &str| {
        let (out, mut rx) = ask_pair_code(p, phone);
        assert!(out.is_empty());
        rx.try_recv().expect("answered at once").unwrap_err()
    };
    let mut offline = Protocol::new(creds_without_signature(), config());
    assert!(matches!(
        refused(&mut offline, "15551234567"),
        ClientError::NotConnected
    ));
    let mut handshaken = online(creds_without_signature());
    assert!(matches!(
        refused(&mut handshaken, "15551234567"),
        ClientError::NotPairing
    ));
    let (mut linked, _, _) = connected();
    assert!(matches!(
        refused(&mut linked, "15551234567"),
        ClientError::AlreadyLinked
    ));
    let mut pairing = online(creds_without_signature());
    pairing.on_node(&pair_device(&["r1"]), Instant::now());
    let err = refused(&mut pairing, "12ab");
    assert!(matches!(err, ClientError::PairCode(_)), "{err}");
    assert!(err.to_string().contains("phone"), "{err}");
}

#[test]
fn pair_code_flow_pauses_qr_derives_the_adv_secret_and_expires() {
    use super::pair_code::{unwrap_ephemeral, wrap_ephemeral, NOTIFICATION_TYPE};

    let creds = creds_without_signature();
    let mut p = online(creds.clone());
    let t0 = Instant::now();
    p.on_node(&pair_device(&["r1", "r2"]), t0);

    let (out, mut rx) = ask_pair_code(&mut p, "+1 555 123 4567");
    assert!(matches!(out.as_slice(), [Action::Blocking(_)]));
    // A second request while the first is in flight is refused.
    let (_, mut busy) = ask_pair_code(&mut p, "15551234567");
    assert!(matches!(
        busy.try_recv(),
        Ok(Err(ClientError::PairCodeBusy))
    ));
    let out = run_blocking(&mut p, out, t0);
    let hello = sent(&out)[0].clone();
    let reg = hello.child("link_code_companion_reg").unwrap();
    assert_eq!(reg.get_attr("stage"), Some("companion_hello"));
    assert_eq!(reg.get_attr("jid"), Some("15551234567@s.whatsapp.net"));
    let bytes = |tag| reg.child(tag).unwrap().content_bytes().unwrap().to_vec();
    assert_eq!(
        bytes("companion_server_auth_key_pub"),
        creds.noise_key.public.to_vec()
    );
    assert_eq!(bytes("companion_platform_display"), b"Chrome (Linux)");
    assert_eq!(bytes("companion_platform_id"), b"1");

    let answer =
        result_for(&hello).children(vec![Node::new("link_code_companion_reg").children(vec![
            Node::new("link_code_pairing_ref").bytes(b"REF".to_vec()),
        ])]);
    let out = p.on_node(&answer, t0);
    let code = rx.try_recv().unwrap().unwrap();
    assert_eq!(code.len(), 8);
    assert_eq!(events(&out), vec![&Event::PairCode { code: code.clone() }]);
    // The QR rotation is paused: only the code's validity is pending.
    assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(180)));
    assert!(events(&p.on_timer(t0 + Duration::from_secs(61))).is_empty());

    // The phone answers with its ephemeral key wrapped under the code.
    let phone_ephemeral = crate::crypto::KeyPair::generate();
    let notification = Node::new("notification")
        .attr("type", NOTIFICATION_TYPE)
        .attr("from", SERVER_JID)
        .attr("id", "n1")
        .children(vec![Node::new("link_code_companion_reg")
            .attr("stage", "primary_hello")
            .children(vec![
                Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                    .bytes(wrap_ephemeral(&code, &phone_ephemeral.public).to_vec()),
                Node::new("primary_identity_pub")
                    .bytes(crate::crypto::KeyPair::generate().public.to_vec()),
                Node::new("link_code_pairing_ref").bytes(b"REF".to_vec()),
            ])]);
    let t1 = t0 + Duration::from_secs(70);
    let out = p.on_node(&notification, t1);
    assert_eq!(sent(&out)[0].tag, "ack");
    let out = run_blocking(&mut p, out, t1);
    // The new ADV secret is stored before companion_finish leaves.
    let save = out
        .iter()
        .position(|a| matches!(a, Action::SaveCreds))
        .unwrap();
    let finish = out
        .iter()
        .position(|a| matches!(a, Action::Send(n) if n.tag == "iq"))
        .unwrap();
    assert!(save < finish);
    assert_ne!(p.creds().adv_secret_key, creds.adv_secret_key);
    let derived = p.creds().adv_secret_key;
    // Sanity: the phone could unwrap our ephemeral key with the code.
    let wrapped = bytes("link_code_pairing_wrapped_companion_ephemeral_pub");
    assert!(unwrap_ephemeral(&code, &wrapped).is_ok());

    // No pair-success within the timeout: the code is written off, the
    // derived secret discarded, and the pairing attempt ends.
    assert_eq!(p.next_deadline(), Some(t1 + Duration::from_secs(60)));
    let out = p.on_timer(t1 + Duration::from_secs(60));
    assert!(out.iter().any(|a| matches!(a, Action::SaveCreds)));
    assert_ne!(p.creds().adv_secret_key, derived);
    assert!(matches!(
        ending(out),
        Some(Ending::Stop { failed: false, ref reason, .. }) if reason.contains("not confirmed")
    ));
}

#[test]
fn a_refused_pair_code_request_resumes_the_qr_codes() {
    let mut p = online(creds_without_signature());
    let t0 = Instant::now();
    p.on_node(&pair_device(&["r1", "r2"]), t0);
    let (out, mut rx) = ask_pair_code(&mut p, "15551234567");
    let out = run_blocking(&mut p, out, t0);
    let refused = Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "error")
        .attr("id", sent(&out)[0].get_attr("id").unwrap())
        .children(vec![Node::new("error")
            .attr("code", "429")
            .attr("text", "rate-overlimit")]);
    p.on_node(&refused, t0);
    let err = rx.try_recv().unwrap().unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    assert_eq!(p.next_deadline(), Some(t0 + Duration::from_secs(60)));
}

#[test]
fn external_iqs_get_an_id_and_their_answer() {
    let (mut p, now, _) = connected();
    let (reply, mut rx) = oneshot::channel();
    let request = Node::new("iq").attr("xmlns", "usync").attr("type", "get");
    let out = p.on_command(
        Command::SendIq {
            node: request,
            reply,
        },
        now,
    );
    let iq = sent(&out)[0].clone();
    assert!(iq.get_attr("id").is_some());
    let error = result_for(&iq);
    let error = Node {
        attrs: vec![
            ("type".into(), "error".into()),
            ("id".into(), error.get_attr("id").unwrap().into()),
        ],
        ..error
    }
    .children(vec![Node::new("error")
        .attr("code", "404")
        .attr("text", "item-not-found")]);
    p.on_node(&error, now);
    assert!(matches!(
        rx.try_recv(),
        Ok(Err(ClientError::Server { ref code, .. })) if code == "404"
    ));

    // Iqs waiting when the connection drops fail at once.
    let (reply, mut rx) = oneshot::channel();
    p.on_command(
        Command::SendIq {
            node: Node::new("iq"),
            reply,
        },
        now,
    );
    p.on_disconnected();
    assert!(matches!(rx.try_recv(), Ok(Err(ClientError::NotConnected))));
}

#[test]
fn notifications_are_acked_and_routing_info_is_kept() {
    let (mut p, now, _) = connected();
    let n = Node::new("notification")
        .attr("id", "n9")
        .attr("from", SERVER_JID)
        .attr("type", "server_sync");
    let out = p.on_node(&n, now);
    let ack = sent(&out)[0];
    assert_eq!(ack.tag, "ack");
    assert_eq!(ack.get_attr("class"), Some("notification"));
    assert_eq!(ack.get_attr("id"), Some("n9"));

    let ib = Node::new("ib")
        .children(vec![Node::new("edge_routing")
            .children(vec![Node::new("routing_info").bytes(vec![1, 2, 3])])]);
    assert!(matches!(p.on_node(&ib, now)[..], [Action::SaveCreds]));
    assert_eq!(p.creds().routing_info.as_deref(), Some(&[1, 2, 3][..]));
    assert!(p.on_node(&ib, now).is_empty());
}

// ---- run loop (no wire needed: the connector fails before a handshake) ----

struct NoTransport;

impl crate::wire::socket::Transport for NoTransport {
    async fn send(&mut self, _: Vec<u8>) -> Result<(), crate::wire::WireError> {
        Err(crate::wire::WireError::Closed)
    }
    async fn recv(&mut self) -> Result<Option<Vec<u8>>, crate::wire::WireError> {
        Ok(None)
    }
    async fn close(&mut self) {}
}

struct Unreachable;

impl Connector for Unreachable {
    type Transport = NoTransport;
    async fn connect(&self, _: &str) -> Result<NoTransport, crate::wire::WireError> {
        Err(crate::wire::WireError::WebSocket(
            "connection refused".into(),
        ))
    }
}

fn session_dir(creds: Option<StoredCreds>) -> (tempfile::TempDir, crate::store::SessionDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = crate::store::SessionDir::at(tmp.path().join("s1"));
    dir.create().unwrap();
    if let Some(c) = creds {
        creds::save(&dir, &c).unwrap();
    }
    (tmp, dir)
}

#[tokio::test]
async fn unreachable_server_backs_off_with_growing_jittered_delays() {
    let (_tmp, dir) = session_dir(Some(StoredCreds::Active(Box::new(paired_creds()))));
    let (sink, mut events) = ChannelSink::new();
    let cfg = Arc::new(ClientConfig::for_tests("ws://127.0.0.1:1/ws/chat", [0; 32]));
    let client = Client::spawn_with(
        "s1".into(),
        cfg.clone(),
        dir,
        Arc::new(sink),
        Arc::new(Unreachable),
    );

    for expected_attempt in 1..=4u32 {
        let (session, event) = events.recv().await.unwrap();
        assert_eq!(session, "s1");
        let Event::Reconnecting { attempt, delay_ms } = event else {
            panic!("unexpected {event:?}")
        };
        assert_eq!(attempt, expected_attempt);
        let cap = backoff::ceiling(attempt, cfg.reconnect_base, cfg.reconnect_max);
        assert!(u128::from(delay_ms) <= cap.as_millis());
    }
    assert_eq!(client.jid().as_deref(), Some(JID));
    assert!(client.last_error().unwrap().contains("connection refused"));

    client.shutdown().await;
    assert_eq!(client.status(), Status::Stopped);
    // The last event says why the task ended.
    let mut last = None;
    while let Ok((_, e)) = events.try_recv() {
        last = Some(e);
    }
    assert_eq!(
        last,
        Some(Event::Stopped {
            reason: "shutdown".into()
        })
    );
}

#[tokio::test]
async fn logout_while_offline_wipes_the_credentials() {
    let (_tmp, dir) = session_dir(Some(StoredCreds::Active(Box::new(paired_creds()))));
    let (sink, mut events) = ChannelSink::new();
    let cfg = Arc::new(ClientConfig::for_tests("ws://127.0.0.1:1/ws/chat", [0; 32]));
    let client = Client::spawn_with(
        "s1".into(),
        cfg,
        dir.clone(),
        Arc::new(sink),
        Arc::new(Unreachable),
    );
    client.wait_for(|s| s == Status::Reconnecting).await;
    client.logout().await.unwrap();
    assert_eq!(client.status(), Status::LoggedOut);
    assert!(matches!(
        creds::load(&dir).unwrap(),
        Some(StoredCreds::LoggedOut { .. })
    ));
    let mut last = None;
    while let Ok((_, e)) = events.try_recv() {
        last = Some(e);
    }
    assert_eq!(
        last,
        Some(Event::LoggedOut {
            reason: "logout".into()
        })
    );
    // The task is gone: further commands report it.
    assert!(matches!(
        client.send_iq(Node::new("iq")).await,
        Err(ClientError::Stopped)
    ));
}

#[tokio::test]
async fn a_logged_out_session_reports_it_and_never_connects() {
    struct MustNotConnect;
    impl Connector for MustNotConnect {
        type Transport = NoTransport;
        async fn connect(&self, _: &str) -> Result<NoTransport, crate::wire::WireError> {
            panic!("a logged-out session connected")
        }
    }
    let (_tmp, dir) = session_dir(Some(StoredCreds::logged_out("device_removed", Some(JID))));
    let (sink, mut events) = ChannelSink::new();
    let client = Client::spawn_with(
        "s1".into(),
        config(),
        dir,
        Arc::new(sink),
        Arc::new(MustNotConnect),
    );
    assert_eq!(client.wait_for(|_| false).await, Status::LoggedOut);
    assert_eq!(
        events.recv().await.unwrap().1,
        Event::LoggedOut {
            reason: "device_removed".into()
        }
    );
}

#[tokio::test]
async fn corrupt_credentials_fail_the_session_clearly() {
    let (_tmp, dir) = session_dir(None);
    dir.write_atomic(creds::CREDS_FILE, b"{oops").unwrap();
    let (sink, _events) = ChannelSink::new();
    let client = Client::spawn_with(
        "s1".into(),
        config(),
        dir,
        Arc::new(sink),
        Arc::new(Unreachable),
    );
    assert_eq!(client.wait_for(|_| false).await, Status::Failed);
    assert!(client.last_error().unwrap().contains("credentials"));
}

#[test]
fn events_serialize_with_a_type_tag() {
    let json = serde_json::to_value(Event::Qr {
        code: "c".into(),
        expires_in_secs: 60,
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "qr", "code": "c", "expires_in_secs": 60})
    );
    let json = serde_json::to_value(Event::Reconnecting {
        attempt: 2,
        delay_ms: 10,
    })
    .unwrap();
    assert_eq!(json["type"], "reconnecting");
}
