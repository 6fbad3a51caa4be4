//! Routing a 1:1 `<message>` a companion sent: the server checks its
//! addressing, acknowledges it and hands one copy to each addressed
//! device (`<participants><to jid>`, or the single `<enc>` of a message
//! addressed by `to` alone), in the namespace the sender used.
//!
//! Owns: the server's ack and its refusals, remembering the sender for
//! receipts, resolving each addressed device. Must not touch: how a copy
//! reaches a device (`phone::deliver`), encryption (the sender did it),
//! group fan-out (`routing::group_messages`, to which group messages go).
//!
//! Which namespace a 1:1 message must use is the sending account's
//! decision: LID once its chats moved to LID ("migrated"), phone numbers
//! before (whatsapp-rust `client/lid_pn.rs` resolve_dm_wire_jid, after WA
//! Web's `Lid1X1MigrationUtils.isLidMigrated`). The refusals, as the
//! references report the real server:
//! - `463` for a phone-number send from a migrated account to another
//!   account (Baileys issue #2683, OpenWA PR #717: sends "addressed by
//!   phone number to a LID-migrated contact" get ack error 463 while the
//!   same account's phone, and sends to the contact's LID, deliver);
//! - `400` for a LID send from an account that is not migrated
//!   (whatsapp-rust `send/mod.rs`, issue #941: "the server 400-nacks
//!   LID-addressed DMs from accounts that are not 1:1-LID-migrated");
//! - `479` (SmaxInvalid) when the `<to>` devices are not all in the
//!   namespace of `to` (whatsapp-rust `device_registry.rs`: "the server
//!   rejects a stanza that mixes PN and LID participants"; Baileys names
//!   479 "malformed addressing").
//!
//! Messages within one account (its own devices) are never refused.
//! A refused message is delivered to no one.

use super::group_messages::route_group;
use crate::sim::phone::deliver::deliver_copy;
use crate::sim::phone::outgoing::Outgoing;
use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::messages::message_ack;
use crate::sim::protocol::stanzas::jid_attr;
use crate::sim::state::{Sent, SimState, World};
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// Routes message `node` from companion `sender` (by phone number): to a
/// group, or 1:1.
pub(crate) fn route_message(state: &SimState, sender: &DeviceAddress, node: &Node) -> Vec<Node> {
    match jid_attr(node, "to") {
        Some(group) if group.is_group() => route_group(state, sender, &group, node),
        _ => route_direct(state, sender, node),
    }
}

/// Routes 1:1 message `node` from companion `sender` (by phone number).
/// Returns what goes back to it: the server's ack, then any receipt a
/// recipient phone sent at once.
fn route_direct(state: &SimState, sender: &DeviceAddress, node: &Node) -> Vec<Node> {
    let mut world = state.lock();
    let timestamp = world.now();
    let ack = message_ack(node, timestamp);
    let to_jid = jid_attr(node, "to");
    let addressed = to_jid
        .as_ref()
        .and_then(|jid| Some((Addressing::of(jid)?, world.resolve(jid)?)));
    let Some((addressing, to)) = addressed else {
        return vec![ack.attr("error", "404")];
    };
    if let Some(code) = refusal(&world, sender, &to, addressing, node) {
        tracing::debug!(%sender, %to, code, "message refused");
        return vec![ack.attr("error", code)];
    }
    let id = node.get_attr("id").unwrap_or_default();
    let sent = Sent {
        sender: sender.clone(),
        addressing,
        group: None,
    };
    world.senders.remember(id, sent);
    let mut copies: Vec<(DeviceAddress, Node)> = Vec::new();
    if let Some(participants) = node.child("participants") {
        for copy in participants.child_nodes().iter().filter(|n| n.tag == "to") {
            let target = jid_attr(copy, "jid").and_then(|jid| world.resolve(&jid));
            if let (Some(target), Some(enc)) = (target, copy.child("enc")) {
                copies.push((target, enc.clone()));
            }
        }
    } else if let Some(enc) = node.child("enc") {
        // A single copy addressed by `to` itself.
        copies.push((to.clone(), enc.clone()));
    }
    let chat: Jid = world.present(&to, addressing).user_jid();
    let message = Outgoing {
        sender,
        chat: &chat,
        addressing,
        id,
        timestamp,
        device_identity: node.child("device-identity"),
    };
    let mut back = vec![ack];
    for (target, enc) in copies {
        back.extend(deliver_copy(&mut world, &message, &target, vec![enc]));
    }
    back
}

/// The error code the server refuses a 1:1 message with, if any (see the
/// module documentation for the sources).
fn refusal(
    world: &World,
    sender: &DeviceAddress,
    to: &DeviceAddress,
    addressing: Addressing,
    node: &Node,
) -> Option<&'static str> {
    let sender_migrated = world
        .phones
        .get(sender.user())
        .is_some_and(|a| a.lid_migrated);
    if to.user() != sender.user() {
        match addressing {
            Addressing::Pn if sender_migrated => return Some("463"),
            Addressing::Lid if !sender_migrated => return Some("400"),
            _ => {}
        }
    }
    let mixed = node.child("participants").is_some_and(|p| {
        p.child_nodes()
            .iter()
            .filter(|n| n.tag == "to")
            .filter_map(|n| jid_attr(n, "jid"))
            .any(|jid| Addressing::of(&jid) != Some(addressing))
    });
    mixed.then_some("479")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::accounts::{create_phone, set_lid_migrated};
    use crate::sim::fixtures::{ask, link_directly, registration, state};

    /// Two accounts with a companion each (Alice with two).
    struct Two {
        s: SimState,
        alice: String,
        bob: String,
        alice_lid: String,
        bob_lid: String,
    }

    fn two() -> Two {
        let s = state();
        let alice = create_phone(&s, None).unwrap();
        let bob = create_phone(&s, None).unwrap();
        for (phone, noise) in [(&alice, 1), (&alice, 2), (&bob, 3)] {
            link_directly(&s, phone, registration([noise; 32])).unwrap();
        }
        let lid = |p: &str| s.lock().phones[p].lid_user.clone();
        let (alice_lid, bob_lid) = (lid(&alice), lid(&bob));
        Two {
            s,
            alice,
            bob,
            alice_lid,
            bob_lid,
        }
    }

    /// `<message to id="m1"><participants><to jid><enc/>..`.
    fn dm(to: &str, targets: &[String]) -> Node {
        let copies = targets
            .iter()
            .map(|t| {
                Node::new("to")
                    .attr("jid", t.as_str())
                    .children(vec![Node::new("enc")
                        .attr("v", "2")
                        .attr("type", "msg")
                        .bytes(vec![1, 2, 3])])
            })
            .collect();
        Node::new("message")
            .attr("id", "m1")
            .attr("to", to)
            .attr("type", "text")
            .children(vec![Node::new("participants").children(copies)])
    }

    fn last_queued(s: &SimState, phone: &str, id: u16) -> Option<Node> {
        let address = DeviceAddress::pn(phone, id)?;
        s.lock()
            .device(&address)?
            .queue
            .back()
            .map(|q| q.node.clone())
    }

    #[test]
    fn a_phone_number_send_from_a_migrated_account_is_refused_with_463() {
        let t = two();
        set_lid_migrated(&t.s, &t.alice, true).unwrap();
        let node = dm(
            &format!("{}@s.whatsapp.net", t.bob),
            &[format!("{}:1@s.whatsapp.net", t.bob)],
        );
        let reply = ask(&t.s, &t.alice, 1, &node);
        assert_eq!(reply.nodes[0].tag, "ack");
        assert_eq!(reply.nodes[0].get_attr("error"), Some("463"));
        assert!(last_queued(&t.s, &t.bob, 1).is_none(), "nothing delivered");
    }

    #[test]
    fn a_lid_send_from_an_unmigrated_account_is_refused_with_400() {
        let t = two();
        // Even to a migrated account: the sender's own state decides.
        set_lid_migrated(&t.s, &t.bob, true).unwrap();
        let node = dm(
            &format!("{}@lid", t.bob_lid),
            &[format!("{}:1@lid", t.bob_lid)],
        );
        let reply = ask(&t.s, &t.alice, 1, &node);
        assert_eq!(reply.nodes[0].get_attr("error"), Some("400"));
        assert!(last_queued(&t.s, &t.bob, 1).is_none());
    }

    #[test]
    fn mixed_namespaces_in_one_fanout_are_refused_with_479() {
        let t = two();
        set_lid_migrated(&t.s, &t.alice, true).unwrap();
        let node = dm(
            &format!("{}@lid", t.bob_lid),
            &[
                format!("{}:1@lid", t.bob_lid),
                format!("{}:2@s.whatsapp.net", t.alice),
            ],
        );
        let reply = ask(&t.s, &t.alice, 1, &node);
        assert_eq!(reply.nodes[0].get_attr("error"), Some("479"));
        assert!(last_queued(&t.s, &t.bob, 1).is_none());
    }

    #[test]
    fn a_lid_send_arrives_lid_addressed_with_the_phone_numbers_beside() {
        let t = two();
        set_lid_migrated(&t.s, &t.alice, true).unwrap();
        let node = dm(
            &format!("{}@lid", t.bob_lid),
            &[
                format!("{}:1@lid", t.bob_lid),
                format!("{}:2@lid", t.alice_lid),
            ],
        );
        let reply = ask(&t.s, &t.alice, 1, &node);
        assert_eq!(reply.nodes[0].get_attr("error"), None);

        let theirs = last_queued(&t.s, &t.bob, 1).unwrap();
        let alice_lid_device = format!("{}:1@lid", t.alice_lid);
        assert_eq!(theirs.get_attr("from"), Some(alice_lid_device.as_str()));
        let alice_pn = format!("{}@s.whatsapp.net", t.alice);
        assert_eq!(theirs.get_attr("sender_pn"), Some(alice_pn.as_str()));
        assert_eq!(theirs.get_attr("recipient"), None);

        let mine = last_queued(&t.s, &t.alice, 2).unwrap();
        assert_eq!(mine.get_attr("from"), Some(alice_lid_device.as_str()));
        let bob_lid = format!("{}@lid", t.bob_lid);
        assert_eq!(mine.get_attr("recipient"), Some(bob_lid.as_str()));
        let bob_pn = format!("{}@s.whatsapp.net", t.bob);
        assert_eq!(mine.get_attr("peer_recipient_pn"), Some(bob_pn.as_str()));

        // Bob's receipt goes back from his LID device.
        let receipt = Node::new("receipt")
            .attr("id", "m1")
            .attr("to", alice_lid_device.as_str());
        ask(&t.s, &t.bob, 1, &receipt);
        let back = last_queued(&t.s, &t.alice, 1).unwrap();
        assert_eq!(back.tag, "receipt");
        let bob_lid_device = format!("{}:1@lid", t.bob_lid);
        assert_eq!(back.get_attr("from"), Some(bob_lid_device.as_str()));
    }

    #[test]
    fn a_phone_number_send_carries_the_senders_lid() {
        let t = two();
        // Bob's migration does not change how Alice must address him.
        set_lid_migrated(&t.s, &t.bob, true).unwrap();
        let node = dm(
            &format!("{}@s.whatsapp.net", t.bob),
            &[
                format!("{}:1@s.whatsapp.net", t.bob),
                format!("{}:2@s.whatsapp.net", t.alice),
            ],
        );
        ask(&t.s, &t.alice, 1, &node);
        let theirs = last_queued(&t.s, &t.bob, 1).unwrap();
        let alice_device = format!("{}:1@s.whatsapp.net", t.alice);
        assert_eq!(theirs.get_attr("from"), Some(alice_device.as_str()));
        let alice_lid = format!("{}@lid", t.alice_lid);
        assert_eq!(theirs.get_attr("sender_lid"), Some(alice_lid.as_str()));
        let mine = last_queued(&t.s, &t.alice, 2).unwrap();
        let bob_lid = format!("{}@lid", t.bob_lid);
        assert_eq!(mine.get_attr("peer_recipient_lid"), Some(bob_lid.as_str()));
    }
}
