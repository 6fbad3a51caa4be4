//! A phone receives one encrypted copy: it decrypts it at once, keeps the
//! text for the admin API and answers with a delivery receipt, or with a
//! retry receipt when the copy does not decrypt.
//!
//! Owns: the phone's decryption (prekey and session messages) and what
//! it records of a received text. Must not touch: delivery to other
//! devices; the receipt it returns is routed by the caller.

use crate::proto::text;
use crate::signal::{self, LocalPreKeys, PreKey};
use crate::sim::protocol::messages::{delivery_receipt, retry_receipt};
use crate::sim::state::{push_bounded, Account, PhoneMessage, Received, World, MAX_PHONE_LOG};
use crate::types::DeviceAddress;
use crate::wire::Node;

/// Phone `phone` (device 0) receives copy `enc` of message `id` from
/// `sender`, sent at `timestamp`. Returns the receipt the phone sends
/// back, if any (a phone does not confirm its own companions' texts).
pub(crate) fn receive(
    world: &mut World,
    sender: &DeviceAddress,
    phone: &str,
    id: &str,
    timestamp: u64,
    enc: &Node,
) -> Option<Node> {
    let now = world.now();
    let account = world.phones.get_mut(phone)?;
    let enc_type = enc.get_attr("type").unwrap_or_default();
    let bytes = enc.content_bytes().unwrap_or_default();
    let me = account.jid();
    match decrypt(account, sender, enc_type, bytes) {
        Ok(content) => {
            let from_me = sender.user() == phone;
            let chat = match (content.sent_to, from_me) {
                (Some(to), true) => to,
                _ => sender.user_jid().to_string(),
            };
            let message = PhoneMessage {
                id: id.to_string(),
                from: sender.to_string(),
                chat,
                text: content.text,
                timestamp,
                from_me,
                quoted_id: content.quoted.map(|q| q.id),
            };
            let received = Received {
                sender: sender.clone(),
                message,
            };
            push_bounded(&mut account.signal.received, received, MAX_PHONE_LOG);
            (!from_me).then(|| delivery_receipt(&me, id, now))
        }
        Err(why) => {
            tracing::info!(%phone, %why, "phone could not decrypt a message");
            account.signal.undecryptable += 1;
            Some(retry_receipt(
                &me,
                id,
                timestamp,
                account.registration_id,
                now,
            ))
        }
    }
}

/// The phone decrypts a copy addressed to it.
fn decrypt(
    account: &mut Account,
    sender: &DeviceAddress,
    enc_type: &str,
    bytes: &[u8],
) -> Result<text::TextContent, String> {
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
    let body = text::unpad(&padded).map_err(|e| e.to_string())?;
    text::decode(body).map_err(|e| e.to_string())
}
