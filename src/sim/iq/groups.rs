//! `<iq xmlns="w:g2">`: what a companion asks of groups. Create
//! (`<create subject><participant jid/>..`), read one (`<query/>` to the
//! group), list its groups (`<participating/>`), add, remove, promote,
//! demote (`<add><participant jid/>..`), set the subject (`<subject>`) or
//! description (`<description id prev><body/>`), leave (`<leave><group
//! id/>`), get or reset the invite code (`<invite/>` to the group), read
//! or join by a code (`<invite code/>` to `g.us`).
//!
//! Owns: reading these requests and writing their answers (shapes of
//! wacore `iq/groups.rs`, whatsmeow `group.go`). Must not touch: the
//! rules (`groups::manage`), the `<group>` node's shape
//! (`protocol::groups`).

use super::session::Session;
use crate::sim::groups::manage::{
    change_members, create, group_info, invite_code, invite_info, join, leave, participating,
    set_description, set_subject, Actor, GroupError, MemberChange, NewGroup,
};
use crate::sim::protocol::groups::change_result;
use crate::sim::protocol::stanzas::{children_of, iq_error, iq_result, jid_attr};
use crate::sim::state::World;
use crate::types::{Jid, Server};
use crate::wire::Node;

/// Answers a `w:g2` IQ whose first child is `first`; `None` for requests
/// the simulator does not model.
pub(super) fn groups(session: &Session<'_>, iq: &Node, kind: &str, first: &str) -> Option<Node> {
    let mut world = session.state.lock();
    let actor = Actor {
        phone: session.device.user(),
        device: Some(session.device),
    };
    let group = jid_attr(iq, "to")
        .filter(|j| j.server == Server::Group && !j.user.is_empty())
        .map(|j| j.user);
    let child = iq.child(first)?;
    let answer = match (kind, first, group) {
        ("set", "create", None) => create_group(&mut world, actor, child),
        ("get", "participating", None) => {
            let groups = participating(&world, actor.phone)
                .into_iter()
                .map(|g| g.into_node())
                .collect();
            Ok(vec![Node::new("groups").children(groups)])
        }
        ("get", "query", Some(id)) => {
            group_info(&world, &id, actor.phone).map(|g| vec![g.into_node()])
        }
        ("set", "add" | "remove" | "promote" | "demote", Some(id)) => {
            change(&mut world, &id, actor, first, child)
        }
        ("set", "subject", Some(id)) => {
            let subject = String::from_utf8_lossy(child.content_bytes().unwrap_or_default());
            set_subject(&mut world, &id, actor, &subject).map(|()| vec![])
        }
        ("set", "description", Some(id)) => describe(&mut world, &id, actor, child),
        ("set", "leave", None) => {
            let ids: Vec<String> = children_of(iq, "leave", "group")
                .filter_map(|g| g.get_attr("id"))
                .map(group_id)
                .collect();
            ids.iter()
                .try_for_each(|id| leave(&mut world, id, actor))
                .map(|()| vec![])
        }
        ("get" | "set", "invite", Some(id)) => {
            invite_code(&mut world, &id, actor.phone, kind == "set")
                .map(|code| vec![Node::new("invite").attr("code", code)])
        }
        ("set", "invite", None) => {
            let code = child.get_attr("code").unwrap_or_default();
            join(&mut world, code, actor).map(|id| {
                let jid = Jid::new(id, Server::Group);
                vec![Node::new("group").attr("jid", jid.to_string())]
            })
        }
        ("get", "invite", None) => {
            let code = child.get_attr("code").unwrap_or_default();
            invite_info(&world, code).map(|g| vec![g.into_node()])
        }
        _ => return None,
    };
    Some(match answer {
        Ok(children) => iq_result(iq, children),
        Err(why) => {
            tracing::debug!(device = %session.device, %why, "group request refused");
            iq_error(iq, why.code(), why.text())
        }
    })
}

/// `<create subject><participant jid [phone_number]/>..[<description
/// id><body/></description>]`.
fn create_group(
    world: &mut World,
    actor: Actor<'_>,
    create_node: &Node,
) -> Result<Vec<Node>, GroupError> {
    let subject = create_node.get_attr("subject").unwrap_or_default();
    let members: Vec<String> = create_node
        .child_nodes()
        .iter()
        .filter(|n| n.tag == "participant")
        .filter_map(|p| phone_of(world, p))
        .collect();
    let description = create_node
        .child("description")
        .and_then(|d| d.child("body"))
        .and_then(Node::content_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let new = NewGroup {
        subject,
        members: &members,
        addressing: None,
        description: description.as_deref(),
    };
    let id = create(world, actor, new)?;
    Ok(vec![group_info(world, &id, actor.phone)?.into_node()])
}

/// `<add|remove|promote|demote><participant jid/>..` answered with each
/// participant's outcome under the same tag.
fn change(
    world: &mut World,
    id: &str,
    actor: Actor<'_>,
    tag: &str,
    node: &Node,
) -> Result<Vec<Node>, GroupError> {
    let what = match tag {
        "add" => MemberChange::Add,
        "remove" => MemberChange::Remove,
        "promote" => MemberChange::Promote,
        _ => MemberChange::Demote,
    };
    let asked: Vec<&Node> = node
        .child_nodes()
        .iter()
        .filter(|n| n.tag == "participant")
        .collect();
    let phones: Vec<Option<String>> = asked.iter().map(|p| phone_of(world, p)).collect();
    let results = change_members(world, id, actor, what, &phones)?;
    let answers = asked
        .iter()
        .zip(results)
        .map(|(p, error)| change_result(p.get_attr("jid").unwrap_or_default(), error, None))
        .collect();
    Ok(vec![Node::new(what.tag()).children(answers)])
}

/// `<description id [prev]><body/></description>` or `.. delete="true">`.
fn describe(
    world: &mut World,
    id: &str,
    actor: Actor<'_>,
    node: &Node,
) -> Result<Vec<Node>, GroupError> {
    let new_id = node.get_attr("id").unwrap_or_default();
    let prev = node.get_attr("prev");
    let body = if node.get_attr("delete") == Some("true") {
        None
    } else {
        let bytes = node
            .child("body")
            .and_then(Node::content_bytes)
            .ok_or(GroupError::BadRequest("description without body"))?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    };
    set_description(world, id, actor, new_id, prev, body.as_deref()).map(|()| vec![])
}

/// The account a `<participant jid>` names (by phone number or LID).
fn phone_of(world: &World, participant: &Node) -> Option<String> {
    let jid = jid_attr(participant, "jid")?;
    Some(world.resolve(&jid)?.user().to_owned())
}

/// A group id as written: `ID` or `ID@g.us`.
fn group_id(text: &str) -> String {
    text.split('@').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use crate::sim::accounts::create_phone;
    use crate::sim::fixtures::{ask, link_directly, linked, registration};
    use crate::sim::state::SimState;
    use crate::types::DeviceAddress;
    use crate::wire::Node;

    fn g2(kind: &str, to: &str, child: Node) -> Node {
        Node::new("iq")
            .attr("id", "g1")
            .attr("to", to)
            .attr("xmlns", "w:g2")
            .attr("type", kind)
            .children(vec![child])
    }

    fn participants(tag: &str, jids: &[String]) -> Node {
        Node::new(tag).children(
            jids.iter()
                .map(|j| Node::new("participant").attr("jid", j.as_str()))
                .collect(),
        )
    }

    fn error_code(reply: &Node) -> Option<&str> {
        reply.child("error").and_then(|e| e.get_attr("code"))
    }

    fn queued(s: &SimState, phone: &str, id: u16) -> Vec<Node> {
        let address = DeviceAddress::pn(phone, id).unwrap();
        let world = s.lock();
        let device = world.device(&address).unwrap();
        device.queue.iter().map(|q| q.node.clone()).collect()
    }

    #[test]
    fn a_companion_creates_and_manages_a_group() {
        let (s, alice, a1) = linked();
        let bob = create_phone(&s, None).unwrap();
        let b1 = link_directly(&s, &bob, registration([5; 32])).unwrap();
        let carol = create_phone(&s, None).unwrap();
        let c1 = link_directly(&s, &carol, registration([6; 32])).unwrap();
        let pn = |p: &str| format!("{p}@s.whatsapp.net");

        let create = participants("create", &[pn(&bob)]).attr("subject", "Team");
        let reply = &ask(&s, &alice, a1, &g2("set", "g.us", create)).nodes[0];
        let group = reply.child("group").unwrap();
        let id = format!("{}@g.us", group.get_attr("id").unwrap());
        assert!(id.starts_with("120363"));
        assert_eq!(group.get_attr("subject"), Some("Team"));
        assert_eq!(group.get_attr("creator"), Some(pn(&alice).as_str()));
        let members: Vec<_> = group
            .child_nodes()
            .iter()
            .filter(|n| n.tag == "participant")
            .map(|n| (n.get_attr("jid").unwrap().to_owned(), n.get_attr("type")))
            .collect();
        assert_eq!(
            members,
            vec![(pn(&alice), Some("superadmin")), (pn(&bob), None)]
        );
        // Bob's companion is told it was added; Carol's is not.
        let told = queued(&s, &bob, b1);
        assert_eq!(told.last().unwrap().get_attr("type"), Some("w:gp2"));
        assert!(told.last().unwrap().child("create").is_some());
        assert!(queued(&s, &carol, c1).is_empty());

        // Members read it, others are refused, unknown groups are 404.
        let query = || Node::new("query").attr("request", "interactive");
        assert!(ask(&s, &bob, b1, &g2("get", &id, query())).nodes[0]
            .child("group")
            .is_some());
        let refused = &ask(&s, &carol, c1, &g2("get", &id, query())).nodes[0];
        assert_eq!(error_code(refused), Some("403"));
        let unknown = &ask(&s, &bob, b1, &g2("get", "120363999999999999@g.us", query())).nodes[0];
        assert_eq!(error_code(unknown), Some("404"));

        // Only admins promote; per-participant outcomes.
        let promote = participants("promote", &[pn(&bob)]);
        let not_admin = &ask(&s, &bob, b1, &g2("set", &id, promote.clone())).nodes[0];
        assert_eq!(error_code(not_admin), Some("401"));
        let done = &ask(&s, &alice, a1, &g2("set", &id, promote)).nodes[0];
        let p = done
            .child("promote")
            .and_then(|n| n.child("participant"))
            .unwrap();
        assert_eq!(p.get_attr("error"), None);
        let add = participants("add", &[pn(&bob), pn("999999999")]);
        let added = &ask(&s, &bob, b1, &g2("set", &id, add)).nodes[0];
        let codes: Vec<_> = added
            .child("add")
            .unwrap()
            .child_nodes()
            .iter()
            .map(|n| n.get_attr("error"))
            .collect();
        assert_eq!(codes, [Some("409"), Some("404")]);

        // The description needs the current id to change.
        let describe = |id: &str, prev: Option<&str>| {
            let node = Node::new("description")
                .attr("id", id)
                .children(vec![Node::new("body").bytes(b"About".to_vec())]);
            match prev {
                Some(p) => node.attr("prev", p),
                None => node,
            }
        };
        let first = &ask(&s, &bob, b1, &g2("set", &id, describe("AAAA0001", None))).nodes[0];
        assert_eq!(first.get_attr("type"), Some("result"));
        let stale = &ask(&s, &bob, b1, &g2("set", &id, describe("AAAA0002", None))).nodes[0];
        assert_eq!(error_code(stale), Some("409"));
        let next = &ask(
            &s,
            &bob,
            b1,
            &g2("set", &id, describe("AAAA0002", Some("AAAA0001"))),
        )
        .nodes[0];
        assert_eq!(next.get_attr("type"), Some("result"));
        let subject = Node::new("subject").bytes(b"Renamed".to_vec());
        ask(&s, &bob, b1, &g2("set", &id, subject));
        let change = queued(&s, &alice, a1).pop().unwrap();
        assert_eq!(
            change.child("subject").and_then(|n| n.get_attr("subject")),
            Some("Renamed")
        );
        assert_eq!(change.get_attr("participant"), Some(pn(&bob).as_str()));

        // Invites: an admin reads the code, Carol joins by it; after a
        // reset the old code is gone.
        let code = ask(&s, &bob, b1, &g2("get", &id, Node::new("invite"))).nodes[0]
            .child("invite")
            .and_then(|i| i.get_attr("code"))
            .unwrap()
            .to_owned();
        let by_code = || Node::new("invite").attr("code", code.as_str());
        let info = &ask(&s, &carol, c1, &g2("get", "g.us", by_code())).nodes[0];
        assert_eq!(
            info.child("group").and_then(|g| g.get_attr("subject")),
            Some("Renamed")
        );
        let joined = &ask(&s, &carol, c1, &g2("set", "g.us", by_code())).nodes[0];
        assert_eq!(
            joined.child("group").and_then(|g| g.get_attr("jid")),
            Some(id.as_str())
        );
        let again = &ask(&s, &carol, c1, &g2("set", "g.us", by_code())).nodes[0];
        assert_eq!(error_code(again), Some("304"));
        ask(&s, &alice, a1, &g2("set", &id, Node::new("invite")));
        let gone = &ask(&s, &carol, c1, &g2("get", "g.us", by_code())).nodes[0];
        assert_eq!(error_code(gone), Some("410"));

        // Carol leaves; Bob's groups still list it.
        let leave = Node::new("leave").children(vec![Node::new("group").attr("id", id.as_str())]);
        ask(&s, &carol, c1, &g2("set", "g.us", leave));
        let info = s.group(&id).unwrap();
        assert_eq!(info.participants.len(), 2);
        let listed = &ask(&s, &bob, b1, &g2("get", "g.us", Node::new("participating"))).nodes[0];
        assert_eq!(
            listed.child("groups").map(|g| g.child_nodes().len()),
            Some(1)
        );
    }

    #[test]
    fn a_lid_group_names_its_members_by_lid() {
        let (s, alice, a1) = linked();
        crate::sim::accounts::set_lid_migrated(&s, &alice, true).unwrap();
        let bob = create_phone(&s, None).unwrap();
        let bob_lid = s.lock().phones[&bob].lid_user.clone();
        let create = participants("create", &[format!("{bob_lid}@lid")]).attr("subject", "L");
        let reply = &ask(&s, &alice, a1, &g2("set", "g.us", create)).nodes[0];
        let group = reply.child("group").unwrap();
        assert_eq!(group.get_attr("addressing_mode"), Some("lid"));
        let bob_node = &group.child_nodes()[1];
        assert_eq!(
            bob_node.get_attr("jid"),
            Some(format!("{bob_lid}@lid").as_str())
        );
        assert_eq!(
            bob_node.get_attr("phone_number"),
            Some(format!("{bob}@s.whatsapp.net").as_str())
        );
    }
}
