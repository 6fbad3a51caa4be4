//! Retry receipts: a device that could not decrypt a text we sent asks
//! for it again. Our session with it is dropped, a fresh bundle fetched,
//! and the text sent to that device alone under the same id (whatsmeow
//! `retry.go`); a group text goes its own way (`group_retry`).

use tokio::sync::oneshot;

use super::state::{Messaging, PendingSend, MAX_RETRIES};
use crate::client::core::{Action, Ctx};
use crate::types::{DeviceAddress, MessageId};

impl Messaging {
    pub(super) fn on_retry_receipt(
        &mut self,
        ctx: &Ctx,
        id: &MessageId,
        device: &DeviceAddress,
    ) -> Vec<Action> {
        if self.pending.contains_key(id) {
            return Vec::new();
        }
        let Some((message, retries)) = self.recent.iter_mut().find(|(m, _)| m.id == *id) else {
            tracing::info!(%id, %device, "retry asked for a message we no longer keep");
            return Vec::new();
        };
        let position = match retries.iter().position(|(d, _)| d == device) {
            Some(i) => i,
            None => {
                retries.push((device.clone(), 0));
                retries.len() - 1
            }
        };
        let count = &mut retries[position].1;
        if *count >= MAX_RETRIES {
            tracing::warn!(%id, %device, "device keeps failing to decrypt; giving up");
            return Vec::new();
        }
        *count += 1;
        let message = message.clone();
        if message.chat.is_group() {
            return self.resend_to_member(ctx, message, device.clone());
        }
        let to = message.chat.clone();
        // The device asked under the chat's namespace; our session with it
        // is kept under its LID when that is known (from the send's device
        // list, still cached when a retry comes).
        let (session, wire) = match self.device_lists.lid_of(&device.user_jid()) {
            Some(lid) => match DeviceAddress::from_jid(&lid.clone().with_device(device.device())) {
                Some(session) => (session, vec![(lid.clone(), device.user_jid())]),
                None => (device.clone(), Vec::new()),
            },
            None => (device.clone(), Vec::new()),
        };
        // Nobody waits for a resend; its outcome is only logged.
        let (reply, _) = oneshot::channel();
        self.pending.insert(
            id.clone(),
            PendingSend {
                message,
                reply,
                devices: vec![session],
                mappings: Vec::new(),
                moves: Vec::new(),
                wire,
                to,
                resend: true,
                ack_deadline: None,
            },
        );
        self.first_pass(ctx, id.clone(), super::send::Pass::Retry)
    }
}
