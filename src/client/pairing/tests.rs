//! Pairing through the protocol: QR rotation, pair-success, linking codes.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::core::{Action, Ending};
use crate::client::creds::tests_support::creds_without_signature;
use crate::client::pairing::pair_success::phone;
use crate::client::pairing::qr_string;
use crate::client::protocol::Protocol;
use crate::client::testing::*;
use crate::client::{ClientError, Event, Status};
use crate::wire::Node;

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
        .attr("from", server())
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
        .attr("from", server())
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
        jid: "15551234567:7@s.whatsapp.net".parse().unwrap()
    }));
    let reply = sent(&out)[0];
    assert_eq!(reply.get_attr("type"), Some("result"));
    assert!(reply.child("pair-device-sign").is_some());
    assert_eq!(
        p.creds().jid().map(|j| j.to_string()).as_deref(),
        Some("15551234567:7@s.whatsapp.net")
    );

    let out = p.on_node(&stream_error(Some("515"), None), Instant::now());
    assert!(matches!(ending(out), Some(Ending::Restart)));
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
    use super::code::{unwrap_ephemeral, wrap_ephemeral, NOTIFICATION_TYPE};

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
        .attr("from", server())
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
        .attr("from", server())
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
