//! A phone encrypts for one device: over its session with it, or over a
//! new session started from a freshly fetched bundle.
//!
//! Owns: choosing session or bundle for the phone's sends, and the
//! plaintext of a text for each kind of device. Must not touch: delivery
//! (`deliver`), which texts are sent (`send`, `receipts`).

use crate::proto::text;
use crate::signal::{self, CiphertextMessage, SessionRecord};
use crate::sim::prekeys::take_bundle;
use crate::sim::state::World;
use crate::types::{DeviceAddress, Jid};

/// The padded plaintext of text `body` (a reply when `quoted` is set)
/// from phone `from` to `target`: for one of the phone's own companions a
/// `DeviceSentMessage` naming `chat`, for anyone else the message.
pub(crate) fn text_plaintext(
    from: &str,
    target: &DeviceAddress,
    chat: &Jid,
    body: &str,
    quoted: Option<&text::Quote>,
) -> Vec<u8> {
    let plaintext = if target.user() == from {
        text::encode_device_sent(&chat.to_string(), body, quoted)
    } else {
        text::encode(body, quoted)
    };
    text::pad(&plaintext)
}

/// Encrypts `plaintext` from phone `from` (device 0) to `target`,
/// starting a session from a fresh bundle when there is none.
pub(crate) fn phone_encrypt(
    world: &mut World,
    from: &str,
    target: &DeviceAddress,
    plaintext: &[u8],
) -> Result<CiphertextMessage, String> {
    let has_session = world
        .phones
        .get(from)
        .and_then(|p| p.signal.sessions.get(target))
        .is_some_and(SessionRecord::has_current_session);
    let bundle = if has_session {
        None
    } else {
        Some(take_bundle(world, target).ok_or("unknown device")?)
    };
    let phone = world.phones.get_mut(from).ok_or("unknown phone")?;
    let record = phone.signal.sessions.entry(target.clone()).or_default();
    if let Some(bundle) = bundle {
        signal::initiate_session(record, &phone.identity, phone.registration_id, &bundle)
            .map_err(|e| e.to_string())?;
    }
    signal::encrypt(record, &phone.identity, plaintext).map_err(|e| e.to_string())
}
