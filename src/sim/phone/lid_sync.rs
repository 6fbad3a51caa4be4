//! The phone tells its companions its contacts' LIDs (the primary's
//! `LID_MIGRATION_MAPPING_SYNC` push, which WhatsApp's phone sends its
//! linked devices as its chats move to LID addressing).
//!
//! Owns: the admin API's `POST /sim/phones/{phone}/lid-mappings`, from
//! the contacts named to one encrypted copy per companion. Must not
//! touch: the message's shape (`protocol::lid_sync`), how a copy travels
//! (`deliver`).

use serde::Serialize;

use super::deliver::deliver_copy;
use super::encrypt::phone_encrypt;
use super::outgoing::Outgoing;
use super::send::parse_recipient;
use crate::proto::text;
use crate::sim::error::SimError;
use crate::sim::protocol::lid_sync::{mapping_sync, LidPair};
use crate::sim::protocol::messages::enc_node;
use crate::sim::state::{Sent, SimState, World};
use crate::types::MessageId;

/// At most this many contacts in one push (the admin API's bound).
const MAX_CONTACTS: usize = 1_000;

/// What `POST /sim/phones/{phone}/lid-mappings` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LidsShared {
    /// How many pairs the push carried.
    pub mappings: usize,
    /// How many companions it was encrypted for.
    pub devices: usize,
}

/// Phone `phone` pushes the phone number → LID pairs of `contacts`
/// (phone numbers or JIDs of simulated accounts) to each of its
/// companions.
pub(crate) fn phone_share_lids(
    state: &SimState,
    phone: &str,
    contacts: &[String],
) -> Result<LidsShared, SimError> {
    let mut world = state.lock();
    let pairs = contact_pairs(&world, contacts)?;
    let now = world.now();
    let devices = to_companions(&mut world, phone, &mapping_sync(&pairs, now))?;
    Ok(LidsShared {
        mappings: pairs.len(),
        devices,
    })
}

/// The phone number and LID of each of `contacts` (1 to
/// [`MAX_CONTACTS`] simulated accounts, by number or JID).
pub(crate) fn contact_pairs(world: &World, contacts: &[String]) -> Result<Vec<LidPair>, SimError> {
    if contacts.is_empty() || contacts.len() > MAX_CONTACTS {
        return Err(SimError::BadRequest(format!(
            "contacts must name 1 to {MAX_CONTACTS} accounts"
        )));
    }
    contacts
        .iter()
        .map(|contact| {
            parse_recipient(contact)
                .and_then(|jid| world.resolve(&jid))
                .and_then(|device| world.phones.get(device.user()))
                .and_then(|a| {
                    Some(LidPair {
                        pn: a.number().parse().ok()?,
                        lid: a.lid_user.parse().ok()?,
                    })
                })
                .ok_or_else(|| SimError::NotOnWhatsApp(contact.clone()))
        })
        .collect()
}

/// Phone `phone` sends the unpadded protocol message `plaintext` to each
/// of its companions, one encrypted copy each, as a message to its own
/// chat; how many it reached.
pub(crate) fn to_companions(
    world: &mut World,
    phone: &str,
    plaintext: &[u8],
) -> Result<usize, SimError> {
    let account = world.account(phone)?;
    let sender = account.address.clone();
    let addressing = account.addressing();
    let padded = text::pad(plaintext);
    let own_chat = world
        .user_in(phone, addressing)
        .ok_or_else(|| SimError::UnknownPhone(phone.to_owned()))?;
    let companions: Vec<_> = world
        .devices_of(phone)
        .into_iter()
        .filter(|d| d.device() != 0)
        .collect();
    let id = MessageId::generate().into_string();
    // The companions' receipts (delivery, `hist_sync`) come back to the
    // phone's receipt log.
    world.senders.remember(
        &id,
        Sent {
            sender: sender.clone(),
            addressing,
            group: None,
        },
    );
    let message = Outgoing::from_phone(&sender, &own_chat, addressing, &id, world.now());
    let mut devices = 0;
    for target in &companions {
        match phone_encrypt(world, phone, target, &padded) {
            Ok(ciphertext) => {
                deliver_copy(world, &message, target, vec![enc_node(&ciphertext)]);
                devices += 1;
            }
            Err(why) => tracing::warn!(%why, %target, "phone cannot encrypt to its companion"),
        }
    }
    Ok(devices)
}
