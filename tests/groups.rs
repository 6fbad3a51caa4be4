//! Groups end to end: wasp sessions and simulated phones as members of
//! the same groups, all through the simulator on loopback. A session
//! creates a group and texts it (sender keys handed pairwise once, then
//! one `skmsg` per text), reads the members' answers, follows members
//! added and removed (a removed member reads nothing more: the session
//! starts a new sender key), hears of the changes phones make (also
//! while it was offline), is added to a phone's group, keeps its sender
//! keys across restarts, works in a LID-addressed group, and gets clear
//! errors for unknown groups and for changes only admins may make. One
//! test drives the same through the HTTP API.

mod api_support;
mod harness;

use std::collections::BTreeMap;

use harness::{message, pn, Harness, Session};
use serde_json::{json, Value};
use wasp::client::groups::{GroupInfo, ParticipantAction};
use wasp::client::{ClientError, Event, ReceiptKind};
use wasp::store::{AuthStores, FileStores};
use wasp::types::DeviceAddress;

fn phones(list: &[&String]) -> Vec<String> {
    list.iter().map(|p| format!("+{p}")).collect()
}

/// The session creates a group with these phones; the group and its JID.
async fn create(session: &Session, subject: &str, members: &[&String]) -> (GroupInfo, String) {
    let group = session
        .client
        .create_group(subject, &phones(members))
        .await
        .expect("created");
    let gid = group.jid.to_string();
    (group, gid)
}

/// The texts a phone read in `group` from companion devices (the
/// session's: the phones send from device 0) once it holds `n` of them
/// (a hang guard, not a timing assertion).
async fn group_texts(h: &Harness, phone: &str, group: &str, n: usize) -> Vec<String> {
    harness::eventually("the phone reads the group", || {
        let texts = read_in(h, phone, group);
        (texts.len() >= n).then_some(texts)
    })
    .await
}

/// What a phone has read in `group` from companion devices so far.
fn read_in(h: &Harness, phone: &str, group: &str) -> Vec<String> {
    h.sim
        .phone_messages(phone)
        .expect("known phone")
        .into_iter()
        .filter(|m| m.chat == group && m.from.contains(':'))
        .map(|m| m.text)
        .collect()
}

/// Events that say a session went wrong with a message.
fn trouble(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| matches!(e, Event::Undecryptable { .. }))
        .collect()
}

/// The pairwise Signal sessions a session keeps, file by file: they
/// change whenever a copy is encrypted for (or decrypted from) a device.
fn pairwise_sessions(h: &Harness, id: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = h.data.session(id).expect("session dir");
    std::fs::read_dir(dir.path())
        .expect("listable")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("session-"))
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("readable");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// The devices a session's store says hold its sender key for `group`.
fn key_holders(h: &Harness, id: &str, group: &GroupInfo) -> Vec<String> {
    let store = FileStores::new(h.data.clone()).open(id).expect("store");
    let mut holders: Vec<String> = store
        .sender_key_devices(&group.jid.user)
        .expect("readable")
        .iter()
        .map(ToString::to_string)
        .collect();
    holders.sort();
    holders
}

/// The public signing key of the sender key `device` sends with in
/// `group` (what a new sender key changes), if it has one.
fn sender_key_of(h: &Harness, id: &str, group: &GroupInfo, device: &str) -> Option<String> {
    let store = FileStores::new(h.data.clone()).open(id).expect("store");
    let device = DeviceAddress::parse(device).expect("device JID");
    let bytes = store
        .sender_key(&group.jid.user, &device)
        .expect("readable")?;
    let doc: Value = serde_json::from_slice(&bytes).expect("JSON");
    doc["record"]["states"][0]["sk"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_session_creates_a_group_and_talks_with_its_members() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, alice_device) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let carol = h.sim.create_phone(None).await.expect("phone");

    let (group, gid) = create(&alice, "Team", &[&bob, &carol]).await;
    assert!(gid.ends_with("@g.us"), "{gid}");
    assert_eq!(group.subject, "Team");
    let mut members: Vec<String> = group
        .participants
        .iter()
        .map(|p| p.jid.to_string())
        .collect();
    members.sort();
    let mut want = vec![pn(&alice_phone), pn(&bob), pn(&carol)];
    want.sort();
    assert_eq!(members, want);

    // The first text hands our sender key to every member device, then
    // goes out once as skmsg; both phones (and our own) read it.
    let first = alice
        .client
        .send_text(&gid, "hello team")
        .await
        .expect("accepted");
    assert_eq!(first.chat.to_string(), gid);
    for phone in [&bob, &carol] {
        assert_eq!(group_texts(&h, phone, &gid, 1).await, ["hello team"]);
    }
    let inbox = h.sim.phone_messages(&bob).expect("bob");
    assert_eq!(inbox[0].id, first.id.to_string());
    assert_eq!(inbox[0].from, alice_device, "sent by the session's device");
    let own = group_texts(&h, &alice_phone, &gid, 1).await;
    assert_eq!(own, ["hello team"]);

    // Both phones confirm delivery; their receipts name the group.
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let (chat, sender) = alice
            .next_matching(|e| match e {
                Event::Receipt {
                    kind: ReceiptKind::Delivered,
                    chat,
                    sender,
                    ids,
                    ..
                } if ids.contains(&first.id) => {
                    Some((chat.to_string(), sender.to_non_ad().to_string()))
                }
                _ => None,
            })
            .await;
        assert_eq!(chat, gid);
        delivered.push(sender);
    }
    delivered.sort();
    let mut members = vec![pn(&bob), pn(&carol)];
    members.sort();
    assert_eq!(delivered, members);

    // Bob answers in the group: the session reads it as a group message.
    let answer = h.sim.phone_send(&bob, &gid, "hi alice").expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.id.to_string(), answer.id);
    assert_eq!(got.text, "hi alice");
    assert_eq!(got.chat.to_string(), gid);
    assert_eq!(got.sender.to_non_ad().to_string(), pn(&bob));
    assert!(!got.from_me);

    // Marking it read needs its sender in a group; with it, Bob's phone
    // gets the read receipt.
    let ids = [got.id.to_string()];
    let refused = alice.client.mark_read(&gid, &ids).await;
    assert!(
        matches!(refused, Err(ClientError::InvalidRecipient(_))),
        "{refused:?}"
    );
    let sender = got.sender.to_string();
    alice
        .client
        .mark_read_from(&gid, Some(&sender), &ids)
        .await
        .expect("read receipt sent");
    harness::eventually("bob's phone hears it was read", || {
        let receipts = h.sim.phone_receipts(&bob).expect("bob");
        receipts
            .iter()
            .any(|r| r.kind == "read" && r.ids == ids)
            .then_some(())
    })
    .await;

    // Every member device holds our key now: the second text encrypts
    // no pairwise copy (no Signal session moves) and distributes nothing.
    let holders = key_holders(&h, "alice", &group);
    assert!(holders.len() >= 3, "{holders:?}");
    let sessions = pairwise_sessions(&h, "alice");
    alice
        .client
        .send_text(&gid, "second")
        .await
        .expect("accepted");
    for phone in [&bob, &carol] {
        assert_eq!(
            group_texts(&h, phone, &gid, 2).await,
            ["hello team", "second"]
        );
    }
    assert_eq!(
        pairwise_sessions(&h, "alice"),
        sessions,
        "a pairwise copy went out"
    );
    assert_eq!(key_holders(&h, "alice", &group), holders);
}

#[tokio::test]
async fn members_added_later_read_on_and_removed_ones_read_no_more() {
    let h = Harness::new().await;
    let (mut alice, _, alice_device) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let carol = h.sim.create_phone(None).await.expect("phone");
    let (group, gid) = create(&alice, "Growing", &[&bob]).await;
    alice.client.send_text(&gid, "one").await.expect("sent");
    group_texts(&h, &bob, &gid, 1).await;

    // Carol joins: she gets our key with the next text.
    let added = alice
        .client
        .update_group_participants(&gid, ParticipantAction::Add, &phones(&[&carol]))
        .await
        .expect("added");
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].error, None, "{added:?}");
    alice.client.send_text(&gid, "two").await.expect("sent");
    assert_eq!(group_texts(&h, &carol, &gid, 1).await, ["two"]);
    assert_eq!(group_texts(&h, &bob, &gid, 2).await, ["one", "two"]);

    // Bob is removed: the session starts a new sender key, which only
    // the members still in get.
    let before = sender_key_of(&h, "alice", &group, &alice_device).expect("our key");
    let removed = alice
        .client
        .update_group_participants(&gid, ParticipantAction::Remove, &phones(&[&bob]))
        .await
        .expect("removed");
    assert_eq!(removed[0].error, None, "{removed:?}");
    alice.client.send_text(&gid, "three").await.expect("sent");
    assert_eq!(group_texts(&h, &carol, &gid, 2).await, ["two", "three"]);
    let after = sender_key_of(&h, "alice", &group, &alice_device).expect("our key");
    assert_ne!(before, after, "the sender key Bob holds is still in use");
    let holders = key_holders(&h, "alice", &group);
    assert!(
        holders.iter().all(|d| !d.starts_with(bob.as_str())),
        "{holders:?}"
    );
    assert_eq!(read_in(&h, &bob, &gid), ["one", "two"]);

    // A member's phone adds Dave: the session hears of it (the members it
    // knows are stale), and its next text reaches him too.
    let dave = h.sim.create_phone(None).await.expect("phone");
    h.sim
        .state()
        .change_group_participants(&gid, &carol, std::slice::from_ref(&dave), &[])
        .expect("added");
    alice
        .until(|e| {
            matches!(
                e,
                Event::GroupParticipants {
                    action: ParticipantAction::Add,
                    ..
                }
            )
        })
        .await;
    alice.client.send_text(&gid, "four").await.expect("sent");
    assert_eq!(group_texts(&h, &dave, &gid, 1).await, ["four"]);
    assert_eq!(
        group_texts(&h, &carol, &gid, 3).await,
        ["two", "three", "four"]
    );
}

#[tokio::test]
async fn a_member_that_lost_our_key_asks_again_and_reads_the_text() {
    let h = Harness::new().await;
    let (alice, _, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let carol = h.sim.create_phone(None).await.expect("phone");
    let (_, gid) = create(&alice, "Retry", &[&bob, &carol]).await;
    alice.client.send_text(&gid, "one").await.expect("sent");
    group_texts(&h, &bob, &gid, 1).await;

    // Bob reinstalls: our key and our session are gone from his phone,
    // while the session still counts him as holding the key. He cannot
    // read the next skmsg and asks for it again; the session sends it to
    // his device alone, with its key.
    h.sim.state().reinstall_phone(&bob).expect("reinstalled");
    alice.client.send_text(&gid, "two").await.expect("sent");
    assert_eq!(group_texts(&h, &bob, &gid, 2).await, ["one", "two"]);

    // From then on one skmsg reaches him again; Carol read each text once.
    alice.client.send_text(&gid, "three").await.expect("sent");
    assert_eq!(
        group_texts(&h, &bob, &gid, 3).await,
        ["one", "two", "three"]
    );
    assert_eq!(
        group_texts(&h, &carol, &gid, 3).await,
        ["one", "two", "three"]
    );
}

#[tokio::test]
async fn a_session_added_to_a_phones_group_hears_its_changes_also_while_offline() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let carol = h.sim.create_phone(None).await.expect("phone");
    let dave = h.sim.create_phone(None).await.expect("phone");

    // Bob's phone creates a group with Alice in it: her session hears of it.
    let made = h
        .sim
        .create_group(&bob, "Bob's", &[alice_phone.clone(), carol.clone()])
        .expect("created");
    let (info, by) = alice
        .next_matching(|e| match e {
            Event::GroupCreated { group, by, .. } => Some((group.clone(), by.clone())),
            _ => None,
        })
        .await;
    assert_eq!(info.jid.to_string(), made.id);
    assert_eq!(info.subject, "Bob's");
    assert_eq!(by.map(|j| j.to_string()), Some(pn(&bob)));
    assert_eq!(info.participants.len(), 3);

    // She texts it and reads it.
    let gid = made.id.clone();
    alice
        .client
        .send_text(&gid, "thanks bob")
        .await
        .expect("sent");
    assert_eq!(group_texts(&h, &bob, &gid, 1).await, ["thanks bob"]);
    assert_eq!(group_texts(&h, &carol, &gid, 1).await, ["thanks bob"]);
    h.sim.phone_send(&carol, &gid, "hi all").expect("sent");
    let got = alice.next_message().await;
    assert_eq!(
        (got.chat.to_string(), got.text.as_str()),
        (gid.clone(), "hi all")
    );

    // Offline, the group changes: Dave joins, it is renamed, Carol goes.
    alice.client.shutdown().await;
    h.sim
        .state()
        .change_group_participants(&gid, &bob, std::slice::from_ref(&dave), &[])
        .expect("added");
    h.sim
        .state()
        .rename_group(&gid, &bob, "Bob's crew")
        .expect("renamed");
    h.sim
        .state()
        .change_group_participants(&gid, &bob, &[], std::slice::from_ref(&carol))
        .expect("removed");

    // Back online: each change once, in order.
    let mut alice = h.spawn("alice");
    let events = alice
        .until(|e| {
            matches!(
                e,
                Event::GroupParticipants {
                    action: ParticipantAction::Remove,
                    ..
                }
            )
        })
        .await;
    let changes: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::GroupParticipants {
                group,
                action,
                participants,
                by,
                ..
            } => {
                assert_eq!(group.to_string(), gid);
                assert_eq!(by.as_ref().map(|j| j.to_string()), Some(pn(&bob)));
                let who: Vec<String> = participants.iter().map(|p| p.jid.to_string()).collect();
                Some(format!("{action:?} {}", who.join(",")))
            }
            Event::GroupSubject { group, subject, .. } => {
                assert_eq!(group.to_string(), gid);
                Some(format!("subject {subject}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            format!("Add {}", pn(&dave)),
            "subject Bob's crew".to_string(),
            format!("Remove {}", pn(&carol)),
        ]
    );

    // Her next text reaches Dave, and not Carol.
    alice
        .client
        .send_text(&gid, "welcome dave")
        .await
        .expect("sent");
    assert_eq!(group_texts(&h, &dave, &gid, 1).await, ["welcome dave"]);
    assert_eq!(group_texts(&h, &bob, &gid, 2).await[1], "welcome dave");
    assert_eq!(read_in(&h, &carol, &gid), ["thanks bob"]);

    // A further restart reports none of it again.
    alice.client.shutdown().await;
    let mut alice = h.spawn("alice");
    let events = alice.until(|e| *e == Event::Connected).await;
    h.sim.phone_send(&dave, &gid, "hello").expect("sent");
    let mut events = [
        events,
        alice.until(|e| matches!(e, Event::Message(_))).await,
    ]
    .concat();
    events.retain(|e| !matches!(e, Event::Connected | Event::Message(_)));
    assert!(
        events.iter().all(|e| !matches!(
            e,
            Event::GroupParticipants { .. }
                | Event::GroupSubject { .. }
                | Event::GroupCreated { .. }
        )),
        "{events:?}"
    );
}

#[tokio::test]
async fn sender_keys_survive_restarts_without_undecryptable_or_repeated_texts() {
    let h = Harness::new().await;
    let (mut alice, _, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let (_, gid) = create(&alice, "Steady", &[&bob]).await;
    alice.client.send_text(&gid, "a").await.expect("sent");
    h.sim.phone_send(&bob, &gid, "one").expect("sent");
    assert_eq!(alice.next_message().await.text, "one");

    // Restart: Bob's key (received) and ours (sent) come back from the store.
    alice.client.shutdown().await;
    h.sim.phone_send(&bob, &gid, "two").expect("sent");
    let mut alice = h.spawn("alice");
    let events = alice
        .until(|e| matches!(e, Event::Message(m) if m.text == "two"))
        .await;
    assert!(trouble(&events).is_empty(), "{events:?}");
    let sessions = pairwise_sessions(&h, "alice");
    alice.client.send_text(&gid, "b").await.expect("sent");
    assert_eq!(group_texts(&h, &bob, &gid, 2).await, ["a", "b"]);
    assert_eq!(
        pairwise_sessions(&h, "alice"),
        sessions,
        "our sender key was distributed again"
    );

    // Again: nothing is reported twice, Bob's key still opens his texts.
    alice.client.shutdown().await;
    let mut alice = h.spawn("alice");
    alice.until(|e| *e == Event::Connected).await;
    h.sim.phone_send(&bob, &gid, "three").expect("sent");
    let events = alice.until(|e| matches!(e, Event::Message(_))).await;
    let texts: Vec<String> = events.iter().filter_map(message).map(|m| m.text).collect();
    assert_eq!(texts, ["three"]);
    assert!(trouble(&events).is_empty(), "{events:?}");
}

#[tokio::test]
async fn a_lid_addressed_group_carries_texts_both_ways() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let carol = h.sim.create_phone(None).await.expect("phone");
    let bob_lid = h.sim.lid_status(&bob).expect("bob").lid;
    let made = h
        .sim
        .state()
        .create_group(
            &bob,
            "Lid",
            &[alice_phone.clone(), carol.clone()],
            Some("lid"),
        )
        .expect("created");
    assert_eq!(made.addressing_mode, "lid");
    let gid = made.id.clone();
    alice
        .until(|e| matches!(e, Event::GroupCreated { .. }))
        .await;

    h.sim.phone_send(&bob, &gid, "by lid").expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.text, "by lid");
    assert_eq!(got.chat.to_string(), gid);
    assert_eq!(got.sender.to_non_ad().to_string(), bob_lid);
    assert_eq!(got.sender_pn.map(|j| j.to_string()), Some(pn(&bob)));

    let sent = alice
        .client
        .send_text(&gid, "lid answer")
        .await
        .expect("sent");
    for phone in [&bob, &carol] {
        assert_eq!(group_texts(&h, phone, &gid, 1).await, ["lid answer"]);
    }
    let inbox = h.sim.phone_messages(&carol).expect("carol");
    let from = &inbox.iter().find(|m| m.id == sent.id).expect("read").from;
    assert!(
        from.ends_with("@lid"),
        "the session sent as its LID: {from}"
    );
    h.sim.phone_send(&carol, &gid, "me too").expect("sent");
    let events = alice
        .until(|e| matches!(e, Event::Message(m) if m.text == "me too"))
        .await;
    assert!(trouble(&events).is_empty(), "{events:?}");
}

#[tokio::test]
async fn unknown_groups_and_admin_only_changes_are_clear_errors() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");

    let unknown = "120363000000000001@g.us";
    let err = alice
        .client
        .send_text(unknown, "anyone?")
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::GroupNotFound(_)), "{err:?}");
    let err = alice.client.group_info(unknown).await.expect_err("refused");
    assert!(matches!(err, ClientError::GroupNotFound(_)), "{err:?}");

    // In Bob's group Alice is a member, not an admin: once Bob locks the
    // group's info, she may not rename it, nor ever remove anyone.
    let made = h
        .sim
        .create_group(&bob, "Bob's rules", std::slice::from_ref(&alice_phone))
        .expect("created");
    let gid = made.id.clone();
    alice
        .until(|e| matches!(e, Event::GroupCreated { .. }))
        .await;
    alice
        .client
        .set_group_subject(&gid, "renamed by a member")
        .await
        .expect("an unlocked group takes any member's subject");
    h.sim.state().lock_group(&gid, &bob, true).expect("locked");
    let setting = alice
        .next_matching(|e| match e {
            Event::GroupSetting { setting, .. } => Some(setting.clone()),
            _ => None,
        })
        .await;
    assert_eq!(setting, "locked");
    let err = alice
        .client
        .set_group_subject(&gid, "mine now")
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::NotGroupAdmin(_)), "{err:?}");
    let err = alice
        .client
        .update_group_participants(&gid, ParticipantAction::Remove, &phones(&[&bob]))
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::NotGroupAdmin(_)), "{err:?}");
    assert_eq!(
        h.sim.group(&gid).expect("group").subject,
        "renamed by a member"
    );

    // Removed from the group, she can neither read it nor text it.
    h.sim
        .state()
        .change_group_participants(&gid, &bob, &[], std::slice::from_ref(&alice_phone))
        .expect("removed");
    alice
        .until(|e| {
            matches!(
                e,
                Event::GroupParticipants {
                    action: ParticipantAction::Remove,
                    ..
                }
            )
        })
        .await;
    let err = alice
        .client
        .send_text(&gid, "still here?")
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::GroupNotFound(_)), "{err:?}");
    let err = alice.client.group_info(&gid).await.expect_err("refused");
    assert!(matches!(err, ClientError::GroupNotFound(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_creates_lists_and_texts_a_group() {
    let api = api_support::Api::start(wasp::api::ServerConfig::default()).await;
    api.linked("shop").await;
    let bob = api.sim.create_phone(None).await.expect("phone");
    let carol = api.sim.create_phone(None).await.expect("phone");

    let body = json!({"subject": "Customers", "participants": [format!("+{bob}"), pn(&carol)]});
    let created = api
        .call("POST", "/v1/sessions/shop/groups", Some(&body.to_string()))
        .await;
    assert_eq!(
        created.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&created.body)
    );
    let group = created.json();
    let gid = group["jid"].as_str().expect("jid").to_string();
    assert_eq!(group["subject"], "Customers");
    assert_eq!(group["addressing_mode"], "pn");
    assert_eq!(group["participants"].as_array().expect("members").len(), 3);

    let body = json!({"to": gid, "text": "sale today"});
    let sent = api
        .call(
            "POST",
            "/v1/sessions/shop/messages",
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(
        sent.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&sent.body)
    );
    assert_eq!(sent.json()["chat"], gid.as_str());
    for phone in [&bob, &carol] {
        harness::eventually("the phone reads the group", || {
            let got = api.sim.phone_messages(phone).expect("phone");
            got.iter()
                .any(|m| m.chat == gid && m.text == "sale today")
                .then_some(())
        })
        .await;
    }

    // Bob answers; marking it read names him as the sender.
    let answer = api.sim.phone_send(&bob, &gid, "when?").expect("sent");
    let without = json!({"chat": gid, "ids": [answer.id]});
    let refused = api
        .call("POST", "/v1/sessions/shop/read", Some(&without.to_string()))
        .await;
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (400, json!("invalid_recipient"))
    );
    let with = json!({"chat": gid, "sender": pn(&bob), "ids": [answer.id]});
    let read = api
        .call("POST", "/v1/sessions/shop/read", Some(&with.to_string()))
        .await;
    assert_eq!(
        read.status,
        204,
        "{:?}",
        String::from_utf8_lossy(&read.body)
    );
    harness::eventually("bob's phone hears it was read", || {
        let receipts = api.sim.phone_receipts(&bob).expect("bob");
        receipts
            .iter()
            .any(|r| r.kind == "read" && r.ids == [answer.id.clone()])
            .then_some(())
    })
    .await;

    let listed = api.call("GET", "/v1/sessions/shop/groups", None).await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let jids: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|g| g["jid"].as_str())
        .collect();
    assert_eq!(jids, [gid.as_str()]);
    let one = api
        .call("GET", &format!("/v1/sessions/shop/groups/{gid}"), None)
        .await;
    assert_eq!(
        (one.status, one.json()["subject"].clone()),
        (200, json!("Customers"))
    );

    let renamed = api
        .call(
            "PUT",
            &format!("/v1/sessions/shop/groups/{gid}/subject"),
            Some(r#"{"subject":"Regulars"}"#),
        )
        .await;
    assert_eq!(renamed.status, 204);
    assert_eq!(api.sim.group(&gid).expect("group").subject, "Regulars");

    let unknown = json!({"to": "120363000000000001@g.us", "text": "x"});
    let refused = api
        .call(
            "POST",
            "/v1/sessions/shop/messages",
            Some(&unknown.to_string()),
        )
        .await;
    assert_eq!(refused.status, 404);
    assert_eq!(refused.json()["error"], "group_not_found");
    let refused = api
        .call("GET", "/v1/sessions/shop/groups/120363000000000001", None)
        .await;
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (404, json!("group_not_found"))
    );
    api.stop().await;
}
