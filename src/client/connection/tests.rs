//! The connection through the protocol: login, keepalive, how the server
//! ends a connection, logout, edge routing.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::client::connection;
use crate::client::core::{Action, Ending};
use crate::client::testing::*;
use crate::wire::Node;

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
        .attr("from", server())
        .attr("type", "get")
        .attr("xmlns", "urn:xmpp:ping")
        .attr("id", "sp1");
    let out = p.on_node(&ping, Instant::now());
    let reply = sent(&out)[0];
    assert_eq!(reply.get_attr("type"), Some("result"));
    assert_eq!(reply.get_attr("id"), Some("sp1"));
    assert_eq!(reply.get_attr("to"), Some(server().as_str()));
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
    let out = p.on_command(connection::logout(done), now);
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
    p.on_command(connection::logout(done), now);
    let out = p.on_timer(now + Duration::from_secs(10));
    assert!(matches!(ending(out), Some(Ending::LoggedOut { .. })));
}

#[test]
fn notifications_are_acked_and_routing_info_is_kept() {
    let (mut p, now, _) = connected();
    let n = Node::new("notification")
        .attr("id", "n9")
        .attr("from", server())
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
