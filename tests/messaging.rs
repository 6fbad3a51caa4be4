//! End-to-end messaging between wasp sessions and simulated phones, all
//! through the simulator on loopback: first contact (pkmsg) and later
//! messages (msg) both ways, our own phone's copies, replies, receipts
//! both ways, restarts, offline delivery in order, and a changed identity.

mod harness;

use harness::Harness;
use wasp::client::{Event, ReceiptKind};

fn jid(phone: &str) -> String {
    format!("{phone}@s.whatsapp.net")
}

/// Polls the phone's inbox until it holds `n` texts (a hang guard, not a
/// timing assertion).
async fn phone_inbox(h: &Harness, phone: &str, n: usize) -> Vec<wasp::sim::PhoneMessage> {
    harness::eventually("the phone receives", || {
        let got = h.sim.phone_messages(phone).expect("known phone");
        (got.len() >= n).then_some(got)
    })
    .await
}

/// Waits until the server holds nothing more for the device.
async fn queue_drains(h: &Harness, device: &str) {
    harness::eventually("the device's queue drains", || {
        (h.sim.state().queued(device).expect("device") == 0).then_some(())
    })
    .await
}

#[tokio::test]
async fn a_session_and_a_phone_exchange_texts_both_ways() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");

    // Bob writes first: a pkmsg to the session, then a msg.
    let first = h
        .sim
        .phone_send(&bob, &alice_phone, "hi alice")
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.id, first.id);
    assert_eq!(got.text, "hi alice");
    assert_eq!(got.chat, jid(&bob));
    assert_eq!(got.sender, jid(&bob));
    assert!(!got.from_me);
    let second = h
        .sim
        .phone_send(&bob, &alice_phone, "second")
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(
        (got.id.as_str(), got.text.as_str()),
        (second.id.as_str(), "second")
    );

    // The session answers, by phone number and by JID.
    let sent = alice
        .client
        .send_text(&format!("+{bob}"), "hello bob")
        .await
        .expect("accepted");
    assert_eq!(sent.chat, jid(&bob));
    let again = alice
        .client
        .send_text(&jid(&bob), "and again")
        .await
        .expect("accepted");
    let inbox = phone_inbox(&h, &bob, 2).await;
    assert_eq!(inbox[0].id, sent.id);
    assert_eq!(inbox[0].text, "hello bob");
    assert_eq!(inbox[1].text, "and again");
    assert_eq!(inbox[1].id, again.id);
    assert!(inbox.iter().all(|m| m.chat == jid(&alice_phone)));

    // Bob's phone confirmed delivery of both.
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        let ids = alice
            .next_matching(|e| match e {
                Event::Receipt {
                    kind: ReceiptKind::Delivered,
                    ids,
                    ..
                } => Some(ids.clone()),
                _ => None,
            })
            .await;
        delivered.extend(ids);
    }
    assert!(delivered.contains(&sent.id) && delivered.contains(&again.id));

    // Alice's own phone got its copies, unwrapped from DeviceSentMessage.
    // (Her phone also got Bob's two texts, as every device of hers does.)
    let inbox = phone_inbox(&h, &alice_phone, 4).await;
    let own: Vec<_> = inbox.iter().filter(|m| m.from_me).collect();
    assert_eq!(own.len(), 2, "{inbox:?}");
    assert!(own.iter().all(|m| m.chat == jid(&bob)));
    assert_eq!(own[0].text, "hello bob");
    assert_eq!(own[0].id, sent.id);

    // Read receipts both ways.
    alice
        .client
        .mark_read(&jid(&bob), &[first.id.clone(), second.id.clone()])
        .await
        .expect("receipt sent");
    let read = harness::eventually("a read receipt", || {
        let receipts = h.sim.phone_receipts(&bob).expect("known phone");
        receipts.into_iter().find(|r| r.kind == "read")
    })
    .await;
    assert_eq!(read.ids, vec![first.id.clone(), second.id.clone()]);
    h.sim
        .phone_read(&bob, &[sent.id.to_string()])
        .expect("read");
    let read_by_bob = alice
        .next_matching(|e| match e {
            Event::Receipt {
                kind: ReceiptKind::Read,
                ids,
                chat,
                ..
            } => Some((ids.clone(), chat.to_string())),
            _ => None,
        })
        .await;
    assert_eq!(read_by_bob, (vec![sent.id.clone()], jid(&bob)));
}

#[tokio::test]
async fn own_phone_messages_arrive_as_from_me_and_replies_carry_the_quote() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");

    // Alice types on her phone: the session sees it as her own message.
    let typed = h
        .sim
        .phone_send(&alice_phone, &bob, "from my phone")
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.id, typed.id);
    assert!(got.from_me);
    assert_eq!(got.chat, jid(&bob));
    assert_eq!(got.text, "from my phone");

    // Bob replies to a message of the session.
    let sent = alice
        .client
        .send_text(&bob, "question?")
        .await
        .expect("accepted");
    phone_inbox(&h, &bob, 1).await;
    let answer = h
        .sim
        .state()
        .phone_send(&bob, &alice_phone, "answer!", Some(sent.id.as_str()))
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.id, answer.id);
    let quoted = got.quoted.expect("reply quotes the question");
    assert_eq!(quoted.id, sent.id);
}

#[tokio::test]
async fn texts_survive_restarts_and_offline_periods_in_order_and_once() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    h.sim
        .phone_send(&bob, &alice_phone, "before")
        .expect("sent");
    assert_eq!(alice.next_message().await.text, "before");
    alice
        .client
        .send_text(&bob, "reply before")
        .await
        .expect("accepted");

    // Offline: Bob keeps writing.
    alice.client.shutdown().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            h.sim
                .phone_send(&bob, &alice_phone, &format!("offline {i}"))
                .expect("sent")
                .id,
        );
    }

    // Back online: all five, in order, each once; sessions continue (msg).
    let mut alice = h.spawn("alice");
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(alice.next_message().await);
    }
    assert_eq!(got.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(got[4].text, "offline 4");
    let sent = alice
        .client
        .send_text(&bob, "after restart")
        .await
        .expect("accepted");
    let inbox = phone_inbox(&h, &bob, 2).await;
    assert_eq!(inbox[1].id, sent.id);

    // A further restart delivers nothing twice.
    alice.client.shutdown().await;
    let mut alice = h.spawn("alice");
    alice.until(|e| *e == Event::Connected).await;
    let later = h.sim.phone_send(&bob, &alice_phone, "later").expect("sent");
    let next = alice.next_message().await;
    assert_eq!(next.id, later.id, "no earlier message was reported again");
}

#[tokio::test]
async fn sending_needs_a_valid_recipient_on_whatsapp() {
    let h = Harness::new().await;
    let (alice, _, _) = h.linked("alice").await;
    let bad = alice.client.send_text("not a number", "x").await;
    assert!(
        matches!(bad, Err(wasp::client::ClientError::InvalidRecipient(_))),
        "{bad:?}"
    );
    let nobody = alice.client.send_text("+99912345678", "x").await;
    assert!(
        matches!(nobody, Err(wasp::client::ClientError::NotOnWhatsApp(_))),
        "{nobody:?}"
    );
}

#[tokio::test]
async fn a_device_linked_after_a_chat_started_gets_the_next_text() {
    let h = Harness::new().await;
    let (alice, _, alice_device) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    // Alice's session learns Bob's device list (his phone alone) and
    // keeps it for the next texts.
    alice
        .client
        .send_text(&jid(&bob), "one")
        .await
        .expect("accepted");
    phone_inbox(&h, &bob, 1).await;

    // Bob links a second device; the server announces it to those who
    // asked for his devices.
    let mut bob_web = h.spawn("bob-web");
    let qr = bob_web
        .next_matching(|e| match e {
            Event::Qr { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await;
    h.sim.scan(&bob, &qr).await.expect("scan links");
    bob_web.until(|e| *e == Event::Connected).await;
    // Alice's session acknowledged the announcement (as a real one, it may
    // only miss the new device in the moment before the news arrives).
    queue_drains(&h, &alice_device).await;

    // Alice's next text is encrypted for the new device too.
    let two = alice
        .client
        .send_text(&jid(&bob), "two")
        .await
        .expect("accepted");
    let got = bob_web.next_message().await;
    assert_eq!((got.id, got.text.as_str()), (two.id, "two"));
    assert_eq!(phone_inbox(&h, &bob, 2).await[1].text, "two");
}

#[tokio::test]
async fn a_reinstalled_contact_is_an_identity_change_and_retries_recover_the_text() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    h.sim
        .phone_send(&bob, &alice_phone, "before")
        .expect("sent");
    alice.next_message().await;
    alice.client.send_text(&bob, "ok").await.expect("accepted");
    phone_inbox(&h, &bob, 1).await;

    // Bob reinstalls WhatsApp: new identity, no sessions.
    h.sim.state().reinstall_phone(&bob).expect("reinstalled");

    // The session's next text uses the old session: Bob's phone cannot
    // decrypt it and asks for a retry; the session starts a new session
    // from Bob's new keys (an identity change) and sends the text again.
    let sent = alice
        .client
        .send_text(&bob, "are you there?")
        .await
        .expect("accepted");
    let changed = alice
        .next_matching(|e| match e {
            Event::IdentityChanged { jid } => Some(jid.clone()),
            _ => None,
        })
        .await;
    assert_eq!(changed, jid(&bob));
    let inbox = phone_inbox(&h, &bob, 2).await;
    assert_eq!(inbox[1].id, sent.id);
    assert_eq!(inbox[1].text, "are you there?");

    // Bob writes: the new session is used, text arrives.
    let hello = h
        .sim
        .phone_send(&bob, &alice_phone, "new phone")
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(
        (got.id.to_string(), got.text),
        (hello.id, "new phone".to_string())
    );
}

#[tokio::test]
async fn an_undecryptable_message_is_reported_and_the_sender_asked_to_retry() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, alice_device) = h.linked("alice").await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    // Bob's first message opens the session on both sides.
    h.sim.phone_send(&bob, &alice_phone, "one").expect("sent");
    alice.next_message().await;
    alice.client.send_text(&bob, "two").await.expect("accepted");
    phone_inbox(&h, &bob, 1).await;

    // Alice's session loses its state for Bob (as after a restore from an
    // old backup): Bob's next `msg` cannot be decrypted.
    alice.client.shutdown().await;
    let dir = h.data.session("alice").expect("dir");
    // The session is kept under Bob's LID, which his messages name.
    let bob_lid = h.sim.lid_status(&bob).expect("bob").lid;
    let bob_lid = bob_lid.trim_end_matches("@lid");
    dir.remove_slotted(&format!("session-{bob_lid}_lid.0.json"))
        .expect("session file");
    let mut alice = h.spawn("alice");
    let lost = h.sim.phone_send(&bob, &alice_phone, "three").expect("sent");
    let (id, sender) = alice
        .next_matching(|e| match e {
            Event::Undecryptable { id, sender, .. } => Some((id.clone(), sender.clone())),
            _ => None,
        })
        .await;
    assert_eq!(
        (id.as_str(), sender.to_string().as_str()),
        (lost.id.as_str(), jid(&bob).as_str())
    );
    // Bob's phone answers the retry receipt with a new session: the text
    // arrives after all, under the same id.
    let got = alice.next_message().await;
    assert_eq!(
        (got.id.to_string(), got.text),
        (lost.id, "three".to_string())
    );
    // Nothing is left queued for the device.
    queue_drains(&h, &alice_device).await;
}

#[tokio::test]
async fn one_time_prekeys_are_refilled_when_first_contacts_use_them_up() {
    let h = Harness::new().await;
    let (mut alice, alice_phone, alice_device) = h.linked("alice").await;
    let prekeys = || h.sim.state().prekeys_left(&alice_device).expect("device");
    let uploaded = harness::eventually("prekeys uploaded", || {
        let n = prekeys();
        (n > 0).then_some(n)
    })
    .await;
    // Every new contact's first message uses up one one-time prekey.
    for i in 0..uploaded {
        let contact = h.sim.create_phone(None).await.expect("phone");
        h.sim
            .phone_send(&contact, &alice_phone, &format!("hello {i}"))
            .expect("sent");
        alice.next_message().await;
    }
    // The server told the session it was running low; it uploaded more.
    let refilled = harness::eventually("prekeys refilled", || {
        let n = prekeys();
        (n >= uploaded / 2).then_some(n)
    })
    .await;
    assert!(refilled >= 5, "{refilled}");
}

#[tokio::test]
async fn the_signed_prekey_is_rotated_and_the_old_one_still_opens_first_messages() {
    let h = Harness::new().await;
    let mut config = (*h.config()).clone();
    // Every login after the first finds the key old enough.
    config.signed_prekey_rotation = std::time::Duration::ZERO;
    let config = std::sync::Arc::new(config);
    let phone = h.sim.create_phone(None).await.expect("phone");
    let mut alice = h.spawn_with("alice", config.clone());
    let qr = alice
        .next_matching(|e| match e {
            Event::Qr { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await;
    let device = h.sim.scan(&phone, &qr).await.expect("linked");
    alice.until(|e| *e == Event::Connected).await;
    let first_id = h.sim.state().signed_prekey_id(&device).expect("device");

    // A contact encrypts to the current key while the session is away.
    alice.client.shutdown().await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    let early = h
        .sim
        .phone_send(&bob, &phone, "to the old key")
        .expect("sent");

    // The next login rotates; the queued message still opens.
    let mut alice = h.spawn_with("alice", config);
    let got = alice.next_message().await;
    assert_eq!(
        (got.id.to_string(), got.text),
        (early.id, "to the old key".to_string())
    );
    harness::eventually("the rotation reaches the server", || {
        (h.sim.state().signed_prekey_id(&device).expect("device") != first_id).then_some(())
    })
    .await;

    // A new contact's first message uses the new key.
    let carol = h.sim.create_phone(None).await.expect("phone");
    let late = h
        .sim
        .phone_send(&carol, &phone, "to the new key")
        .expect("sent");
    let got = alice.next_message().await;
    assert_eq!(got.id, late.id);
}

/// The first event `pick` accepts.
async fn next(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    pick: fn(&Event) -> bool,
) -> Event {
    let wait = async {
        loop {
            let e = events.recv().await.expect("events");
            if pick(&e) {
                return e;
            }
        }
    };
    tokio::time::timeout(harness::GUARD, wait)
        .await
        .expect("event arrives")
}

/// A sink that stores nothing durably until the test says so.
struct GatedSink {
    events: tokio::sync::mpsc::UnboundedSender<Event>,
    gates: std::sync::Mutex<Vec<tokio::sync::oneshot::Sender<()>>>,
}

impl wasp::client::EventSink for GatedSink {
    fn emit(&self, _session: &str, event: Event) {
        let _ = self.events.send(event);
    }

    fn durable(&self, _session: &str) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let (open, wait) = tokio::sync::oneshot::channel();
        self.gates.lock().unwrap().push(open);
        Some(wait)
    }
}

#[tokio::test]
async fn a_message_is_confirmed_to_the_server_only_once_the_host_stored_it() {
    let h = Harness::new().await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let sink = std::sync::Arc::new(GatedSink {
        events: tx,
        gates: std::sync::Mutex::new(Vec::new()),
    });
    let stores = std::sync::Arc::new(wasp::store::FileStores::new(h.data.clone()));
    let client = wasp::client::Client::spawn("alice".into(), h.config(), stores, sink.clone());
    let Event::Qr { code, .. } = next(&mut events, |e| matches!(e, Event::Qr { .. })).await else {
        unreachable!()
    };
    let alice_phone = h.sim.create_phone(None).await.expect("phone");
    let device = h.sim.scan(&alice_phone, &code).await.expect("linked");
    next(&mut events, |e| *e == Event::Connected).await;
    let bob = h.sim.create_phone(None).await.expect("phone");
    h.sim
        .phone_send(&bob, &alice_phone, "keep me")
        .expect("sent");
    next(&mut events, |e| matches!(e, Event::Message(_))).await;

    // Reported, but the host has not stored it: the server still holds it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(h.sim.state().queued(&device).expect("device"), 1);

    // Stored: the receipt goes out and the server lets it go.
    for gate in sink.gates.lock().unwrap().drain(..) {
        let _ = gate.send(());
    }
    queue_drains(&h, &device).await;
    client.shutdown().await;
}
