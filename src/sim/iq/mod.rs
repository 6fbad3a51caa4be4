//! The simulated server's answers to what a companion sends once logged
//! in (and the little it answers while still pairing): plain `Node` in,
//! `Node`s out, so all of it is testable without a socket.
//!
//! Owns: the dispatch of a companion's stanzas: `<iq>` by family (one
//! file each: `passive`, `encrypt`, `md`, `media`, `usync`, `app_state`,
//! `settings`, `groups`), `<message>`, `<receipt>` and `<ack>` to
//! `routing`. Must not touch: sockets (the connection task sends the
//! reply), the tables (each handler goes through the module that owns
//! them).
//!
//! Shapes follow what WhatsApp's servers send as observed by public
//! clients (whatsapp-rust 0.7 `wacore` IQ specs, whatsmeow).

mod app_state;
mod encrypt;
mod groups;
mod md;
mod media;
mod passive;
mod session;
mod settings;
mod usync;

pub use session::{Reply, Session};

use crate::sim::accounts::lid_migrated;
use crate::sim::protocol::stanzas::{iq_result, not_implemented};
use crate::sim::routing::messages::route_message;
use crate::sim::routing::receipts::{acknowledge, route_receipt};
use crate::wire::Node;

/// Answers one stanza from a logged-in companion.
pub fn handle_session_stanza(session: &Session<'_>, node: &Node) -> Reply {
    let (state, device) = (session.state, session.device);
    match node.tag.as_str() {
        "iq" => handle_iq(session, node),
        // The server acknowledges what it accepts (whatsmeow `handleAck`
        // shapes) and routes it on.
        "receipt" => Reply::send(route_receipt(state, device, node)),
        "message" => Reply::send(route_message(state, device, node)),
        "ack" => {
            acknowledge(state, device, node);
            Reply::default()
        }
        // Presence, chatstates, <ib> notices: nothing to answer.
        _ => Reply::default(),
    }
}

/// Answers an `<iq>` by its `xmlns`, `type` and first child.
fn handle_iq(session: &Session<'_>, iq: &Node) -> Reply {
    if iq.get_attr("id").is_none() {
        return Reply::default();
    }
    let kind = iq.get_attr("type").unwrap_or_default();
    if kind == "result" || kind == "error" {
        // Answers to our own IQs (none need a follow-up here).
        return Reply::default();
    }
    let xmlns = iq.get_attr("xmlns").unwrap_or_default();
    let first = iq.child_nodes().first().map_or("", |n| n.tag.as_str());
    let answer = match (xmlns, kind, first) {
        // Keepalive (whatsapp-rust `iq/keepalive.rs`).
        ("w:p", "get", _) => iq_result(iq, vec![]),
        ("passive", "set", "active") => return passive::active(session, iq),
        ("passive", "set", _) => iq_result(iq, vec![]),
        ("encrypt", "get", "key") => encrypt::key_bundles(session, iq),
        ("encrypt", "get", "count") => encrypt::count(session, iq),
        ("encrypt", "get", "digest") => encrypt::digest(session, iq),
        ("encrypt", "set", "rotate") => encrypt::rotate(session, iq),
        ("encrypt", "set", _) => encrypt::upload(session, iq),
        ("md", "set", "remove-companion-device") => return md::remove_companion(session, iq),
        ("usync", "get", "usync") => usync::usync(session, iq),
        ("w:m", "set", "media_conn") => media::media_conn(session, iq),
        ("privacy", "get", "privacy") => settings::privacy(iq),
        ("blocklist", "get", _) => settings::blocklist(iq),
        ("abt", "get", "props") => {
            let migrated = lid_migrated(session.state, session.device.user());
            settings::ab_props(iq, migrated)
        }
        ("w", "get", "props") => settings::server_props(iq),
        ("w:sync:app:state", "set", "sync") => app_state::sync(session, iq),
        ("urn:xmpp:whatsapp:dirty", "set", _) => iq_result(iq, vec![]),
        ("urn:xmpp:whatsapp:push", "set", _) => iq_result(iq, vec![]),
        ("w:g2", _, _) => {
            groups::groups(session, iq, kind, first).unwrap_or_else(|| not_implemented(iq))
        }
        _ => not_implemented(iq),
    };
    Reply::send(vec![answer])
}

/// Answers a stanza from a companion still waiting to be paired: only
/// keepalive pings; any other IQ is not implemented.
pub fn handle_pairing_stanza(node: &Node) -> Option<Node> {
    if node.tag != "iq" || node.get_attr("id").is_none() {
        return None;
    }
    match node.get_attr("type") {
        Some("get") if node.get_attr("xmlns") == Some("w:p") => Some(iq_result(node, vec![])),
        Some("get") | Some("set") => Some(not_implemented(node)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fixtures::{ask, iq, linked};

    #[test]
    fn ping_gets_a_result_with_the_same_id() {
        let (s, phone, id) = linked();
        let reply = ask(&s, &phone, id, &iq("w:p", "get", vec![Node::new("ping")]));
        assert_eq!(reply.nodes.len(), 1);
        let r = &reply.nodes[0];
        assert_eq!(r.get_attr("type"), Some("result"));
        assert_eq!(r.get_attr("id"), Some("q1"));
        assert_eq!(r.get_attr("from"), Some("s.whatsapp.net"));
        assert!(!reply.close);
    }

    #[test]
    fn unknown_iq_is_not_implemented_and_results_are_ignored() {
        let (s, phone, id) = linked();
        let reply = ask(&s, &phone, id, &iq("w:nope", "get", vec![Node::new("x")]));
        let err = reply.nodes[0].child("error").unwrap();
        assert_eq!(reply.nodes[0].get_attr("type"), Some("error"));
        assert_eq!(err.get_attr("code"), Some("501"));
        assert_eq!(err.get_attr("text"), Some("feature-not-implemented"));
        assert_eq!(
            ask(&s, &phone, id, &iq("w:p", "result", vec![])),
            Reply::default()
        );
    }

    #[test]
    fn receipts_are_acked() {
        let (s, phone, id) = linked();
        let receipt = Node::new("receipt")
            .attr("id", "r1")
            .attr("to", "15550003333@s.whatsapp.net")
            .attr("type", "read");
        let reply = ask(&s, &phone, id, &receipt);
        let ack = &reply.nodes[0];
        assert_eq!(ack.tag, "ack");
        assert_eq!(ack.get_attr("class"), Some("receipt"));
        assert_eq!(ack.get_attr("id"), Some("r1"));
        assert_eq!(ack.get_attr("from"), Some("15550003333@s.whatsapp.net"));
        assert_eq!(ack.get_attr("type"), Some("read"));
    }

    #[test]
    fn pairing_phase_answers_pings_only() {
        let ping = iq("w:p", "get", vec![Node::new("ping")]);
        assert_eq!(
            handle_pairing_stanza(&ping).unwrap().get_attr("type"),
            Some("result")
        );
        let other = iq("usync", "get", vec![]);
        assert_eq!(
            handle_pairing_stanza(&other).unwrap().get_attr("type"),
            Some("error")
        );
        assert!(handle_pairing_stanza(&iq("md", "result", vec![])).is_none());
    }

    #[test]
    fn a_migrated_accounts_devices_read_the_lid_migration_prop() {
        let (s, phone, id) = linked();
        let props = iq("abt", "get", vec![Node::new("props").attr("protocol", "1")]);
        let read = |s: &crate::sim::state::SimState| {
            let reply = ask(s, &phone, id, &props);
            let props = reply.nodes[0].child("props").unwrap().clone();
            props
                .child_nodes()
                .iter()
                .map(|p| {
                    (
                        p.get_attr("config_code").unwrap_or_default().to_owned(),
                        p.get_attr("config_value").unwrap_or_default().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert!(read(&s).is_empty());
        crate::sim::accounts::set_lid_migrated(&s, &phone, true).unwrap();
        assert_eq!(read(&s), vec![("9435".to_owned(), "1".to_owned())]);
    }
}
