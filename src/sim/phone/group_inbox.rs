//! A phone receives one group copy: its pairwise `<enc>` (when present)
//! carries the sender's key for the group, the `skmsg` the text under
//! that key. The phone keeps the key, decrypts the text, records it with
//! the group as the chat, and answers with a receipt from the group
//! naming itself as participant (a retry receipt when it cannot decrypt).
//!
//! Owns: the phone's sender keys of other members and what it records of
//! a group text. Must not touch: the phone's own sender key
//! (`group_send`), delivery.

use prost::Message as _;

use super::content;
use super::decrypt::decrypt_pairwise;
use super::outgoing::Outgoing;
use crate::proto::{text, Message};
use crate::signal;
use crate::sim::protocol::messages::{delivery_receipt, retry_receipt};
use crate::sim::state::{push_bounded, Account, PhoneMessage, Received, World, MAX_PHONE_LOG};
use crate::wire::Node;

/// Phone `phone` receives `encs` of group message `message`. Returns the
/// receipt it sends back (none for its own companions' texts).
pub(crate) fn receive(
    world: &mut World,
    message: &Outgoing<'_>,
    phone: &str,
    encs: &[Node],
) -> Option<Node> {
    let now = world.now();
    let group = message.chat.clone();
    let presented = message.presented_sender(world);
    let me = world
        .present(&world.phones.get(phone)?.address, message.addressing)
        .jid();
    let account = world.phones.get_mut(phone)?;
    let from_me = message.sender.user() == phone;
    match decrypt_group(account, message, encs) {
        Ok(Some((content, media))) => {
            let record = PhoneMessage {
                id: message.id.to_owned(),
                from: presented.to_string(),
                chat: group.to_string(),
                text: content.text,
                timestamp: message.timestamp,
                from_me,
                quoted_id: content.quoted.map(|q| q.id),
                media: None,
            };
            let received = Received {
                sender: message.sender.clone(),
                addressing: message.addressing,
                group: Some(group.clone()),
                message: record,
                media: media.map(Box::new),
            };
            push_bounded(&mut account.signal.received, received, MAX_PHONE_LOG);
            let receipt = delivery_receipt(&group, message.id, now);
            (!from_me).then(|| receipt.attr("participant", me.to_string()))
        }
        // A key distribution alone: nothing to show or confirm.
        Ok(None) => None,
        Err(why) => {
            tracing::info!(%phone, %why, "phone could not decrypt a group message");
            account.signal.undecryptable += 1;
            let registration_id = account.registration_id;
            let retry = retry_receipt(&group, message.id, message.timestamp, registration_id, now);
            Some(retry.attr("participant", me.to_string()))
        }
    }
}

/// A decrypted group message: its text, and its file if it is media.
type Decoded = (text::TextContent, Option<crate::media::MediaMessage>);

/// Takes the sender's key from a pairwise copy, then decrypts the
/// `skmsg` with it (or takes the text from the pairwise copy, as a resend
/// carries it). `Ok(None)` when there is no text.
fn decrypt_group(
    account: &mut Account,
    message: &Outgoing<'_>,
    encs: &[Node],
) -> Result<Option<Decoded>, String> {
    let key = (message.chat.user.clone(), message.sender.clone());
    let mut content = None;
    for enc in encs {
        let bytes = enc.content_bytes().unwrap_or_default();
        if enc.get_attr("type") == Some("skmsg") {
            let record = account.signal.group_keys.entry(key.clone()).or_default();
            let padded = signal::group_decrypt(record, bytes).map_err(|e| e.to_string())?;
            let plaintext = text::unpad(&padded).map_err(|e| e.to_string())?;
            content = Some(content::decode(plaintext)?);
        } else {
            let plaintext = decrypt_pairwise(account, message.sender, enc)?;
            if let Some(distribution) = sender_key_distribution(&plaintext) {
                let record = account.signal.group_keys.entry(key.clone()).or_default();
                signal::process_distribution(record, &distribution).map_err(|e| e.to_string())?;
            }
            // A resend after our retry receipt carries the text itself.
            if content.is_none() {
                content = content::decode(&plaintext).ok();
            }
        }
    }
    Ok(content)
}

/// The sender-key distribution a pairwise plaintext carries, if any.
fn sender_key_distribution(plaintext: &[u8]) -> Option<Vec<u8>> {
    Message::decode(plaintext)
        .ok()?
        .sender_key_distribution_message?
        .axolotl_sender_key_distribution_message
}
