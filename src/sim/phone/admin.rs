//! What the admin API reads of a phone and does to it besides messaging:
//! the texts and receipts it received, its chats cleared, a reinstall of
//! WhatsApp.
//!
//! Owns: those operations. Must not touch: sending (`send`), the
//! account's companions.

use crate::sim::error::SimError;
use sha2::{Digest, Sha256};

use crate::media::MediaMessage;
use crate::sim::media::routes::file_name;
use crate::sim::state::{Account, PhoneMediaView, PhoneMessage, PhoneReceipt, SimState};

/// `GET /sim/phones/{phone}/messages`: texts the phone received; a
/// media message with its file fetched from the media hosts and opened
/// as a phone would (MAC, both hashes), reported by its plaintext hash.
pub(crate) fn phone_messages(state: &SimState, phone: &str) -> Result<Vec<PhoneMessage>, SimError> {
    let received = read(state, phone, |p| {
        p.signal
            .received
            .iter()
            .map(|r| (r.message.clone(), r.media.clone()))
            .collect::<Vec<_>>()
    })?;
    // Files are opened outside the tables' lock.
    Ok(received
        .into_iter()
        .map(|(mut message, media)| {
            message.media = media.map(|m| open_media(state, &m));
            message
        })
        .collect())
}

/// Fetches and opens a received media message's file.
fn open_media(state: &SimState, media: &MediaMessage) -> PhoneMediaView {
    let stored = file_name(&media.direct_path).and_then(|name| state.media().get(name));
    let opened = match stored {
        Some(upload) => crate::media::decrypt(
            &upload.bytes,
            &media.media_key,
            media.kind,
            Some(&media.file_enc_sha256),
            Some(&media.file_sha256),
        )
        .map_err(|e| e.to_string()),
        None => Err("not on the media hosts".to_string()),
    };
    let (sha256, length, error) = match opened {
        Ok(plain) => (
            Some(hex::encode(Sha256::digest(&plain))),
            Some(plain.len() as u64),
            None,
        ),
        Err(why) => (None, None, Some(why)),
    };
    PhoneMediaView {
        kind: media.kind.as_str().to_string(),
        mimetype: media.mimetype.clone(),
        file_length: media.file_length,
        voice_note: media.voice_note,
        caption: media.caption.clone(),
        file_name: media.file_name.clone(),
        sha256,
        length,
        error,
        width: media.width,
        height: media.height,
        seconds: media.seconds,
        waveform: media.waveform.clone(),
        jpeg_thumbnail: media.jpeg_thumbnail.as_ref().map(|t| {
            use base64::prelude::{Engine as _, BASE64_STANDARD};
            BASE64_STANDARD.encode(t)
        }),
    }
}

/// `GET /sim/phones/{phone}/receipts`: receipts for its sent texts.
pub(crate) fn phone_receipts(state: &SimState, phone: &str) -> Result<Vec<PhoneReceipt>, SimError> {
    read(state, phone, |p| {
        p.signal.receipts.iter().cloned().collect()
    })
}

fn read<T>(state: &SimState, phone: &str, f: impl FnOnce(&Account) -> T) -> Result<T, SimError> {
    state.lock().account(phone).map(f)
}

/// `POST /sim/phones/{phone}/clear-chats`: the received messages go.
pub(crate) fn clear_chats(state: &SimState, phone: &str) -> Result<(), SimError> {
    state.lock().account_mut(phone)?.signal.received.clear();
    Ok(())
}

/// `POST /sim/phones/{phone}/reinstall`: WhatsApp reinstalled on the
/// phone. It gets a new Signal identity and loses every session and
/// prekey, so contacts see an identity change and their next message
/// to it fails once (answered by a retry receipt). Its account, number
/// and linked companions stay.
pub(crate) fn reinstall_phone(state: &SimState, phone: &str) -> Result<(), SimError> {
    let mut world = state.lock();
    let account = world.account_mut(phone)?;
    account.reinstall();
    Ok(())
}
