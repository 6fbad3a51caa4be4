//! A phone sends a group message (a text, a file) as clients do: its sender key for the group
//! goes pairwise (`pkmsg`/`msg`) to each member device that lacks it, the
//! message once as an `skmsg` under that key, both in one copy per device.
//!
//! Owns: the phone's own sender key per group and which devices hold it
//! (a removal elsewhere clears both, so the next text starts a new key).
//! Must not touch: the group's members (read only), delivery
//! (`deliver`).

use std::collections::HashSet;

use prost::Message as _;

use super::deliver::deliver_copy;
use super::encrypt::phone_encrypt;
use super::outgoing::Outgoing;
use super::receipts::phone_got_receipt;
use crate::proto::{text, Message, SenderKeyDistribution};
use crate::signal;
use crate::sim::error::SimError;
use crate::sim::protocol::messages::enc_node;
use crate::sim::state::{Sent, World};
use crate::types::DeviceAddress;
use crate::wire::Node;

/// Phone `phone` sends the unpadded `Message` `message` (a text, a media
/// message) to group `group_id` as message `id`. Returns how many devices
/// got it.
pub(crate) fn send_group_message(
    world: &mut World,
    phone: &str,
    group_id: &str,
    id: &str,
    message: &[u8],
) -> Result<usize, SimError> {
    let group = world
        .groups
        .get(group_id)
        .cloned()
        .ok_or_else(|| SimError::UnknownGroup(group_id.to_owned()))?;
    if !group.is_member(phone) {
        return Err(SimError::NotInGroup(phone.to_owned()));
    }
    let chat = group.jid();
    let sender = world.account(phone)?.address.clone();
    let targets: Vec<DeviceAddress> = group
        .phones()
        .flat_map(|p| world.devices_of(p))
        .filter(|d| *d != sender)
        .collect();
    let account = world.account_mut(phone)?;
    let record = account
        .signal
        .own_group_keys
        .entry(group.id.clone())
        .or_default();
    let distribution = signal::create_distribution(record).serialize();
    let skmsg = signal::group_encrypt(record, &text::pad(message))
        .map_err(|e| SimError::BadRequest(e.to_string()))?;
    let skmsg = Node::new("enc")
        .attr("v", "2")
        .attr("type", "skmsg")
        .bytes(skmsg);
    let holders = account
        .signal
        .distributed
        .get(&group.id)
        .cloned()
        .unwrap_or_default();
    let key_share = text::pad(
        &Message {
            sender_key_distribution_message: Some(SenderKeyDistribution {
                group_id: Some(chat.to_string()),
                axolotl_sender_key_distribution_message: Some(distribution),
            }),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let sent = Sent {
        sender: sender.clone(),
        addressing: group.addressing,
        group: Some(chat.clone()),
    };
    world.senders.remember(id, sent);
    let outgoing = Outgoing::from_phone(&sender, &chat, group.addressing, id, world.now());
    let mut given: HashSet<DeviceAddress> = HashSet::new();
    let mut delivered = 0;
    for target in &targets {
        let mut encs = Vec::new();
        if !holders.contains(target) {
            match phone_encrypt(world, phone, target, &key_share) {
                Ok(ciphertext) => {
                    encs.push(enc_node(&ciphertext));
                    given.insert(target.clone());
                }
                Err(why) => {
                    tracing::warn!(%why, %target, "phone cannot share its sender key");
                    continue;
                }
            }
        }
        encs.push(skmsg.clone());
        if let Some(receipt) = deliver_copy(world, &outgoing, target, encs) {
            phone_got_receipt(world, phone, target, &receipt);
        }
        delivered += 1;
    }
    if let Some(account) = world.phones.get_mut(phone) {
        let holders = account.signal.distributed.entry(group.id).or_default();
        holders.extend(given);
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use crate::sim::accounts::create_phone;
    use crate::sim::fixtures::linked;

    #[test]
    fn member_phones_read_each_others_group_texts_and_a_removed_one_stops() {
        let (s, alice, companion) = linked();
        let bob = create_phone(&s, None).unwrap();
        let carol = create_phone(&s, None).unwrap();
        let group = s
            .create_group(&alice, "Team", &[bob.clone(), carol.clone()], None)
            .unwrap();
        assert_eq!(group.participants.len(), 3);
        assert_eq!(group.participants[0].role, "superadmin");

        let sent = s.phone_send(&bob, &group.id, "hello team", None).unwrap();
        assert_eq!(sent.to, group.id);
        // Alice's phone and companion, Carol's phone.
        assert_eq!(sent.devices, 3);
        for phone in [&alice, &carol] {
            let texts = s.phone_messages(phone).unwrap();
            let got = texts.last().unwrap();
            assert_eq!(
                (got.text.as_str(), got.chat.as_str()),
                ("hello team", group.id.as_str())
            );
            assert_eq!(got.from, format!("{bob}@s.whatsapp.net"));
        }
        // The companion got the sender key pairwise, then the skmsg.
        let address = crate::types::DeviceAddress::pn(alice.clone(), companion).unwrap();
        let copy = s
            .lock()
            .device(&address)
            .unwrap()
            .queue
            .back()
            .unwrap()
            .node
            .clone();
        assert_eq!(copy.get_attr("from"), Some(group.id.as_str()));
        let bob_pn = format!("{bob}@s.whatsapp.net");
        assert_eq!(copy.get_attr("participant"), Some(bob_pn.as_str()));
        assert_eq!(copy.get_attr("addressing_mode"), Some("pn"));
        let types: Vec<_> = copy
            .child_nodes()
            .iter()
            .filter_map(|n| n.get_attr("type"))
            .collect();
        assert_eq!(types, ["pkmsg", "skmsg"]);
        // Bob's phone got delivery receipts from the group.
        let receipts = s.phone_receipts(&bob).unwrap();
        assert!(receipts
            .iter()
            .any(|r| r.from == format!("{alice}@s.whatsapp.net")));

        // A second text: the key is held, only the skmsg travels.
        s.phone_send(&bob, &group.id, "again", None).unwrap();
        assert_eq!(
            s.phone_messages(&carol).unwrap().last().unwrap().text,
            "again"
        );

        // Carol is removed: she gets no more, and the rest still read.
        s.change_group_participants(&group.id, &alice, &[], std::slice::from_ref(&carol))
            .unwrap();
        let before = s.phone_messages(&carol).unwrap().len();
        s.phone_send(&bob, &group.id, "without carol", None)
            .unwrap();
        assert_eq!(s.phone_messages(&carol).unwrap().len(), before);
        assert_eq!(
            s.phone_messages(&alice).unwrap().last().unwrap().text,
            "without carol"
        );
        assert_eq!(
            s.phone_send(&carol, &group.id, "let me in", None)
                .unwrap_err()
                .code(),
            "not_in_group"
        );
    }
}
