//! A companion comes online: from its `active` on, stanzas for it go
//! straight to its connection, and what waited in its offline queue is
//! handed over (and stays queued until acknowledged).
//!
//! Owns: switching a device's delivery to its live connection. Must not
//! touch: the queue's contents (`routing`, `phone` fill it).

use tokio::sync::mpsc;

use crate::sim::state::SimState;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// The connection `conn_id` of `device` said `active`. Returns its
/// offline queue, oldest first, marked `offline`.
pub(crate) fn activate(
    state: &SimState,
    device: &DeviceAddress,
    conn_id: u64,
    deliver: mpsc::UnboundedSender<Node>,
) -> Vec<Node> {
    let mut world = state.lock();
    match world.live.get_mut(device) {
        Some(live) if live.conn_id == conn_id => live.deliver = Some(deliver),
        _ => return Vec::new(),
    }
    world.device(device).map_or_else(Vec::new, |d| {
        d.queue
            .iter()
            .map(|q| q.node.clone().attr("offline", "1"))
            .collect()
    })
}
