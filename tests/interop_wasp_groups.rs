//! wasp's groups checked against an independent client: a wasp session,
//! simulated phones and a `whatsapp-rust` 0.7 peer are members of one
//! group, and every member decrypts every other member's texts — in a
//! group the wasp session created (phone-number addressing), after it adds
//! and removes members, and in a LID-addressed group a phone created.
//!
//! This is the check that wasp's sender keys, its `skmsg` stanza, the
//! pairwise distribution copies and its reading of other clients' group
//! messages are WhatsApp's, not only the simulator's: whatsapp-rust's
//! group code was written against the real server.

mod harness;
mod interop;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use whatsapp_rust::types::events::Event as PeerEvent;

use interop::admin::AdminClient;
use interop::link::{link_fresh_peer, next_text_info, wait_for_phone_text, SHORT_HANG_GUARD};
use wasp::client::groups::ParticipantAction;
use wasp::client::Event;

/// The next group text whatsapp-rust decrypts: (text, sender user, chat).
async fn peer_group_text(
    events: &mut mpsc::UnboundedReceiver<Arc<PeerEvent>>,
) -> Result<(String, String, String)> {
    let (text, info) = next_text_info(events).await?;
    if !info.source.is_group {
        bail!(
            "expected a group text, got {text:?} in {}",
            info.source.chat
        );
    }
    Ok((
        text,
        info.source.sender.user.to_string(),
        info.source.chat.to_string(),
    ))
}

/// whatsapp-rust sends `text` to `group`.
async fn peer_send(client: &whatsapp_rust::client::Client, group: &str, text: &str) -> Result<()> {
    let jid: whatsapp_rust::Jid = group.parse()?;
    tokio::time::timeout(SHORT_HANG_GUARD, client.send_text(jid, text))
        .await
        .context("whatsapp-rust send hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send {text:?}: {e}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasp_group_is_read_by_whatsapp_rust_and_phones_through_member_changes() -> Result<()> {
    interop::init_tracing();
    let h = harness::Harness::new().await;
    let admin = AdminClient::new(&h.sim.http_url())?;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let bob = admin.create_phone().await?;
    let carol = admin.create_phone().await?;
    let walt_phone = admin.create_phone().await?;
    let mut walt = link_fresh_peer(&h.sim, &admin, &walt_phone, interop::peer::new_store()).await?;

    // The wasp session creates the group with Bob's phone and Walt's
    // account (whose whatsapp-rust companion is a member device).
    let group = alice
        .client
        .create_group("Team", &[bob.clone(), walt_phone.clone()])
        .await?;
    let gid = group.jid.to_string();

    // wasp -> the group: whatsapp-rust takes our sender key from its
    // pairwise copy and decrypts the skmsg; so does Bob's phone.
    alice.client.send_text(&gid, "hello from wasp").await?;
    let (text, sender, chat) = peer_group_text(&mut walt.events).await?;
    assert_eq!(
        (text.as_str(), sender.as_str()),
        ("hello from wasp", alice_phone.as_str())
    );
    assert_eq!(chat, gid);
    wait_for_phone_text(&admin, &bob, "hello from wasp").await?;

    // A second text goes out on the same key (no new distribution).
    alice.client.send_text(&gid, "again from wasp").await?;
    let (text, _, _) = peer_group_text(&mut walt.events).await?;
    assert_eq!(text, "again from wasp");

    // whatsapp-rust -> the group: wasp reads its key and its skmsg.
    peer_send(&walt.client, &gid, "hello from whatsapp-rust").await?;
    let got = alice.next_message().await;
    assert_eq!(got.text, "hello from whatsapp-rust");
    assert_eq!(got.chat.to_string(), gid);
    assert_eq!(got.sender.user, walt_phone);
    assert!(!got.from_me);

    // A phone -> the group: both clients read it.
    admin.phone_send(&bob, &gid, "hello from bob").await?;
    let got = alice.next_message().await;
    assert_eq!(
        (got.text.as_str(), got.sender.user.as_str()),
        ("hello from bob", bob.as_str())
    );
    let (text, sender, _) = peer_group_text(&mut walt.events).await?;
    assert_eq!(
        (text.as_str(), sender.as_str()),
        ("hello from bob", bob.as_str())
    );

    // Carol is added by wasp: she gets our key with the next text, and
    // whatsapp-rust hands her its own.
    let added = alice
        .client
        .update_group_participants(&gid, ParticipantAction::Add, std::slice::from_ref(&carol))
        .await?;
    assert!(added.iter().all(|r| r.error.is_none()), "{added:?}");
    alice.client.send_text(&gid, "welcome carol").await?;
    wait_for_phone_text(&admin, &carol, "welcome carol").await?;
    let (text, _, _) = peer_group_text(&mut walt.events).await?;
    assert_eq!(text, "welcome carol");
    admin.phone_send(&carol, &gid, "thanks from carol").await?;
    let got = alice.next_message().await;
    assert_eq!(got.text, "thanks from carol");
    let (text, _, _) = peer_group_text(&mut walt.events).await?;
    assert_eq!(text, "thanks from carol");

    // Bob is removed by wasp: wasp's next texts use a new key he never got.
    let removed = alice
        .client
        .update_group_participants(&gid, ParticipantAction::Remove, std::slice::from_ref(&bob))
        .await?;
    assert!(removed.iter().all(|r| r.error.is_none()), "{removed:?}");
    alice.client.send_text(&gid, "without bob").await?;
    let (text, _, _) = peer_group_text(&mut walt.events).await?;
    assert_eq!(text, "without bob");
    wait_for_phone_text(&admin, &carol, "without bob").await?;
    let bobs: Vec<String> = admin.phone_texts(&bob).await?;
    assert!(
        !bobs.iter().any(|t| t == "without bob"),
        "a removed member read a later text: {bobs:?}"
    );

    assert_eq!(walt.http.attempts(), Vec::<String>::new());
    walt.handle.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lid_group_works_between_wasp_whatsapp_rust_and_a_phone() -> Result<()> {
    interop::init_tracing();
    let h = harness::Harness::new().await;
    let admin = AdminClient::new(&h.sim.http_url())?;
    let (mut alice, alice_phone, _) = h.linked("alice").await;
    let alice_lid = admin.lid_status(&alice_phone).await?.lid;
    let bob = admin.create_phone().await?;
    let bob_lid = admin.lid_status(&bob).await?.lid;
    let walt_phone = admin.create_phone().await?;
    let walt_lid = admin.lid_status(&walt_phone).await?.lid;
    let mut walt = link_fresh_peer(&h.sim, &admin, &walt_phone, interop::peer::new_store()).await?;

    let group = admin
        .create_group_addressed(
            &bob,
            "Lid",
            &[alice_phone.as_str(), walt_phone.as_str()],
            "lid",
        )
        .await?;
    let gid = group.id.clone();
    alice
        .next_matching(|e| matches!(e, Event::GroupCreated { .. }).then_some(()))
        .await;

    // The phone -> the group: members are named by LID, the number beside.
    admin.phone_send(&bob, &gid, "lid hello").await?;
    let got = alice.next_message().await;
    assert_eq!(got.text, "lid hello");
    assert_eq!(got.chat.to_string(), gid);
    assert_eq!(got.sender.to_non_ad().to_string(), bob_lid);
    assert_eq!(
        got.sender_pn.map(|j| j.to_string()),
        Some(format!("{bob}@s.whatsapp.net"))
    );
    let (text, _, _) = peer_group_text(&mut walt.events).await?;
    assert_eq!(text, "lid hello");

    // wasp -> the group, by its own LID: both read it.
    alice.client.send_text(&gid, "wasp in a lid group").await?;
    let (text, sender, _) = peer_group_text(&mut walt.events).await?;
    assert_eq!(text, "wasp in a lid group");
    assert_eq!(format!("{sender}@lid"), alice_lid);
    let got = wait_for_phone_text(&admin, &bob, "wasp in a lid group").await?;
    let alice_lid_user = alice_lid.trim_end_matches("@lid");
    assert!(
        got.from.starts_with(&format!("{alice_lid_user}:")),
        "{got:?}"
    );

    // whatsapp-rust -> the group: wasp reads it, sender by LID.
    peer_send(&walt.client, &gid, "lid answer").await?;
    let got = alice.next_message().await;
    assert_eq!(got.text, "lid answer");
    assert_eq!(got.sender.to_non_ad().to_string(), walt_lid);

    walt.handle.shutdown().await;
    Ok(())
}
