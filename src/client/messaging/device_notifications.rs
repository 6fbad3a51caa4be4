//! `<notification type="devices">`: a user linked or removed a device.
//! The cached device list is dropped (asked again on the next send), and
//! the LID the server names beside a phone-number user is kept.
//!
//! Owns: reading the notification. Must not touch: the device lists'
//! policy (`device_lists`), sessions.

use super::state::Messaging;
use crate::client::core::{envelope, Action, Then, Work};
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

impl Messaging {
    /// Drops the user's list, stores its LID↔number pair when the
    /// notification names both (`from` a number, `lid` its LID: whatsmeow
    /// `handleDeviceNotification`), and acknowledges.
    pub(super) fn on_devices_notification(&mut self, node: &Node) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(user) = node.get_attr("from").and_then(DeviceAddress::parse) {
            self.device_lists.forget(&user.user_jid());
            if let Some(pair) = lid_pair(&user, node.get_attr("lid")) {
                out.push(Action::Blocking(Work::new(move |store| {
                    if let Err(e) = store.put_lid_mappings(&[(&pair.0, &pair.1)]) {
                        tracing::warn!(error = %e, "cannot keep a LID mapping");
                    }
                    Then::nothing()
                })));
            }
        }
        out.extend(envelope::ack_actions(node));
        out
    }
}

/// (LID user, phone-number user) when `user` is a phone number and `lid`
/// a LID user JID.
fn lid_pair(user: &DeviceAddress, lid: Option<&str>) -> Option<(String, String)> {
    let lid = Jid::parse(lid?).ok()?;
    (!user.is_lid() && lid.is_lid() && !lid.user.is_empty())
        .then(|| (lid.user, user.user().to_string()))
}

#[cfg(test)]
mod tests {
    use crate::client::core::Action;
    use crate::client::testing::*;
    use crate::store::AuthStore;
    use crate::wire::Node;

    fn notification(lid: Option<&str>) -> Node {
        let node = Node::new("notification")
            .attr("from", "15552223333@s.whatsapp.net")
            .attr("type", "devices")
            .attr("id", "n1")
            .children(vec![Node::new("add")]);
        match lid {
            Some(lid) => node.attr("lid", lid),
            None => node,
        }
    }

    #[test]
    fn the_lid_beside_a_number_is_kept_and_the_notification_acknowledged() {
        let (_tmp, store) = temp_store();
        let (mut p, now, _) = connected();
        let mut out = p.on_node(&notification(Some("900@lid")), now);
        assert!(sent(&out).iter().any(|n| n.tag == "ack"));
        let Action::Blocking(work) = out.remove(0) else {
            panic!("expected the mapping's write first")
        };
        let _ = work.run(&store);
        assert_eq!(store.lid_of("15552223333").unwrap().as_deref(), Some("900"));
        assert_eq!(store.pn_of("900").unwrap().as_deref(), Some("15552223333"));

        // Without a LID (or with something else there) nothing is written.
        for lid in [None, Some("15550001111@s.whatsapp.net"), Some("nonsense")] {
            let out = p.on_node(&notification(lid), now);
            assert!(
                !out.iter().any(|a| matches!(a, Action::Blocking(_))),
                "{lid:?}"
            );
            assert!(sent(&out).iter().any(|n| n.tag == "ack"));
        }
    }
}
