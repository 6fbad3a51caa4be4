//! Routing a `<message>` a companion sent: the server acknowledges it and
//! hands one copy to each addressed device (`<participants><to jid>`, or
//! the single `<enc>` of a message addressed by `to` alone).
//!
//! Owns: the server's ack, remembering the sender for receipts, resolving
//! each addressed device. Must not touch: how a copy reaches a device
//! (`phone::deliver`), encryption (the sender did it).

use crate::sim::phone::deliver::{deliver_copy, Outgoing};
use crate::sim::protocol::messages::message_ack;
use crate::sim::protocol::stanzas::jid_attr;
use crate::sim::state::SimState;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// Routes `node` from companion `sender`. Returns what goes back to it:
/// the server's ack, then any receipt a recipient phone sent at once.
pub(crate) fn route_message(state: &SimState, sender: &DeviceAddress, node: &Node) -> Vec<Node> {
    let mut world = state.lock();
    let timestamp = world.now();
    let ack = message_ack(node, timestamp);
    let to = jid_attr(node, "to").and_then(|jid| world.resolve(&jid));
    let Some(to) = to else {
        return vec![ack.attr("error", "404")];
    };
    let id = node.get_attr("id").unwrap_or_default();
    world.senders.remember(id, sender.clone());
    let mut copies: Vec<(DeviceAddress, Node)> = Vec::new();
    if let Some(participants) = node.child("participants") {
        for copy in participants.child_nodes().iter().filter(|n| n.tag == "to") {
            let target = jid_attr(copy, "jid").and_then(|jid| world.resolve(&jid));
            if let (Some(target), Some(enc)) = (target, copy.child("enc")) {
                copies.push((target, enc.clone()));
            }
        }
    } else if let Some(enc) = node.child("enc") {
        // A single copy addressed by `to` itself.
        copies.push((to.clone(), enc.clone()));
    }
    let chat = to.user_jid();
    let message = Outgoing {
        sender,
        chat: &chat,
        id,
        timestamp,
        device_identity: node.child("device-identity"),
    };
    let mut back = vec![ack];
    for (target, enc) in copies {
        back.extend(deliver_copy(&mut world, &message, &target, enc));
    }
    back
}
