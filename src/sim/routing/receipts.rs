//! Routing what a companion confirms: its `<receipt>`s (delivered, read,
//! retry) go back to the message's sender (a `server-error` receipt, a
//! media retry request, to its own phone), and its `<ack>`s and receipts
//! take stanzas off its offline queue.
//!
//! Owns: the server's receipt ack, the queue removals, forwarding to the
//! sender. Must not touch: what a phone does with a receipt
//! (`phone::receipts`).

use crate::sim::phone::media_retry::answer_retry_request;
use crate::sim::phone::receipts::phone_got_receipt;
use crate::sim::protocol::messages::{forwarded_receipt, receipt_ack, receipt_ids};
use crate::sim::state::{SimState, World};
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// Routes receipt `node` from companion `me` to the device that sent the
/// message, and takes the messages it confirms off `me`'s queue. Returns
/// the server's ack.
pub(crate) fn route_receipt(state: &SimState, me: &DeviceAddress, node: &Node) -> Vec<Node> {
    let ack = receipt_ack(node);
    if node.get_attr("type") == Some("server-error") {
        // Not for the message's sender: the companion asks its own phone
        // to upload an expired file again.
        answer_retry_request(state, me, node);
        return vec![ack];
    }
    let id = node.get_attr("id").unwrap_or_default();
    let ids = receipt_ids(node);
    let mut world = state.lock();
    if let Some(d) = world.device_mut(me) {
        d.queue
            .retain(|q| !(q.class == "message" && ids.contains(&q.id)));
    }
    let Some(sent) = world.senders.sender_of(id).cloned() else {
        return vec![ack];
    };
    // A group message is known by group, sender and id: a receipt that
    // does not name the sender in `participant` reaches nobody (whatsmeow
    // `MarkRead`: the sender is required in groups).
    if sent.group.is_some() && !names_sender(&world, node, &sent.sender) {
        tracing::debug!(id, "group receipt without its message's sender dropped");
        return vec![ack];
    }
    // The receipt speaks in the message's namespace, and for a group
    // comes from the group with the receiving device as participant.
    let me_as = world.present(me, sent.addressing).jid();
    let now = world.now();
    let forwarded = match &sent.group {
        Some(group) => forwarded_receipt(group, Some(&me_as), node, now),
        None => forwarded_receipt(&me_as, None, node, now),
    };
    if sent.sender.device() == 0 {
        phone_got_receipt(&mut world, sent.sender.user(), me, &forwarded);
    } else {
        world.enqueue(&sent.sender, "receipt", id, forwarded);
    }
    vec![ack]
}

/// Whether the receipt's `participant` is `sender`'s account, by phone
/// number or LID, any device.
fn names_sender(world: &World, node: &Node, sender: &DeviceAddress) -> bool {
    node.get_attr("participant")
        .and_then(|p| Jid::parse(p).ok())
        .and_then(|jid| world.resolve(&jid))
        .is_some_and(|named| named.user() == sender.user())
}

/// Companion `me` acknowledged a stanza: it leaves the queue.
pub(crate) fn acknowledge(state: &SimState, me: &DeviceAddress, node: &Node) {
    let (Some(class), Some(id)) = (node.get_attr("class"), node.get_attr("id")) else {
        return;
    };
    if let Some(d) = state.lock().device_mut(me) {
        d.queue.retain(|q| !q.acknowledged_by(class, id));
    }
}
