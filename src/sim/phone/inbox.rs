//! A phone receives one encrypted 1:1 copy (group copies go to
//! `group_inbox`): it decrypts it at once, keeps the text for the admin
//! API and answers with a delivery receipt, or with a retry receipt when
//! the copy does not decrypt.
//!
//! Owns: what the phone records of a received text (decryption is
//! `decrypt`'s, over one session per peer device whatever namespace the
//! copy names it in). Must not touch: delivery to other devices; the
//! receipt it returns is routed by the caller.

use super::content;
use super::decrypt::decrypt_pairwise;
use super::group_inbox;
use super::outgoing::Outgoing;
use crate::sim::protocol::messages::{delivery_receipt, retry_receipt};
use crate::sim::state::{push_bounded, PhoneMessage, Received, World, MAX_PHONE_LOG};
use crate::wire::Node;

/// Phone `phone` (device 0) receives the copy `encs` of `message`.
/// Returns the receipt the phone sends back, if any (a phone does not
/// confirm its own companions' texts).
pub(crate) fn receive(
    world: &mut World,
    message: &Outgoing<'_>,
    phone: &str,
    encs: &[Node],
) -> Option<Node> {
    if message.chat.is_group() {
        return group_inbox::receive(world, message, phone, encs);
    }
    let now = world.now();
    let presented = message.presented_sender(world);
    let me = world.present(&world.phones.get(phone)?.address, message.addressing);
    let account = world.phones.get_mut(phone)?;
    let enc = encs.first()?;
    let (sender, id) = (message.sender, message.id);
    let decrypted = match decrypt_pairwise(account, sender, enc) {
        Ok(plaintext) => plaintext,
        Err(why) => {
            tracing::info!(%phone, %why, "phone could not decrypt a message");
            account.signal.undecryptable += 1;
            let registration_id = account.registration_id;
            return Some(retry_receipt(
                &me.jid(),
                id,
                message.timestamp,
                registration_id,
                now,
            ));
        }
    };
    match content::decode(&decrypted) {
        Ok((content, media)) => {
            let from_me = sender.user() == phone;
            let chat = match (content.sent_to, from_me) {
                (Some(to), true) => to,
                _ => presented.user_jid().to_string(),
            };
            let record = PhoneMessage {
                id: id.to_string(),
                from: presented.to_string(),
                chat,
                text: content.text,
                timestamp: message.timestamp,
                from_me,
                quoted_id: content.quoted.map(|q| q.id),
                media: None,
            };
            let received = Received {
                sender: sender.clone(),
                addressing: message.addressing,
                group: None,
                message: record,
                media: media.map(Box::new),
            };
            push_bounded(&mut account.signal.received, received, MAX_PHONE_LOG);
            (!from_me).then(|| delivery_receipt(&me.jid(), id, now))
        }
        // Decrypted, but nothing the phone shows (a companion's protocol
        // message, a key request): taken, not retried.
        Err(why) => {
            tracing::debug!(%phone, %why, "phone took a message it does not show");
            let from_me = sender.user() == phone;
            (!from_me).then(|| delivery_receipt(&me.jid(), id, now))
        }
    }
}
