//! `<iq xmlns="passive" type="set"><active/>`: a companion is ready for
//! traffic. The server answers, delivers the device's offline queue (to a
//! new companion, the phone's app-state key share joins it), then reports
//! the queue's end (whatsapp-rust `handlers/ib.rs`); later stanzas flow
//! as they come.
//!
//! Owns: that answer's order. Must not touch: what is queued (`routing`,
//! `phone`).

use super::session::{Reply, Session};
use crate::sim::phone::key_share::key_share_stanza;
use crate::sim::protocol::stanzas::{iq_result, offline_marker};
use crate::sim::routing::offline::activate;
use crate::wire::Node;

/// The answer to `active`: the result, the offline queue, its end.
pub(super) fn active(session: &Session<'_>, iq: &Node) -> Reply {
    // The key share heads the device's queue, kept until the companion
    // acknowledges it: a connection lost right after `active` (as a
    // fresh link's first one may be) must not lose it for good, or the
    // companion waits for its app-state key forever.
    if let Some(stanza) = key_share_stanza(session.state, session.device) {
        let id = stanza.get_attr("id").unwrap_or_default().to_string();
        session
            .state
            .lock()
            .enqueue_first(session.device, "message", &id, stanza);
    }
    let queued = activate(
        session.state,
        session.device,
        session.conn_id,
        session.deliver.clone(),
    );
    let count = queued.len();
    let mut nodes = vec![iq_result(iq, vec![])];
    nodes.extend(queued);
    nodes.push(offline_marker(count));
    Reply::send(nodes)
}

#[cfg(test)]
mod tests {
    use crate::sim::fixtures::{ask, iq, linked};
    use crate::sim::state::Live;
    use crate::types::DeviceAddress;
    use crate::wire::Node;

    #[test]
    fn active_gets_result_then_the_key_share_until_acknowledged_then_the_offline_marker() {
        let (s, phone, id) = linked();
        let device = DeviceAddress::pn(phone.clone(), id).unwrap();
        // Logged in on connection 1 (what `ask` speaks as).
        let (control, _control) = tokio::sync::mpsc::channel(1);
        s.lock().live.insert(
            device.clone(),
            Live {
                conn_id: 1,
                control,
                deliver: None,
            },
        );
        let active = iq("passive", "set", vec![Node::new("active")]);

        // First time online: the phone's queued app-state key share, then
        // the end of the offline queue counting it.
        let reply = ask(&s, &phone, id, &active);
        let tags: Vec<&str> = reply.nodes.iter().map(|n| n.tag.as_str()).collect();
        assert_eq!(tags, ["iq", "message", "ib"]);
        let share = &reply.nodes[1];
        assert_eq!(share.get_attr("from"), Some("15550002222@s.whatsapp.net"));
        let enc = share.child("enc").unwrap();
        assert_eq!(enc.get_attr("type"), Some("pkmsg"));
        assert_eq!(enc.get_attr("v"), Some("2"));
        assert!(enc
            .content_bytes()
            .is_some_and(|b| b.first() == Some(&0x33)));
        let offline = reply.nodes[2].child("offline").unwrap();
        assert_eq!(offline.get_attr("count"), Some("1"));

        // Not acknowledged (the connection was lost): delivered again, the
        // same stanza, not a second share.
        let again = ask(&s, &phone, id, &active);
        assert_eq!(again.nodes.len(), 3);
        assert_eq!(again.nodes[1].get_attr("id"), share.get_attr("id"));

        // Acknowledged: nothing queued any more.
        let ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", share.get_attr("id").unwrap());
        ask(&s, &phone, id, &ack);
        let reply = ask(&s, &phone, id, &active);
        assert_eq!(reply.nodes.len(), 2);
        assert_eq!(reply.nodes[1].tag, "ib");
        let offline = reply.nodes[1].child("offline").unwrap();
        assert_eq!(offline.get_attr("count"), Some("0"));
    }
}
