//! Messaging: end-to-end encrypted texts both ways, receipts, retries.
//!
//! Owns: the send flow (`send`: device lists by `usync`, prekey
//! `bundles`, `encrypt`, the server's ack), the receive flow (`receive`,
//! with `decrypt` on the blocking pool), group texts both ways
//! (`group_send`, `group_receive`, with the sender keys of `sender_keys`), `receipts` both ways, `retry`
//! receipts (`group_retry` for group texts), the device lists of recent chats (`device_lists`), the
//! contacts' LIDs our phone shares (`lid_sync`), and what
//! is kept with each peer device in the session's store (`peers`).
//! Must not touch: the socket or the session's state machine; it hands
//! actions to the run loop, and its blocking steps run off the async
//! workers.
//!
//! Nothing of a peer stays in memory between messages: every step loads
//! the records it needs and writes them back, so thousands of idle
//! sessions hold no Signal state at all.

mod body;
mod bundles;
mod content;
mod decrypt;
mod device_lists;
mod device_notifications;
mod encrypt;
mod group_members;
mod group_receive;
mod group_retry;
mod group_send;
#[cfg(test)]
mod group_tests;
mod history_sync;
mod keys;
mod lid_sync;
pub mod media_records;
mod peers;
mod receipts;
mod receive;
mod retry;
mod seen_ids;
mod send;
mod sender_keys;
mod state;
mod usync;

use tokio::time::Instant;

use super::core::{Action, Ctx, Feature, Phase};
use crate::wire::Node;

pub use body::Body;
pub use device_lists::DeviceLists;
pub use media_records::lookup_media;
pub use receipts::mark_read;
pub use send::{chat_of, send, send_text};
pub use state::{Messaging, SendReply};

impl Feature for Messaging {
    fn on_node(&mut self, ctx: &mut Ctx, node: &Node, _now: Instant) -> Option<Vec<Action>> {
        match node.tag.as_str() {
            "message" if ctx.phase == Phase::Connected => Some(self.on_message(ctx, node)),
            "receipt" => Some(self.on_receipt(ctx, node)),
            "ack" => Some(self.on_ack(ctx, node)),
            "notification" if node.get_attr("type") == Some("devices") => {
                Some(self.on_devices_notification(node))
            }
            _ => None,
        }
    }

    /// Forgets the records of received files kept past their time.
    fn on_login(&mut self, ctx: &mut Ctx, _now: Instant) -> Vec<Action> {
        vec![media_records::prune(ctx.config.media_retention)]
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().filter_map(|p| p.ack_deadline).min()
    }

    fn on_timer(&mut self, _ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        self.on_send_timer(now);
        Vec::new()
    }

    /// Fails what was in flight and forgets the device lists and group
    /// members (a change announced meanwhile would go unseen).
    fn on_disconnected(&mut self, _ctx: &mut Ctx) {
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(super::ClientError::NotConnected));
        }
        self.device_lists.clear();
        self.group_members.clear();
    }
}
