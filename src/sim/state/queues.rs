//! What the server remembers of routed traffic: each device's offline
//! queue entries and who sent recent messages.
//!
//! Owns: [`Queued`], [`SenderIndex`] and their bounds. Must not touch:
//! which stanza goes where (`sim::routing`, `sim::phone`).

use std::collections::{HashMap, VecDeque};

use crate::sim::protocol::addressing::Addressing;
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// Most stanzas the server holds for one offline device; the oldest go
/// first beyond this (a real server also expires its offline queue).
pub(crate) const MAX_QUEUED: usize = 5_000;
/// How many recent message ids the server remembers the sender of.
const MAX_SENDERS: usize = 100_000;

/// One stanza waiting in a device's offline queue.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    /// `message`, `receipt` or `notification`: the class of the ack that
    /// removes it.
    pub class: &'static str,
    pub id: String,
    pub node: Node,
}

impl Queued {
    /// Whether an ack of `class` for `id` takes this one off the queue.
    pub fn acknowledged_by(&self, class: &str, id: &str) -> bool {
        self.class == class && self.id == id
    }
}

/// Who sent a recent message and how it was addressed, so receipts for
/// it go back in the same namespace (and, for a group, from the group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    /// The sending device, by phone number.
    pub sender: DeviceAddress,
    pub addressing: Addressing,
    /// The group it was sent to.
    pub group: Option<Jid>,
}

/// Recent message id -> who sent it, bounded.
#[derive(Default)]
pub(crate) struct SenderIndex {
    by_id: HashMap<String, Sent>,
    order: VecDeque<String>,
}

impl SenderIndex {
    pub fn remember(&mut self, id: &str, sent: Sent) {
        if self.by_id.insert(id.to_string(), sent).is_none() {
            self.order.push_back(id.to_string());
        }
        while self.order.len() > MAX_SENDERS {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    pub fn sender_of(&self, id: &str) -> Option<&Sent> {
        self.by_id.get(id)
    }
}

/// Appends `item`, dropping the oldest beyond `max`.
pub(crate) fn push_bounded<T>(log: &mut VecDeque<T>, item: T, max: usize) {
    log.push_back(item);
    while log.len() > max {
        log.pop_front();
    }
}
