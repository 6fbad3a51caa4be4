//! What the messaging feature keeps: sends in flight, the texts sent
//! lately (for retry receipts), the device lists of recent chats and the
//! members of groups texted lately.
//! Only sessions that send hold any of it; an idle session's maps are
//! empty and own no heap.

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::device_lists::DeviceLists;
use super::encrypt::Outgoing;
use super::group_members::GroupMembers;
use super::keys::OwnKeys;
use crate::client::core::{Action, Ctx, Then, Weight, Work};
use crate::client::events::SentMessage;
use crate::client::ClientError;
use crate::store::AuthStore;
use crate::types::{DeviceAddress, Jid, MessageId};

/// Where a send waits for its caller.
pub type SendReply = oneshot::Sender<Result<SentMessage, ClientError>>;

/// How many texts a session keeps after sending them, to answer retry
/// receipts (WhatsApp clients keep recent messages for the same reason).
pub const RECENT_SENT: usize = 32;
/// Most resends of one message to one device.
pub const MAX_RETRIES: u8 = 2;

/// A text being sent, from the command to the server's ack.
pub struct PendingSend {
    pub message: Outgoing,
    pub reply: SendReply,
    pub devices: Vec<DeviceAddress>,
    /// LID↔phone-number pairs the fan-out learned, kept before encrypting.
    pub mappings: Vec<(String, String)>,
    /// Sessions to move to LID addresses before encrypting.
    pub moves: Vec<(DeviceAddress, DeviceAddress)>,
    /// Users whose devices go on the wire under their other identity
    /// (session user, wire user).
    pub wire: Vec<(Jid, Jid)>,
    /// The stanza's `to`: the chat in the wire namespace.
    pub to: Jid,
    /// A resend to one device that asked for a retry (its old session is
    /// dropped first; the recipient need not be among the devices).
    pub resend: bool,
    /// Set once the stanza is out: the ack must come by then.
    pub ack_deadline: Option<Instant>,
}

impl PendingSend {
    /// A send whose devices are not known yet.
    pub fn new(message: Outgoing, reply: SendReply) -> PendingSend {
        let to = message.chat.clone();
        PendingSend {
            message,
            reply,
            devices: Vec::new(),
            mappings: Vec::new(),
            moves: Vec::new(),
            wire: Vec::new(),
            to,
            resend: false,
            ack_deadline: None,
        }
    }
}

/// The messaging feature's state.
#[derive(Default)]
pub struct Messaging {
    pub(super) pending: HashMap<MessageId, PendingSend>,
    /// Device lists of recent chats and of our own account.
    pub(super) device_lists: DeviceLists,
    /// Members of groups texted lately.
    pub(super) group_members: GroupMembers,
    /// Recently accepted texts and how often each device asked for them
    /// again, newest last.
    pub(super) recent: VecDeque<(Outgoing, Vec<(DeviceAddress, u8)>)>,
    /// Ids of the last texts this process reported, newest last: a text
    /// delivered again (its receipt lost with the connection) is not
    /// reported twice.
    pub(super) reported: VecDeque<MessageId>,
    /// The base keys (first 8 bytes) of the last sessions peers started
    /// with a `pkmsg` that this process decrypted, newest last: their
    /// next `pkmsg`s are ratchet steps, not X3DH (`receive`).
    pub(super) started: Vec<u64>,
}

impl Messaging {
    /// Answers and forgets a send.
    pub(super) fn fail_send(&mut self, id: &MessageId, error: ClientError) {
        if let Some(p) = self.pending.remove(id) {
            let _ = p.reply.send(Err(error));
        }
    }

    /// What a step of send `id` produced; on an error the send fails
    /// with it.
    pub(super) fn or_fail<T>(
        &mut self,
        id: &MessageId,
        result: Result<T, ClientError>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.fail_send(id, e);
                None
            }
        }
    }

    /// Blocking `work` of `weight` on pending send `id`, with our keys
    /// and its message; its result comes back to `then` on the session.
    /// Without the send or our keys (logged out meanwhile) the send fails.
    pub(super) fn send_step<R: Send + 'static>(
        &mut self,
        ctx: &Ctx,
        id: MessageId,
        weight: Weight,
        work: impl FnOnce(&dyn AuthStore, &OwnKeys, &Outgoing) -> R + Send + 'static,
        then: impl FnOnce(&mut Messaging, &mut Ctx, MessageId, R, Instant) -> Vec<Action>
            + Send
            + 'static,
    ) -> Vec<Action> {
        let (Some(pending), Some(keys)) = (self.pending.get(&id), OwnKeys::of(ctx)) else {
            self.fail_send(&id, ClientError::NotConnected);
            return Vec::new();
        };
        let message = pending.message.clone();
        vec![Action::Blocking(Work::weighing(weight, move |store| {
            let result = work(store, &keys, &message);
            Then::to::<Messaging>(move |m, ctx, now| then(m, ctx, id, result, now))
        }))]
    }

    /// Sends whose ack is overdue.
    pub(super) fn expired(&mut self, now: Instant) -> Vec<PendingSend> {
        let ids: Vec<MessageId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.ack_deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter()
            .filter_map(|id| self.pending.remove(id))
            .collect()
    }

    /// Keeps an accepted text for retry receipts.
    pub(super) fn remember_sent(&mut self, message: Outgoing) {
        self.recent.push_back((message, Vec::new()));
        while self.recent.len() > RECENT_SENT {
            self.recent.pop_front();
        }
    }
}
