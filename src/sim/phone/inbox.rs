//! A phone receives one encrypted 1:1 copy: it decrypts it at once, keeps
//! the text for the admin API and answers with a delivery receipt, or
//! with a retry receipt when the copy does not decrypt.
//!
//! Owns: the phone's decryption (prekey and session messages, over one
//! session per peer device whatever namespace the copy names it in) and
//! what it records of a received text. Must not touch: delivery to other
//! devices; the receipt it returns is routed by the caller.

use super::outgoing::Outgoing;
use crate::proto::text;
use crate::signal::{self, LocalPreKeys, PreKey};
use crate::sim::protocol::messages::{delivery_receipt, retry_receipt};
use crate::sim::state::{push_bounded, Account, PhoneMessage, Received, World, MAX_PHONE_LOG};
use crate::types::DeviceAddress;
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
        return None;
    }
    let now = world.now();
    let presented = message.presented_sender(world);
    let me = world.present(&world.phones.get(phone)?.address, message.addressing);
    let account = world.phones.get_mut(phone)?;
    let enc = encs.first()?;
    let (sender, id) = (message.sender, message.id);
    match decrypt_pairwise(account, sender, enc).and_then(|p| decode_text(&p)) {
        Ok(content) => {
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
            };
            let received = Received {
                sender: sender.clone(),
                addressing: message.addressing,
                message: record,
            };
            push_bounded(&mut account.signal.received, received, MAX_PHONE_LOG);
            (!from_me).then(|| delivery_receipt(&me.jid(), id, now))
        }
        Err(why) => {
            tracing::info!(%phone, %why, "phone could not decrypt a message");
            account.signal.undecryptable += 1;
            let registration_id = account.registration_id;
            Some(retry_receipt(
                &me.jid(),
                id,
                message.timestamp,
                registration_id,
                now,
            ))
        }
    }
}

/// The phone decrypts a pairwise copy (`pkmsg` or `msg`) from `sender`
/// (by phone number: the phone keeps one session per peer device, as
/// clients move a phone-number session to the device's LID address).
/// Returns the unpadded plaintext.
pub(crate) fn decrypt_pairwise(
    account: &mut Account,
    sender: &DeviceAddress,
    enc: &Node,
) -> Result<Vec<u8>, String> {
    let enc_type = enc.get_attr("type").unwrap_or_default();
    let bytes = enc.content_bytes().unwrap_or_default();
    let identity = account.identity.clone();
    let registration_id = account.registration_id;
    let s = &mut account.signal;
    let record = s.sessions.entry(sender.clone()).or_default();
    let padded = match enc_type {
        "pkmsg" => {
            let one_time: Vec<PreKey> = s.one_time.iter().cloned().collect();
            let prekeys = LocalPreKeys {
                signed: std::slice::from_ref(&s.signed_prekey),
                one_time: &one_time,
            };
            let out =
                signal::decrypt_prekey_message(record, &identity, registration_id, &prekeys, bytes)
                    .map_err(|e| e.to_string())?;
            if let Some(used) = out.consumed_prekey_id {
                s.one_time.retain(|k| k.id != used);
            }
            out.plaintext
        }
        "msg" => signal::decrypt_message(record, &identity, bytes).map_err(|e| e.to_string())?,
        other => return Err(format!("unsupported enc type {other:?}")),
    };
    text::unpad(&padded)
        .map(<[u8]>::to_vec)
        .map_err(|e| e.to_string())
}

fn decode_text(plaintext: &[u8]) -> Result<text::TextContent, String> {
    text::decode(plaintext).map_err(|e| e.to_string())
}
