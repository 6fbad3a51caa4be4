//! The group iqs' shapes and answers, notifications read into events,
//! and the commands driven through the protocol with plain nodes.

use tokio::sync::oneshot;

use super::commands::{ask, describe, invite_code_of};
use super::*;
use crate::client::core::IqSpec;
use crate::client::testing::*;
use crate::client::{ClientError, Event};
use crate::store::AuthStore;
use crate::types::Server;

fn group() -> Jid {
    Jid::new("120363000000000001", Server::Group)
}

fn error_answer(code: &str, text: &str) -> Node {
    Node::new("iq")
        .attr("type", "error")
        .children(vec![Node::new("error")
            .attr("code", code)
            .attr("text", text)])
}

fn result_with(children: Vec<Node>) -> Node {
    Node::new("iq").attr("type", "result").children(children)
}

fn tags(node: &Node) -> Vec<&str> {
    node.child_nodes().iter().map(|n| n.tag.as_str()).collect()
}

/// A `<group>` as the server describes one (wacore `GroupInfoResponse`).
fn group_node() -> Node {
    Node::new("group")
        .attr("id", "120363000000000001")
        .attr("subject", "Team")
        .attr("s_o", "15551234567@s.whatsapp.net")
        .attr("s_t", "1700000001")
        .attr("creation", "1700000000")
        .attr("creator", "15551234567@s.whatsapp.net")
        .attr("addressing_mode", "lid")
        .children(vec![
            Node::new("description")
                .attr("id", "ABCD0123")
                .children(vec![Node::new("body").bytes(b"about us".to_vec())]),
            Node::new("participant")
                .attr("jid", "100000000000001@lid")
                .attr("phone_number", "15551234567@s.whatsapp.net")
                .attr("type", "superadmin"),
            Node::new("participant")
                .attr("jid", "100000000000002@lid")
                .attr("type", "admin"),
            Node::new("participant").attr("jid", "100000000000003@lid"),
            Node::new("announcement"),
        ])
}

#[test]
fn group_info_is_read_whole() {
    let info = GroupInfo::from_node(&group_node()).unwrap();
    assert_eq!(info.jid.to_string(), "120363000000000001@g.us");
    assert_eq!(info.subject, "Team");
    assert_eq!(info.subject_time, Some(1700000001));
    assert_eq!(info.creation, Some(1700000000));
    assert_eq!(info.creator, Some(Jid::pn("15551234567")));
    assert_eq!(info.description.as_deref(), Some("about us"));
    assert_eq!(info.description_id.as_deref(), Some("ABCD0123"));
    assert_eq!(info.addressing_mode, AddressingMode::Lid);
    assert!(info.announce && !info.locked);
    let roles: Vec<ParticipantRole> = info.participants.iter().map(|p| p.role).collect();
    assert_eq!(
        roles,
        [
            ParticipantRole::Superadmin,
            ParticipantRole::Admin,
            ParticipantRole::Member
        ]
    );
    assert_eq!(
        info.participants[0].phone_number,
        Some(Jid::pn("15551234567"))
    );
    // No id, no group; a missing addressing mode is by phone number.
    assert!(GroupInfo::from_node(&Node::new("group")).is_none());
    let plain = GroupInfo::from_node(&Node::new("group").attr("id", "1-2")).unwrap();
    assert_eq!(plain.addressing_mode, AddressingMode::Pn);
}

#[test]
fn create_and_query_have_the_references_shapes() {
    let create = CreateGroup {
        subject: "Team".into(),
        participants: vec![Jid::pn("15550001111"), Jid::lid("100000000000002")],
    };
    let iq = create.request("c1");
    assert_eq!(iq.get_attr("xmlns"), Some("w:g2"));
    assert_eq!(iq.get_attr("type"), Some("set"));
    assert_eq!(iq.get_attr("to"), Some("g.us"));
    let node = iq.child("create").unwrap();
    assert_eq!(node.get_attr("subject"), Some("Team"));
    let jids: Vec<&str> = node
        .child_nodes()
        .iter()
        .filter_map(|p| p.get_attr("jid"))
        .collect();
    assert_eq!(jids, ["15550001111@s.whatsapp.net", "100000000000002@lid"]);
    let created = create.parse(&result_with(vec![group_node()])).unwrap();
    assert_eq!(created.jid, group());
    assert!(matches!(
        create.parse(&result_with(vec![])),
        Err(ClientError::Server { .. })
    ));

    let query = GroupInfoQuery { group: group() };
    let iq = query.request("q1");
    assert_eq!(iq.get_attr("to"), Some("120363000000000001@g.us"));
    assert_eq!(iq.get_attr("type"), Some("get"));
    assert_eq!(
        iq.child("query").unwrap().get_attr("request"),
        Some("interactive")
    );
    assert_eq!(
        query
            .parse(&result_with(vec![group_node()]))
            .unwrap()
            .subject,
        "Team"
    );
    assert!(matches!(
        query.parse(&error_answer("404", "item-not-found")),
        Err(ClientError::GroupNotFound(_))
    ));
    assert!(matches!(
        query.parse(&error_answer("500", "internal-server-error")),
        Err(ClientError::Server { .. })
    ));
}

#[test]
fn participating_lists_every_group() {
    let iq = ParticipatingGroups.request("p1");
    assert_eq!(iq.get_attr("to"), Some("g.us"));
    assert_eq!(iq.get_attr("type"), Some("get"));
    assert_eq!(
        tags(iq.child("participating").unwrap()),
        ["participants", "description"]
    );
    let other = Node::new("group").attr("id", "15550001111-1600000000");
    let answer = result_with(vec![Node::new("groups").children(vec![
        group_node(),
        other,
        Node::new("group"),
    ])]);
    let groups = ParticipatingGroups.parse(&answer).unwrap();
    assert_eq!(groups.len(), 2, "the group without id is skipped");
    assert_eq!(groups[1].jid.to_string(), "15550001111-1600000000@g.us");
    assert!(ParticipatingGroups
        .parse(&result_with(vec![]))
        .unwrap()
        .is_empty());
}

#[test]
fn participant_changes_report_each_participant() {
    for action in [
        ParticipantAction::Add,
        ParticipantAction::Remove,
        ParticipantAction::Promote,
        ParticipantAction::Demote,
    ] {
        let spec = ChangeParticipants {
            group: group(),
            action,
            participants: vec![Jid::pn("15550001111"), Jid::pn("15550002222")],
        };
        let iq = spec.request("a1");
        assert_eq!(iq.get_attr("to"), Some("120363000000000001@g.us"));
        assert_eq!(iq.get_attr("type"), Some("set"));
        assert_eq!(tags(&iq), [action.tag()]);
        assert_eq!(iq.child(action.tag()).unwrap().child_nodes().len(), 2);
        let answer = result_with(vec![Node::new(action.tag()).children(vec![
            Node::new("participant").attr("jid", "15550001111@s.whatsapp.net"),
            Node::new("participant")
                .attr("jid", "15550002222@s.whatsapp.net")
                .attr("error", "403"),
        ])]);
        let results = spec.parse(&answer).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].error, None);
        assert_eq!(results[1].error.as_deref(), Some("403"));
        // 403 is the server's "not a member" (whatsmeow ErrNotInGroup).
        assert!(matches!(
            spec.parse(&error_answer("403", "forbidden")),
            Err(ClientError::GroupNotFound(_))
        ));
        assert!(matches!(
            spec.parse(&error_answer("401", "not-authorized")),
            Err(ClientError::NotGroupAdmin(_))
        ));
    }
}

#[test]
fn subject_description_and_leave_have_the_references_shapes() {
    let iq = SetSubject {
        group: group(),
        subject: "New name".into(),
    }
    .request("s1");
    assert_eq!(iq.get_attr("to"), Some("120363000000000001@g.us"));
    assert_eq!(
        iq.child("subject").unwrap().content_bytes(),
        Some(&b"New name"[..])
    );

    let set = SetDescription::new(group(), Some("hello".into()), Some("OLD00001".into()));
    let iq = set.request("d1");
    let d = iq.child("description").unwrap();
    assert_eq!(d.get_attr("id").map(str::len), Some(8));
    assert_eq!(d.get_attr("prev"), Some("OLD00001"));
    assert_eq!(
        d.child("body").unwrap().content_bytes(),
        Some(&b"hello"[..])
    );
    let clear = SetDescription::new(group(), None, None).request("d2");
    let d = clear.child("description").unwrap();
    assert_eq!(d.get_attr("delete"), Some("true"));
    assert_eq!(d.get_attr("prev"), None);
    assert!(d.child_nodes().is_empty());

    let leave = LeaveGroup { group: group() };
    let iq = leave.request("l1");
    assert_eq!(iq.get_attr("to"), Some("g.us"));
    assert_eq!(
        iq.child("leave")
            .unwrap()
            .child("group")
            .unwrap()
            .get_attr("id"),
        Some("120363000000000001@g.us")
    );
    assert!(leave.parse(&result_with(vec![])).is_ok());
    assert!(matches!(
        leave.parse(&error_answer("404", "item-not-found")),
        Err(ClientError::GroupNotFound(_))
    ));
}

#[test]
fn invite_codes_are_read_revoked_and_joined() {
    for (reset, kind) in [(false, "get"), (true, "set")] {
        let spec = InviteCode {
            group: group(),
            reset,
        };
        let iq = spec.request("i1");
        assert_eq!(iq.get_attr("type"), Some(kind));
        assert_eq!(tags(&iq), ["invite"]);
        let answer = result_with(vec![Node::new("invite").attr("code", "AbC123")]);
        assert_eq!(spec.parse(&answer).unwrap(), "AbC123");
        assert!(spec.parse(&result_with(vec![])).is_err());
    }

    let join = JoinByInvite {
        code: "AbC123".into(),
    };
    let iq = join.request("j1");
    assert_eq!(iq.get_attr("to"), Some("g.us"));
    assert_eq!(iq.get_attr("type"), Some("set"));
    assert_eq!(iq.child("invite").unwrap().get_attr("code"), Some("AbC123"));
    let joined = join
        .parse(&result_with(vec![
            Node::new("group").attr("jid", "120363000000000001@g.us")
        ]))
        .unwrap();
    assert_eq!(joined.jid, group());
    assert!(!joined.pending_approval);
    let pending = join
        .parse(&result_with(vec![
            Node::new("membership_approval_request").attr("jid", "120363000000000001@g.us")
        ]))
        .unwrap();
    assert!(pending.pending_approval);
    assert!(matches!(
        join.parse(&error_answer("406", "not-acceptable")),
        Err(ClientError::GroupNotFound(_))
    ));

    assert_eq!(
        invite_code_of("https://chat.whatsapp.com/AbC123").unwrap(),
        "AbC123"
    );
    assert_eq!(invite_code_of(" AbC123 ").unwrap(), "AbC123");
    assert!(invite_code_of("../x").is_err());
    assert!(invite_code_of("").is_err());
}

#[test]
fn group_and_participant_identifiers_are_checked() {
    assert_eq!(group_of("120363000000000001@g.us"), Some(group()));
    assert_eq!(group_of("120363000000000001"), Some(group()));
    assert!(group_of("15550001111-1600000000@g.us").is_some());
    for bad in [
        "",
        "abc@g.us",
        "1@s.whatsapp.net",
        "1--2",
        "-1",
        "1-2-3",
        "../1",
    ] {
        assert_eq!(group_of(bad), None, "{bad:?} accepted");
    }
    assert_eq!(
        participant_of("+1 555 000 1111"),
        Some(Jid::pn("15550001111"))
    );
    assert_eq!(
        participant_of("100000000000002@lid"),
        Some(Jid::lid("100000000000002"))
    );
    assert_eq!(participant_of("1555:3@s.whatsapp.net"), None);
    assert_eq!(participant_of("x"), None);
}

fn notification(children: Vec<Node>) -> Node {
    Node::new("notification")
        .attr("type", "w:gp2")
        .attr("id", "n1")
        .attr("from", "120363000000000001@g.us")
        .attr("participant", "15551234567:2@s.whatsapp.net")
        .attr("t", "1700000005")
        .children(children)
}

fn durable(actions: &[crate::client::core::Action]) -> Vec<&Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            crate::client::core::Action::EmitDurable(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn notifications_become_events_and_are_acked() {
    let node = notification(vec![
        Node::new("subject").attr("subject", "Renamed"),
        Node::new("description")
            .attr("id", "X")
            .children(vec![Node::new("body").bytes(b"new text".to_vec())]),
        Node::new("description")
            .attr("id", "Y")
            .children(vec![Node::new("delete")]),
        Node::new("promote").children(vec![
            Node::new("participant").attr("jid", "15550001111@s.whatsapp.net")
        ]),
        Node::new("announcement"),
        Node::new("ephemeral").attr("expiration", "86400"),
        Node::new("something_new"),
    ]);
    let (mut p, now, _) = connected();
    let out = p.on_node(&node, now);
    let events = durable(&out);
    assert_eq!(events.len(), 6, "{events:?}");
    let by = Some(Jid::pn("15551234567"));
    assert_eq!(
        events[0],
        &Event::GroupSubject {
            group: group(),
            subject: "Renamed".into(),
            by: by.clone(),
            timestamp: 1700000005
        }
    );
    assert!(
        matches!(events[1], Event::GroupDescription { description: Some(d), .. } if d == "new text")
    );
    assert!(matches!(
        events[2],
        Event::GroupDescription {
            description: None,
            ..
        }
    ));
    match events[3] {
        Event::GroupParticipants {
            action,
            participants,
            by: who,
            ..
        } => {
            assert_eq!(*action, ParticipantAction::Promote);
            assert_eq!(participants[0].jid, Jid::pn("15550001111"));
            assert_eq!(who, &by);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(events[4], Event::GroupSetting { setting, .. } if setting == "announcement"));
    assert!(matches!(events[5], Event::GroupSetting { value: Some(v), .. } if v == "86400"));
    // Reported before the ack, which lets the server forget it.
    let acks = sent(&out);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].get_attr("class"), Some("notification"));
    assert_eq!(acks[0].get_attr("type"), Some("w:gp2"));
    assert!(matches!(
        out.last(),
        Some(crate::client::core::Action::Send(_))
    ));
    // A serialized event names its type.
    let json = serde_json::to_value(events[0]).unwrap();
    assert_eq!(json["type"], "group_subject");
    assert_eq!(json["group"], "120363000000000001@g.us");
}

#[test]
fn membership_changes_reset_who_holds_our_sender_key() {
    let (_tmp, store) = temp_store();
    let g = "120363000000000001";
    let member = DeviceAddress::pn("15550001111", 0).unwrap();
    let own = DeviceAddress::parse(JID).unwrap();
    let (mut p, now, _) = connected();

    // Someone added: the devices are forgotten, our key stays.
    store
        .add_sender_key_devices(g, std::slice::from_ref(&member))
        .unwrap();
    store.save_sender_key(g, &own, b"ours").unwrap();
    let added = notification(vec![Node::new("add")
        .children(vec![
            Node::new("participant").attr("jid", "15550003333@s.whatsapp.net")
        ])]);
    let first = p.on_node(&added, now);
    assert!(sent(&first).is_empty(), "acked before the store was reset");
    let out = run_blocking_on(&mut p, &store, first);
    assert!(store.sender_key_devices(g).unwrap().is_empty());
    assert!(store.sender_key(g, &own).unwrap().is_some());
    assert_eq!(durable(&out).len(), 1);
    assert_eq!(sent(&out).len(), 1);

    // Someone removed: our own sender key goes too.
    store.add_sender_key_devices(g, &[member]).unwrap();
    let removed = notification(vec![Node::new("remove")
        .children(vec![
            Node::new("participant").attr("jid", "15550003333@s.whatsapp.net")
        ])]);
    let first = p.on_node(&removed, now);
    run_blocking_on(&mut p, &store, first);
    assert!(store.sender_key_devices(g).unwrap().is_empty());
    assert!(store.sender_key(g, &own).unwrap().is_none());
}

#[test]
fn commands_send_their_iq_and_answer_the_caller() {
    let (mut p, now, _) = connected();
    let (reply, mut rx) = oneshot::channel();
    let out = p.on_command(ask(GroupInfoQuery { group: group() }, reply), now);
    let iq = sent(&out)[0].clone();
    let answer = result_for(&iq).children(vec![group_node()]);
    p.on_node(&answer, now);
    assert_eq!(rx.try_recv().unwrap().unwrap().subject, "Team");

    // A description change asks for the current one first, to name it.
    let (reply, mut rx) = oneshot::channel();
    let out = p.on_command(describe(group(), Some("new".into()), reply), now);
    let query = sent(&out)[0].clone();
    assert!(query.child("query").is_some());
    let out = p.on_node(&result_for(&query).children(vec![group_node()]), now);
    let set = sent(&out)[0].clone();
    assert_eq!(
        set.child("description").unwrap().get_attr("prev"),
        Some("ABCD0123")
    );
    p.on_node(&result_for(&set), now);
    assert!(rx.try_recv().unwrap().is_ok());

    // Offline: refused at once.
    let mut offline = online(paired_creds());
    let (reply, mut rx) = oneshot::channel();
    assert!(offline
        .on_command(ask(ParticipatingGroups, reply), now)
        .is_empty());
    assert!(matches!(
        rx.try_recv().unwrap(),
        Err(ClientError::NotConnected)
    ));
}
