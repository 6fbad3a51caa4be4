//! A phone gets a receipt for a text it sent: delivered and read receipts
//! are kept for the admin API; a retry receipt (the device could not
//! decrypt) is answered by sending the text again over a new session, as
//! WhatsApp's retry flow does.
//!
//! Owns: the phone's receipt log and its retry answers. Must not touch:
//! how receipts reach the phone (`routing`, `send`).

use super::deliver::send_text_copy;
use super::outgoing::Outgoing;
use crate::sim::protocol::messages::receipt_ids;
use crate::sim::state::{push_bounded, PhoneReceipt, World, MAX_PHONE_LOG};
use crate::types::DeviceAddress;
use crate::wire::Node;

/// `receipt` from device `from` (by phone number) reached phone `phone`
/// (device 0). The log names the device as the receipt does (its
/// `participant` in a group, else its `from`).
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
    let named = receipt
        .get_attr("participant")
        .or_else(|| receipt.get_attr("from"))
        .map_or_else(|| from.to_string(), str::to_owned);
    let entry = PhoneReceipt {
        kind: kind.to_string(),
        from: named,
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
    let Some(chat) = world.user_in(sent.chat.user(), sent.addressing) else {
        return;
    };
    let message = Outgoing::from_phone(&sender, &chat, sent.addressing, id, world.now());
    if let Err(why) = send_text_copy(world, &message, device, &sent.text, None) {
        tracing::warn!(%why, "retry not answered");
    }
}
