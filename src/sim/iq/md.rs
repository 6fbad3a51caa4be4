//! `<iq xmlns="md" type="set"><remove-companion-device jid reason/>`: a
//! companion unlinks a device of its own account (itself included, which
//! ends its session).
//!
//! Owns: checking the target belongs to the asker's account. Must not
//! touch: the unlinking itself (`sim::accounts`).

use super::session::{Reply, Session};
use crate::sim::accounts::unlink;
use crate::sim::protocol::stanzas::{iq_error, iq_result, jid_attr};
use crate::sim::state::Control;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// Unlinks the named companion; its connection, unless it is the
/// asker's, is told it was removed.
pub(super) fn remove_companion(session: &Session<'_>, iq: &Node) -> Reply {
    let target = iq
        .child("remove-companion-device")
        .and_then(|n| jid_attr(n, "jid"))
        .and_then(|jid| DeviceAddress::from_jid(&jid))
        .filter(|d| !d.is_lid() && d.device() != 0 && d.same_user(session.device));
    let Some(target) = target else {
        return Reply::send(vec![iq_error(iq, 400, "bad-request")]);
    };
    let asker = session.conn_id;
    let removed = unlink(session.state, &target, |live| {
        (live.conn_id != asker).then_some(Control::Unlinked)
    });
    if !removed {
        return Reply::send(vec![iq_error(iq, 404, "item-not-found")]);
    }
    Reply {
        nodes: vec![iq_result(iq, vec![])],
        close: target == *session.device,
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::accounts::devices;
    use crate::sim::fixtures::{ask, device_jid, iq, linked};
    use crate::wire::Node;

    #[test]
    fn removing_itself_unlinks_and_closes() {
        let (s, phone, id) = linked();
        let node = iq(
            "md",
            "set",
            vec![Node::new("remove-companion-device")
                .attr("jid", device_jid(&phone, id))
                .attr("reason", "user_initiated")],
        );
        let reply = ask(&s, &phone, id, &node);
        assert!(reply.close);
        assert_eq!(reply.nodes[0].get_attr("type"), Some("result"));
        assert!(devices(&s, &phone).unwrap().is_empty());
        // Another account's device cannot be removed.
        let other = iq(
            "md",
            "set",
            vec![Node::new("remove-companion-device").attr("jid", "4444444:1@s.whatsapp.net")],
        );
        assert!(!ask(&s, &phone, id, &other).close);
    }
}
