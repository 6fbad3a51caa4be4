//! LID addressing end to end, wasp sessions against simulated phones: a
//! contact whose account moved to LID, our own account moving to LID in
//! the middle of a conversation (and across a restart), and the errors a
//! user sees for addresses the server refuses; the contacts' LIDs our
//! phone pushes to the session.
//!
//! The simulator refuses what WhatsApp's server refuses (463 for a phone
//! number from a migrated account, 400 for a LID from an unmigrated one),
//! so a session that addressed the wrong namespace fails these tests.

mod harness;

use harness::{message, pn, Harness};
use wasp::client::{ClientError, Event};
use wasp::store::{AuthStores, FileStores};

/// Polls the phone's inbox until it holds `n` texts (a hang guard, not a
/// timing assertion) and returns their texts.
async fn phone_texts(h: &Harness, phone: &str, n: usize) -> Vec<String> {
    harness::eventually("the phone receives", || {
        let got = h.sim.phone_messages(phone).expect("known phone");
        (got.len() >= n).then(|| got.into_iter().map(|m| m.text).collect())
    })
    .await
}

/// Events that say a session went wrong with a contact.
fn trouble(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Undecryptable { .. } | Event::IdentityChanged { .. }
            )
        })
        .collect()
}

#[tokio::test]
async fn a_contact_on_lid_is_read_by_both_identities_and_answered_by_either() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let bob_lid = h.sim.set_lid_migrated(&bob, true).expect("bob").lid;

    // Bob's account writes from its LID; the server names his number.
    h.sim
        .phone_send(&bob, &alice_phone, "from my lid")
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.text, "from my lid");
    assert_eq!(got.chat.to_string(), bob_lid);
    assert_eq!(got.sender_lid.map(|j| j.to_string()), Some(bob_lid.clone()));
    assert_eq!(got.sender_pn.map(|j| j.to_string()), Some(pn(&bob)));

    // Alice's account is not migrated: she answers by phone number,
    // whichever address she names Bob by, on the session his LID opened.
    alice
        .client
        .send_text(&bob, "by number")
        .await
        .expect("sent");
    alice
        .client
        .send_text(&bob_lid, "by lid")
        .await
        .expect("sent");
    let texts = phone_texts(&h, &bob, 2).await;
    assert_eq!(texts, ["by number", "by lid"]);

    // The session carries on: Bob's next text is a plain `msg` on it.
    h.sim.phone_send(&bob, &alice_phone, "again").expect("sent");
    let events = alice
        .until(|e| matches!(e, Event::Message(m) if m.text == "again"))
        .await;
    assert!(trouble(&events).is_empty(), "{events:?}");
}

#[tokio::test]
async fn our_account_moving_to_lid_mid_conversation_keeps_the_chat_going_across_a_restart() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let bob_lid = h.sim.lid_status(&bob).expect("bob").lid;

    // Before: phone numbers both ways.
    h.sim.phone_send(&bob, &alice_phone, "one").expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.sender_lid.map(|j| j.to_string()), Some(bob_lid.clone()));
    alice.client.send_text(&bob, "two").await.expect("sent");
    phone_texts(&h, &bob, 1).await;

    // Alice's account moves to LID; her session learns it at its next
    // login (the A/B prop) and must now address Bob by his LID, or the
    // server refuses the text (463).
    h.sim
        .set_lid_migrated(&alice_phone, true)
        .expect("migrated");
    alice.client.shutdown().await;
    let mut alice = h.spawn("alice");
    alice.until(|e| *e == Event::Connected).await;

    alice.client.send_text(&bob, "three").await.expect("sent");
    let texts = phone_texts(&h, &bob, 2).await;
    assert_eq!(texts, ["two", "three"]);
    h.sim.phone_send(&bob, &alice_phone, "four").expect("sent");
    let events = alice
        .until(|e| matches!(e, Event::Message(m) if m.text == "four"))
        .await;
    assert!(trouble(&events).is_empty(), "{events:?}");
    let four = events.iter().find_map(message).expect("four");
    assert_eq!(four.sender_pn.map(|j| j.to_string()), Some(pn(&bob)));
}

#[tokio::test]
async fn a_contact_moving_to_lid_mid_conversation_loses_nothing_across_a_restart() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");

    h.sim.phone_send(&bob, &alice_phone, "one").expect("sent");
    alice.next_message().await;
    alice.client.send_text(&bob, "two").await.expect("sent");
    phone_texts(&h, &bob, 1).await;

    // Bob's account moves to LID while Alice's session is down.
    let bob_lid = h.sim.set_lid_migrated(&bob, true).expect("bob").lid;
    alice.client.shutdown().await;
    let mut alice = h.spawn("alice");
    alice.until(|e| *e == Event::Connected).await;

    // His next text comes from his LID, on the session the chat had.
    h.sim.phone_send(&bob, &alice_phone, "three").expect("sent");
    let events = alice
        .until(|e| matches!(e, Event::Message(m) if m.text == "three"))
        .await;
    assert!(trouble(&events).is_empty(), "{events:?}");
    let three = events.iter().find_map(message).expect("three");
    assert_eq!(three.chat.to_string(), bob_lid);
    assert_eq!(three.sender_pn.map(|j| j.to_string()), Some(pn(&bob)));

    // Alice still writes to the number she knows; it reaches him.
    alice.client.send_text(&bob, "four").await.expect("sent");
    let texts = phone_texts(&h, &bob, 2).await;
    assert_eq!(texts, ["two", "four"]);
}

#[tokio::test]
async fn a_send_the_server_refuses_is_an_error_and_reaches_nobody() {
    let h = Harness::new().await;
    let (alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    alice.client.send_text(&bob, "before").await.expect("sent");
    phone_texts(&h, &bob, 1).await;

    // The account moves to LID while the session is connected and has
    // not been told: its text by phone number is refused with 463.
    h.sim
        .set_lid_migrated(&alice_phone, true)
        .expect("migrated");
    let err = alice
        .client
        .send_text(&bob, "refused")
        .await
        .expect_err("the server refuses it");
    assert!(
        matches!(&err, ClientError::Server { code, .. } if code == "463"),
        "{err:?}"
    );
    let texts: Vec<String> = h
        .sim
        .phone_messages(&bob)
        .expect("bob")
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["before"]);
}

#[tokio::test]
async fn a_lid_nobody_has_is_not_on_whatsapp() {
    let h = Harness::new().await;
    let (alice, _, _) = h.linked("alice").await;
    let err = alice
        .client
        .send_text("123456789012345@lid", "hello?")
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::NotOnWhatsApp(_)), "{err:?}");
}

/// How our phone tells the session its contacts' LIDs.
#[derive(Clone, Copy, PartialEq)]
enum Teacher {
    /// The `LID_MIGRATION_MAPPING_SYNC` push.
    Push,
    /// A history chunk, inline in its notification or uploaded.
    History { inline: bool },
}

/// Alice's phone names Bob's LID to her session the way `teacher` says:
/// the session keeps the pair as the other sources' pairs are kept (a
/// history chunk is downloaded or read in place, and confirmed with a
/// `hist_sync` receipt), and reaches Bob by that LID.
async fn our_phone_teaches_the_session(teacher: Teacher) {
    let h = Harness::new().await;
    let (alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let bob_lid = h.sim.lid_status(&bob).expect("bob").lid;
    let bob_lid_user = bob_lid.trim_end_matches("@lid").to_string();
    let store = FileStores::new(h.data.clone())
        .open("alice")
        .expect("store");
    assert_eq!(store.lid_of(&bob).expect("readable"), None);

    let contacts = std::slice::from_ref(&bob);
    let (mappings, devices) = match teacher {
        Teacher::Push => {
            let shared = h
                .sim
                .share_lid_mappings(&alice_phone, contacts)
                .expect("pushed");
            (shared.mappings, shared.devices)
        }
        Teacher::History { inline } => {
            let shared = h
                .sim
                .share_history(&alice_phone, contacts, inline)
                .expect("handed over");
            assert_eq!(shared.direct_path.is_none(), inline);
            (shared.mappings, shared.devices)
        }
    };
    assert_eq!((mappings, devices), (1, 1));
    harness::eventually("the session learns Bob's LID", || {
        store.lid_of(&bob).expect("readable")
    })
    .await;
    assert_eq!(
        store.pn_of(&bob_lid_user).expect("readable").as_deref(),
        Some(bob.as_str())
    );
    if teacher != Teacher::Push {
        harness::eventually("the phone gets the hist_sync receipt", || {
            let receipts = h.sim.phone_receipts(&alice_phone).expect("phone");
            receipts.iter().any(|r| r.kind == "hist_sync").then_some(())
        })
        .await;
    }

    // Named by that LID, Bob is reached at his number (Alice's account
    // still chats by number).
    alice
        .client
        .send_text(&bob_lid, "by your lid")
        .await
        .expect("sent");
    assert_eq!(phone_texts(&h, &bob, 1).await, ["by your lid"]);
}

#[tokio::test]
async fn our_phone_tells_the_session_its_contacts_lids() {
    our_phone_teaches_the_session(Teacher::Push).await;
}

#[tokio::test]
async fn our_phones_history_chunk_teaches_the_session_lids() {
    our_phone_teaches_the_session(Teacher::History { inline: false }).await;
}

#[tokio::test]
async fn an_inline_history_chunk_teaches_the_session_lids() {
    our_phone_teaches_the_session(Teacher::History { inline: true }).await;
}
