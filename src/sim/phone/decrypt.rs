//! A phone decrypts a pairwise copy (`pkmsg` or `msg`) over its session
//! with the sending device.
//!
//! Owns: the phone's side of pairwise decryption (its prekeys used up,
//! its sessions advanced). Must not touch: what the plaintext says
//! (`inbox`, `group_inbox` read it).

use crate::proto::text;
use crate::signal::{self, LocalPreKeys, PreKey};
use crate::sim::state::Account;
use crate::types::DeviceAddress;
use crate::wire::Node;

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
