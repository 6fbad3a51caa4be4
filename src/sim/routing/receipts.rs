//! Routing what a companion confirms: its `<receipt>`s (delivered, read,
//! retry) go back to the message's sender, and its `<ack>`s and receipts
//! take stanzas off its offline queue.
//!
//! Owns: the server's receipt ack, the queue removals, forwarding to the
//! sender. Must not touch: what a phone does with a receipt
//! (`phone::receipts`).

use crate::sim::phone::receipts::phone_got_receipt;
use crate::sim::protocol::messages::{forwarded_receipt, receipt_ack, receipt_ids};
use crate::sim::state::SimState;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// Routes receipt `node` from companion `me` to the device that sent the
/// message, and takes the messages it confirms off `me`'s queue. Returns
/// the server's ack.
pub(crate) fn route_receipt(state: &SimState, me: &DeviceAddress, node: &Node) -> Vec<Node> {
    let ack = receipt_ack(node);
    let id = node.get_attr("id").unwrap_or_default();
    let ids = receipt_ids(node);
    let mut world = state.lock();
    if let Some(d) = world.device_mut(me) {
        d.queue
            .retain(|q| !(q.class == "message" && ids.contains(&q.id)));
    }
    let Some(original_sender) = world.senders.sender_of(id).cloned() else {
        return vec![ack];
    };
    let forwarded = forwarded_receipt(me, node, world.now());
    if original_sender.device() == 0 {
        phone_got_receipt(&mut world, original_sender.user(), me, &forwarded);
    } else {
        world.enqueue(&original_sender, "receipt", id, forwarded);
    }
    vec![ack]
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
