//! Routing a group `<message to="ID@g.us">` a companion sent: one `skmsg`
//! `<enc>` for everyone and, in `<participants>`, a pairwise copy (the
//! sender-key distribution) for each device that lacks the sender's key.
//! Every member device but the sender gets the `skmsg`, after its own
//! pairwise copy when there is one, `from` the group with the sender as
//! `participant` in the group's namespace.
//!
//! Owns: the server's ack and refusals of group messages, the fan-out to
//! members' devices. Must not touch: decryption (phones do it in
//! `phone::group_inbox`), the copy's shape (`phone::outgoing`).
//!
//! A message naming one member device (`participant`) goes to it alone:
//! the answer to that device's retry receipt.
//!
//! Refusals: `404` for an unknown group, `403` for a sender that is not
//! a member (the codes the `w:g2` queries use for the same cases,
//! whatsmeow `errors.go`), `479` when the `<to>` devices are not in the
//! group's namespace (as for 1:1 messages), `400` without an `skmsg`.
//! The simulator does not answer with a participant hash (`phash`); the
//! references send one only when it differs from the sender's.

use std::collections::HashMap;

use crate::sim::phone::deliver::deliver_copy;
use crate::sim::phone::outgoing::Outgoing;
use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::messages::message_ack;
use crate::sim::protocol::stanzas::jid_attr;
use crate::sim::state::{Group, Sent, SimState, World};
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// Routes group message `node` to group `group_jid` from companion
/// `sender` (by phone number). Returns the ack, then any receipts member
/// phones sent at once.
pub(crate) fn route_group(
    state: &SimState,
    sender: &DeviceAddress,
    group_jid: &Jid,
    node: &Node,
) -> Vec<Node> {
    let mut world = state.lock();
    let ack = message_ack(node, world.now());
    let Some(group) = world.groups.get(&group_jid.user).cloned() else {
        return vec![ack.attr("error", "404")];
    };
    if !group.is_member(sender.user()) {
        return vec![ack.attr("error", "403")];
    }
    if let Some(device) = jid_attr(node, "participant") {
        return route_to_member(&mut world, sender, &group, &device, node, ack);
    }
    let skmsg = node
        .child_nodes()
        .iter()
        .find(|n| n.tag == "enc" && n.get_attr("type") == Some("skmsg"));
    let Some(skmsg) = skmsg.cloned() else {
        return vec![ack.attr("error", "400")];
    };
    let mut pairwise: HashMap<DeviceAddress, Node> = HashMap::new();
    let copies = node
        .child("participants")
        .map(|p| p.child_nodes().iter().filter(|n| n.tag == "to"))
        .into_iter()
        .flatten();
    for copy in copies {
        let Some(jid) = jid_attr(copy, "jid") else {
            continue;
        };
        if Addressing::of(&jid) != Some(group.addressing) {
            return vec![ack.attr("error", "479")];
        }
        if let (Some(target), Some(enc)) = (world.resolve(&jid), copy.child("enc")) {
            pairwise.insert(target, enc.clone());
        }
    }
    let chat = group.jid();
    let message = remembered(&mut world, sender, &chat, group.addressing, node);
    let targets: Vec<DeviceAddress> = group
        .phones()
        .flat_map(|p| world.devices_of(p))
        .filter(|d| d != sender)
        .collect();
    let mut back = vec![ack];
    for target in targets {
        let mut encs: Vec<Node> = pairwise.remove(&target).into_iter().collect();
        encs.push(skmsg.clone());
        back.extend(deliver_copy(&mut world, &message, &target, encs));
    }
    back
}

/// A group message for one member device alone (`participant`): the
/// answer to its retry receipt, one pairwise `<enc>` carrying the text
/// and the sender's key (whatsmeow `retry.go`). Refused like a fan-out:
/// `403` for a device of no member, `479` in the wrong namespace, `400`
/// without the `<enc>`.
fn route_to_member(
    world: &mut World,
    sender: &DeviceAddress,
    group: &Group,
    device: &Jid,
    node: &Node,
    ack: Node,
) -> Vec<Node> {
    if Addressing::of(device) != Some(group.addressing) {
        return vec![ack.attr("error", "479")];
    }
    let Some(target) = world.resolve(device).filter(|d| group.is_member(d.user())) else {
        return vec![ack.attr("error", "403")];
    };
    let enc = node
        .child_nodes()
        .iter()
        .find(|n| n.tag == "enc" && n.get_attr("type") != Some("skmsg"));
    let Some(enc) = enc.cloned() else {
        return vec![ack.attr("error", "400")];
    };
    let chat = group.jid();
    let message = remembered(world, sender, &chat, group.addressing, node);
    let mut back = vec![ack];
    back.extend(deliver_copy(world, &message, &target, vec![enc]));
    back
}

/// Group message `node` from `sender` as its copies carry it, now; the
/// server remembers who sent it, so receipts find their way back.
fn remembered<'a>(
    world: &mut World,
    sender: &'a DeviceAddress,
    chat: &'a Jid,
    addressing: Addressing,
    node: &'a Node,
) -> Outgoing<'a> {
    let id = node.get_attr("id").unwrap_or_default();
    let sent = Sent {
        sender: sender.clone(),
        addressing,
        group: Some(chat.clone()),
    };
    world.senders.remember(id, sent);
    Outgoing {
        sender,
        chat,
        addressing,
        id,
        timestamp: world.now(),
        device_identity: node.child("device-identity"),
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::accounts::create_phone;
    use crate::sim::fixtures::{ask, link_directly, linked, registration};
    use crate::types::DeviceAddress;
    use crate::wire::Node;

    fn enc(kind: &str) -> Node {
        Node::new("enc")
            .attr("v", "2")
            .attr("type", kind)
            .bytes(vec![1, 2, 3])
    }

    fn group_message(to: &str, copies: &[String]) -> Node {
        let copies = copies
            .iter()
            .map(|j| {
                Node::new("to")
                    .attr("jid", j.as_str())
                    .children(vec![enc("pkmsg")])
            })
            .collect();
        Node::new("message")
            .attr("id", "gm1")
            .attr("to", to)
            .attr("type", "text")
            .children(vec![
                Node::new("participants").children(copies),
                enc("skmsg"),
            ])
    }

    #[test]
    fn the_skmsg_reaches_every_member_device_after_its_own_copy() {
        let (s, alice, a1) = linked();
        let bob = create_phone(&s, None).unwrap();
        let b1 = link_directly(&s, &bob, registration([5; 32])).unwrap();
        let b2 = link_directly(&s, &bob, registration([6; 32])).unwrap();
        let carol = create_phone(&s, None).unwrap();
        let c1 = link_directly(&s, &carol, registration([7; 32])).unwrap();
        let group = s
            .create_group(&alice, "G", std::slice::from_ref(&bob), None)
            .unwrap();

        let to_b1 = format!("{bob}:{b1}@s.whatsapp.net");
        let reply = ask(&s, &alice, a1, &group_message(&group.id, &[to_b1]));
        assert_eq!(reply.nodes[0].get_attr("error"), None);
        let last = |phone: &str, id: u16| {
            let address = DeviceAddress::pn(phone, id).unwrap();
            let world = s.lock();
            world
                .device(&address)
                .unwrap()
                .queue
                .back()
                .map(|q| q.node.clone())
        };
        let types = |n: &Node| -> Vec<String> {
            n.child_nodes()
                .iter()
                .filter_map(|e| e.get_attr("type").map(str::to_owned))
                .collect()
        };
        let copy = last(&bob, b1).unwrap();
        assert_eq!(copy.get_attr("from"), Some(group.id.as_str()));
        let sender = format!("{alice}:{a1}@s.whatsapp.net");
        assert_eq!(copy.get_attr("participant"), Some(sender.as_str()));
        assert_eq!(copy.get_attr("addressing_mode"), Some("pn"));
        let alice_lid = format!("{}@lid", s.lock().phones[&alice].lid_user);
        assert_eq!(copy.get_attr("participant_lid"), Some(alice_lid.as_str()));
        assert_eq!(types(&copy), ["pkmsg", "skmsg"]);
        // Bob's other device had no pairwise copy: the skmsg alone.
        assert_eq!(types(&last(&bob, b2).unwrap()), ["skmsg"]);

        // Not a member, an unknown group, the wrong namespace.
        let refused = ask(&s, &carol, c1, &group_message(&group.id, &[]));
        assert_eq!(refused.nodes[0].get_attr("error"), Some("403"));
        let unknown = ask(
            &s,
            &alice,
            a1,
            &group_message("120363999999999999@g.us", &[]),
        );
        assert_eq!(unknown.nodes[0].get_attr("error"), Some("404"));
        let bob_lid = s.lock().phones[&bob].lid_user.clone();
        let mixed = group_message(&group.id, &[format!("{bob_lid}:{b1}@lid")]);
        assert_eq!(
            ask(&s, &alice, a1, &mixed).nodes[0].get_attr("error"),
            Some("479")
        );
    }

    #[test]
    fn a_resend_reaches_the_member_it_names_alone() {
        let (s, alice, a1) = linked();
        let bob = create_phone(&s, None).unwrap();
        let b1 = link_directly(&s, &bob, registration([5; 32])).unwrap();
        let carol = create_phone(&s, None).unwrap();
        let c1 = link_directly(&s, &carol, registration([7; 32])).unwrap();
        let group = s
            .create_group(&alice, "G", std::slice::from_ref(&bob), None)
            .unwrap();
        let queued = |phone: &str, id: u16| {
            let address = DeviceAddress::pn(phone, id).unwrap();
            s.lock().device(&address).unwrap().queue.len()
        };
        let before = queued(&bob, b1);
        let resend = |to: &str, encs: Vec<Node>| {
            Node::new("message")
                .attr("id", "gm2")
                .attr("to", group.id.as_str())
                .attr("participant", to)
                .attr("type", "text")
                .children(encs)
        };

        let to_b1 = format!("{bob}:{b1}@s.whatsapp.net");
        let reply = ask(&s, &alice, a1, &resend(&to_b1, vec![enc("pkmsg")]));
        assert_eq!(reply.nodes[0].get_attr("error"), None);
        assert_eq!(queued(&bob, b1), before + 1);
        let copy = s
            .lock()
            .device(&DeviceAddress::pn(&bob, b1).unwrap())
            .unwrap()
            .queue
            .back()
            .map(|q| q.node.clone())
            .unwrap();
        assert_eq!(copy.get_attr("from"), Some(group.id.as_str()));
        assert_eq!(
            copy.child("enc").and_then(|e| e.get_attr("type")),
            Some("pkmsg")
        );

        // Not to a device of no member, not without its copy.
        let to_c1 = format!("{carol}:{c1}@s.whatsapp.net");
        let refused = ask(&s, &alice, a1, &resend(&to_c1, vec![enc("pkmsg")]));
        assert_eq!(refused.nodes[0].get_attr("error"), Some("403"));
        let bare = ask(&s, &alice, a1, &resend(&to_b1, vec![enc("skmsg")]));
        assert_eq!(bare.nodes[0].get_attr("error"), Some("400"));
        assert_eq!(queued(&bob, b1), before + 1);
    }
}
