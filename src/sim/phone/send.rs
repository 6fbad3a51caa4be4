//! A phone sends: a text to a contact (encrypted for every device of the
//! contact and every companion of its own), read receipts for texts it
//! received.
//!
//! Owns: the admin API's `POST /sim/phones/{phone}/messages` and
//! `/read`, from the recipient as typed to the copies delivered. Must not
//! touch: how each copy travels (`deliver`), sockets.

use std::collections::HashMap;

use serde::Serialize;

use super::deliver::send_text_copy;
use super::group_send::send_group_message;
use super::outgoing::Outgoing;
use super::receipts::phone_got_receipt;
use crate::proto::text;
use crate::sim::error::SimError;
use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::messages::read_receipt;
use crate::sim::state::{push_bounded, Sent, SentText, SimState, World, MAX_SENT};
use crate::types::{DeviceAddress, Jid, MessageId, PhoneNumber};

/// What `POST /sim/phones/{phone}/messages` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SentByPhone {
    pub id: String,
    pub to: String,
    pub timestamp: u64,
    /// How many devices it was encrypted for.
    pub devices: usize,
}

/// A recipient as the admin API takes it: a JID, or a phone number
/// (`15551234567`, `+1 555 123 4567`).
pub(crate) fn parse_recipient(to: &str) -> Option<Jid> {
    let to = to.trim();
    if to.contains('@') {
        return Jid::parse(to).ok();
    }
    match PhoneNumber::parse(to) {
        Ok(number) => Some(number.jid()),
        // The simulator's own numbers may be shorter than E.164 allows.
        Err(_) => DeviceAddress::pn(to.trim_start_matches('+'), 0).map(|a| a.user_jid()),
    }
}

/// The phone sends `text_body` to `to` (a phone number or JID, or a
/// group it is in), optionally replying to message `reply_to` (1:1 only).
pub(crate) fn phone_send(
    state: &SimState,
    phone: &str,
    to: &str,
    text_body: &str,
    reply_to: Option<&str>,
) -> Result<SentByPhone, SimError> {
    let mut world = state.lock();
    world.account(phone)?;
    let parsed = parse_recipient(to);
    if let Some(group) = parsed.as_ref().filter(|jid| jid.is_group()) {
        let id = MessageId::generate().into_string();
        let message = text::encode(text_body, None);
        let devices = send_group_message(&mut world, phone, &group.user, &id, &message)?;
        return Ok(SentByPhone {
            id,
            to: group.to_string(),
            timestamp: world.now(),
            devices,
        });
    }
    let recipient = parsed
        .and_then(|jid| world.resolve(&jid))
        .ok_or_else(|| SimError::NotOnWhatsApp(to.to_string()))?
        .with_device(0);
    let quoted = reply_to.map(|id| quote(&world, phone, id));
    let id = MessageId::generate().into_string();
    let (devices, chat) = send_text(
        &mut world,
        phone,
        &recipient,
        &id,
        text_body,
        quoted.as_ref(),
    )
    .map_err(SimError::BadRequest)?;
    Ok(SentByPhone {
        id,
        to: chat.to_string(),
        timestamp: world.now(),
        devices,
    })
}

/// The quote of received message `id` (what the phone knows of it).
fn quote(world: &World, phone: &str, id: &str) -> text::Quote {
    let original = world.phones.get(phone).and_then(|p| {
        p.signal
            .received
            .iter()
            .find(|r| r.message.id == id)
            .map(|r| (r.message.from.clone(), r.message.text.clone()))
    });
    text::Quote {
        id: id.to_string(),
        participant: original.as_ref().map(|(from, _)| from.clone()),
        text: original.map(|(_, t)| t),
    }
}

/// Encrypts and delivers a phone's text to every device of `to` (by
/// phone number) and every companion of its own, addressed in the
/// phone's namespace; records it for retries. Returns how many devices
/// got it and the chat as addressed.
fn send_text(
    world: &mut World,
    from: &str,
    to: &DeviceAddress,
    id: &str,
    text_body: &str,
    quoted: Option<&text::Quote>,
) -> Result<(usize, Jid), String> {
    let account = world.account(from).map_err(|e| e.to_string())?;
    let sender = account.address.clone();
    let addressing = account.addressing();
    let chat = world
        .user_in(to.user(), addressing)
        .ok_or("unknown recipient")?;
    let targets = copy_targets(world, from, to.user());
    let sent = Sent {
        sender: sender.clone(),
        addressing,
        group: None,
    };
    world.senders.remember(id, sent);
    let message = Outgoing::from_phone(&sender, &chat, addressing, id, world.now());
    let mut delivered = 0;
    for target in &targets {
        match send_text_copy(world, &message, target, text_body, quoted) {
            // Phone-to-phone: the recipient phone's receipt comes home.
            Ok(Some(receipt)) => phone_got_receipt(world, from, target, &receipt),
            Ok(None) => {}
            Err(why) => {
                tracing::warn!(%why, %target, "phone cannot encrypt");
                continue;
            }
        }
        delivered += 1;
    }
    if let Some(phone) = world.phones.get_mut(from) {
        let sent = SentText {
            id: id.to_string(),
            chat: to.clone(),
            addressing,
            text: text_body.to_string(),
        };
        push_bounded(&mut phone.signal.sent, sent, MAX_SENT);
    }
    Ok((delivered, chat))
}

/// Every device a phone's 1:1 message from `from` to `to_user` goes to:
/// each of the contact's, and each companion of the phone's own.
pub(super) fn copy_targets(world: &World, from: &str, to_user: &str) -> Vec<DeviceAddress> {
    let mut targets = world.devices_of(to_user);
    if to_user != from {
        let own = world.devices_of(from);
        targets.extend(own.into_iter().filter(|d| d.device() != 0));
    }
    targets
}

/// The phone reads received messages `ids`: each sender device gets one
/// read receipt for its own. Returns how many messages were marked.
pub(crate) fn phone_read(state: &SimState, phone: &str, ids: &[String]) -> Result<usize, SimError> {
    let mut world = state.lock();
    let account = world.account(phone)?;
    let me = account.address.clone();
    // One receipt per sender device, namespace and chat.
    type Chat = (DeviceAddress, Addressing, Option<Jid>);
    let mut by_sender: HashMap<Chat, Vec<String>> = HashMap::new();
    for r in account.signal.received.iter() {
        if ids.contains(&r.message.id) && !r.message.from_me {
            let chat = (r.sender.clone(), r.addressing, r.group.clone());
            let ids = by_sender.entry(chat).or_default();
            ids.push(r.message.id.clone());
        }
    }
    let now = world.now();
    let mut sent = 0;
    for ((sender, addressing, group), ids) in by_sender {
        if !world.phones.contains_key(sender.user()) {
            continue;
        }
        let me_as = world.present(&me, addressing);
        // A group's receipts come from the group, naming the reader.
        let receipt = match &group {
            Some(group) => read_receipt(group, &ids, now).attr("participant", me_as.to_string()),
            None => read_receipt(&me_as.user_jid(), &ids, now),
        };
        if sender.device() == 0 {
            phone_got_receipt(&mut world, sender.user(), &me, &receipt);
        } else {
            world.enqueue(&sender, "receipt", &ids[0], receipt);
        }
        sent += ids.len();
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::accounts::{create_phone, set_lid_migrated};
    use crate::sim::fixtures::linked;

    fn queued_for(s: &SimState, phone: &str, id: u16) -> Vec<crate::wire::Node> {
        let address = DeviceAddress::pn(phone, id).unwrap();
        let world = s.lock();
        let device = world.device(&address).unwrap();
        device.queue.iter().map(|q| q.node.clone()).collect()
    }

    #[test]
    fn a_migrated_phone_sends_lid_addressed_and_others_by_phone_number() {
        let (s, alice, companion) = linked();
        let bob = create_phone(&s, None).unwrap();
        let bob_lid = s.lock().phones[&bob].lid_user.clone();

        phone_send(&s, &bob, &alice, "by number", None).unwrap();
        set_lid_migrated(&s, &bob, true).unwrap();
        let sent = phone_send(&s, &bob, &alice, "by lid", None).unwrap();
        let alice_lid = s.lock().phones[&alice].lid_user.clone();
        assert_eq!(sent.to, format!("{alice_lid}@lid"));

        let copies = queued_for(&s, &alice, companion);
        let (pn, lid) = (&copies[copies.len() - 2], &copies[copies.len() - 1]);
        let bob_pn = format!("{bob}@s.whatsapp.net");
        assert_eq!(pn.get_attr("from"), Some(bob_pn.as_str()));
        assert_eq!(
            pn.get_attr("sender_lid"),
            Some(format!("{bob_lid}@lid").as_str())
        );
        assert_eq!(
            lid.get_attr("from"),
            Some(format!("{bob_lid}@lid").as_str())
        );
        assert_eq!(lid.get_attr("sender_pn"), Some(bob_pn.as_str()));
        // Alice's phone decrypted both over one session with Bob's phone,
        // and its receipts answered in each message's namespace.
        let texts: Vec<_> = s.phone_messages(&alice).unwrap();
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[1].from, format!("{bob_lid}@lid"));
        assert_eq!(texts[1].chat, format!("{bob_lid}@lid"));
        let receipts = s.phone_receipts(&bob).unwrap();
        assert_eq!(receipts[1].from, format!("{alice_lid}@lid"));
        assert_eq!(receipts[0].from, format!("{alice}@s.whatsapp.net"));
    }
}
