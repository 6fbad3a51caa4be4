//! A phone gets a receipt for a text it sent: delivered and read receipts
//! are kept for the admin API; a retry receipt (the device could not
//! decrypt) is answered by sending the text again over a new session, as
//! WhatsApp's retry flow does.
//!
//! Owns: the phone's receipt log and its retry answers. Must not touch:
//! how receipts reach the phone (`routing`, `send`).

use super::deliver::{send_text_copy, Outgoing};
use crate::sim::protocol::messages::receipt_ids;
use crate::sim::state::{push_bounded, PhoneReceipt, World, MAX_PHONE_LOG};
use crate::types::DeviceAddress;
use crate::wire::Node;

/// `receipt` from device `from` reached phone `phone` (device 0).
pub(crate) fn phone_got_receipt(
    world: &mut World,
    phone: &str,
    from: &DeviceAddress,
    receipt: &Node,
) {
    let kind = match receipt.get_attr("type") {
        None | Some("") | Some("delivery") => "delivered",
        Some("retry") => {
            answer_retry(world, phone, from, receipt);
            return;
        }
        Some(other) => other,
    };
    let entry = PhoneReceipt {
        kind: kind.to_string(),
        from: from.to_string(),
        ids: receipt_ids(receipt),
        timestamp: world.now(),
    };
    if let Some(p) = world.phones.get_mut(phone) {
        push_bounded(&mut p.signal.receipts, entry, MAX_PHONE_LOG);
    }
}

/// `device` could not decrypt a text the phone sent: start a fresh
/// session with it and send the text again.
fn answer_retry(world: &mut World, phone: &str, device: &DeviceAddress, receipt: &Node) {
    let id = receipt.get_attr("id").unwrap_or_default();
    let Some(account) = world.phones.get_mut(phone) else {
        return;
    };
    let Some(sent) = account.signal.sent.iter().find(|s| s.id == id).cloned() else {
        return;
    };
    account.signal.sessions.remove(device);
    let sender = account.address.clone();
    let chat = sent.chat.user_jid();
    let message = Outgoing::from_phone(&sender, &chat, id, world.now());
    if let Err(why) = send_text_copy(world, &message, device, &sent.text, None) {
        tracing::warn!(%why, "retry not answered");
    }
}
