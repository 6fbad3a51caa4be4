//! A phone sends a file: it encrypts it under a fresh media key, puts it
//! on the simulator's media hosts as a client would upload it, and sends
//! the media message pointing at it to every device of the contact and
//! every companion of its own (for those, wrapped with the chat it went
//! to), each copy over the phone's Signal session with that device.
//!
//! Owns: the admin API's `POST /sim/phones/{phone}/messages` with a
//! `media` part. Must not touch: the media hosts' storage rules
//! (`sim::media`), how a copy travels (`deliver`).

use prost::Message as _;

use super::deliver::send_copy;
use super::group_send::send_group_message;
use super::outgoing::Outgoing;
use super::send::{copy_targets, parse_recipient, SentByPhone};
use crate::media::{MediaKind, MediaMessage};
use crate::proto::text;
use crate::sim::error::SimError;
use crate::sim::media::routes::direct_path;
use crate::sim::state::{Sent, SimState};
use crate::types::MessageId;

/// The file a phone sends and what its message says of it.
pub struct PhoneMedia {
    pub kind: MediaKind,
    pub data: Vec<u8>,
    pub mimetype: String,
    pub caption: Option<String>,
    pub file_name: Option<String>,
    pub voice_note: bool,
}

/// Phone `phone` sends `media` to `to` (a phone number, a JID or a group
/// it is in).
pub(crate) fn phone_send_media(
    state: &SimState,
    phone: &str,
    to: &str,
    media: PhoneMedia,
) -> Result<SentByPhone, SimError> {
    // Encrypted and stored outside the tables' lock: files may be large.
    let (upload, info) = crate::media::encrypt(&media.data, media.kind);
    let name = state.media().put(upload.into());
    let path = direct_path(&name);
    let now = state.now();
    let message = MediaMessage {
        kind: media.kind,
        url: format!("http://{}{path}", state.media_host()),
        direct_path: path,
        media_key: info.media_key,
        file_sha256: info.file_sha256,
        file_enc_sha256: info.file_enc_sha256,
        file_length: info.file_length,
        mimetype: media.mimetype,
        caption: media.caption,
        file_name: media.file_name,
        width: None,
        height: None,
        seconds: None,
        voice_note: media.voice_note,
        page_count: None,
        media_key_timestamp: i64::try_from(now).ok(),
        jpeg_thumbnail: None,
        waveform: None,
    }
    .to_message();

    let mut world = state.lock();
    let account = world.account(phone)?;
    let sender = account.address.clone();
    let addressing = account.addressing();
    if let Some(group) = parse_recipient(to).filter(|jid| jid.is_group()) {
        let id = MessageId::generate().into_string();
        let devices = send_group_message(
            &mut world,
            phone,
            &group.user,
            &id,
            &message.encode_to_vec(),
        )?;
        return Ok(SentByPhone {
            id,
            to: group.to_string(),
            timestamp: now,
            devices,
        });
    }
    let recipient = parse_recipient(to)
        .and_then(|jid| world.resolve(&jid))
        .ok_or_else(|| SimError::NotOnWhatsApp(to.to_string()))?;
    let chat = world
        .user_in(recipient.user(), addressing)
        .ok_or_else(|| SimError::NotOnWhatsApp(to.to_string()))?;
    let targets = copy_targets(&world, phone, recipient.user());
    let id = MessageId::generate().into_string();
    world.senders.remember(
        &id,
        Sent {
            sender: sender.clone(),
            addressing,
            group: None,
        },
    );
    let for_them = text::pad(&message.encode_to_vec());
    let for_us = text::pad(&text::device_sent(&chat.to_string(), message));
    let outgoing = Outgoing::from_phone(&sender, &chat, addressing, &id, now);
    let mut devices = 0;
    for target in &targets {
        let plaintext = if target.user() == phone {
            &for_us
        } else {
            &for_them
        };
        // A phone recipient's delivery receipt is not tracked for media.
        match send_copy(&mut world, &outgoing, target, plaintext) {
            Ok(_) => devices += 1,
            Err(why) => tracing::warn!(%why, %target, "phone cannot encrypt its media message"),
        }
    }
    Ok(SentByPhone {
        id,
        to: chat.to_string(),
        timestamp: now,
        devices,
    })
}
