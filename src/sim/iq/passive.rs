//! `<iq xmlns="passive" type="set"><active/>`: a companion is ready for
//! traffic. The server answers, delivers the device's offline queue (the
//! phone's app-state key share to a new companion first), then reports
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
    let mut queued: Vec<Node> = key_share_stanza(session.state, session.device)
        .map(|stanza| stanza.attr("offline", "1"))
        .into_iter()
        .collect();
    queued.extend(activate(
        session.state,
        session.device,
        session.conn_id,
        session.deliver.clone(),
    ));
    let count = queued.len();
    let mut nodes = vec![iq_result(iq, vec![])];
    nodes.extend(queued);
    nodes.push(offline_marker(count));
    Reply::send(nodes)
}

#[cfg(test)]
mod tests {
    use crate::sim::fixtures::{ask, iq, linked};
    use crate::wire::Node;

    #[test]
    fn active_gets_result_then_the_key_share_once_then_the_offline_marker() {
        let (s, phone, id) = linked();
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

        // Later sessions: nothing queued.
        let reply = ask(&s, &phone, id, &active);
        assert_eq!(reply.nodes.len(), 2);
        assert_eq!(reply.nodes[1].tag, "ib");
        let offline = reply.nodes[1].child("offline").unwrap();
        assert_eq!(offline.get_attr("count"), Some("0"));
    }
}
