//! LID addressing checked against an independent client: a `whatsapp-rust`
//! 0.7 peer linked to an account whose chats moved to LID ("migrated")
//! exchanges texts with simulated phones, and one that is not migrated is
//! refused where the real server refuses it.
//!
//! What whatsapp-rust relies on, from the simulator's side:
//! - `<pair-success><client-props>` tells it the account is migrated
//!   (whatsapp-rust `pair.rs`), so its DMs go to the contact's LID
//!   (learned from a usync `<lid/>` query) with its own devices by LID;
//! - copies from a migrated phone arrive `from="L@lid"` with `sender_pn`,
//!   from an unmigrated one `from="N@s.whatsapp.net"` with `sender_lid`,
//!   and whatsapp-rust reads the other namespace as the sender's alt;
//! - prekey bundles and Signal sessions of `L:D@lid` devices;
//! - a LID send from an unmigrated account is answered `<ack error="400">`
//!   (whatsapp-rust issue #941), which whatsapp-rust surfaces as a nack;
//! - the phone's `LID_MIGRATION_MAPPING_SYNC` push (our encoding of it)
//!   teaches whatsapp-rust a contact's LID, which it then sends by number.

mod interop;

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::Jid;

use interop::admin::AdminClient;
use interop::link::{
    link_fresh_peer, next_text_info, sim_with_peer, wait_for_phone_text, LinkedPeer,
    SHORT_HANG_GUARD,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_whatsapp_rust_and_phones_exchange_lid_addressed_texts() -> Result<()> {
    interop::init_tracing();
    let sim = wasp::sim::start(wasp::sim::SimConfig::default()).await?;
    let admin = AdminClient::new(&sim.http_url())?;
    let alice = admin.create_phone().await?;
    let alice_lid = admin.set_lid_migrated(&alice, true).await?.lid;
    let mut peer = link_fresh_peer(&sim, &admin, &alice, interop::peer::new_store()).await?;
    assert!(
        peer.client.is_lid_migrated().await,
        "whatsapp-rust did not read the migration from <client-props>"
    );
    let bob = admin.create_phone().await?;
    let bob_lid = admin.lid_status(&bob).await?.lid;

    // whatsapp-rust -> Bob's phone, given his phone number: it looks up his
    // LID and sends LID-addressed; the phone sees Alice's LID device.
    let bob_pn: Jid = format!("{bob}@s.whatsapp.net").parse()?;
    tokio::time::timeout(
        SHORT_HANG_GUARD,
        peer.client.send_text(bob_pn, "to bob by lid"),
    )
    .await
    .context("whatsapp-rust send hung (hang guard)")?
    .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send: {e}"))?;
    let got = wait_for_phone_text(&admin, &bob, "to bob by lid").await?;
    let device = peer
        .scanned_device
        .split_once(':')
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(id, _)| id.to_owned())
        .context("device id of the linked peer")?;
    let alice_lid_user = alice_lid.trim_end_matches("@lid");
    assert_eq!(got.from, format!("{alice_lid_user}:{device}@lid"));
    assert_eq!(got.chat, alice_lid);

    // Bob's phone (not migrated) answers by phone number: whatsapp-rust
    // sees Alice's chat with Bob's phone number, and his LID beside it.
    admin.phone_send(&bob, &alice, "from bob by number").await?;
    let (text, info) = next_text_info(&mut peer.events).await?;
    assert_eq!(text, "from bob by number");
    assert_eq!(
        info.source.sender.to_string(),
        format!("{bob}@s.whatsapp.net")
    );
    assert_eq!(
        info.source.sender_alt.as_ref().map(ToString::to_string),
        Some(bob_lid.clone())
    );

    // Once Bob's account is migrated too, his phone speaks LID: the copy
    // comes from his LID with his phone number beside it, over the same
    // Signal session whatsapp-rust keeps with his phone.
    admin.set_lid_migrated(&bob, true).await?;
    admin.phone_send(&bob, &alice, "from bob by lid").await?;
    let (text, info) = next_text_info(&mut peer.events).await?;
    assert_eq!(text, "from bob by lid");
    assert_eq!(info.source.sender.to_string(), bob_lid);
    assert_eq!(
        info.source.sender_alt.as_ref().map(ToString::to_string),
        Some(format!("{bob}@s.whatsapp.net"))
    );

    // And whatsapp-rust answers into the LID chat.
    let bob_lid_jid: Jid = bob_lid.parse()?;
    tokio::time::timeout(
        SHORT_HANG_GUARD,
        peer.client.send_text(bob_lid_jid, "again"),
    )
    .await
    .context("whatsapp-rust send hung (hang guard)")?
    .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send: {e}"))?;
    wait_for_phone_text(&admin, &bob, "again").await?;

    assert_eq!(peer.http.attempts(), Vec::<String>::new());
    peer.handle.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_whatsapp_rust_gets_400_for_a_lid_send() -> Result<()> {
    let (_sim, admin, _carol, mut peer) = sim_with_peer().await?;
    assert!(!peer.client.is_lid_migrated().await);
    let dave = admin.create_phone().await?;
    let dave_lid = admin.lid_status(&dave).await?.lid;

    // A LID whatsapp-rust has no phone number for stays a LID send, which
    // the server refuses for an account still on phone numbers.
    let to: Jid = dave_lid.parse()?;
    let sent = tokio::time::timeout(SHORT_HANG_GUARD, peer.client.send_text(to, "refused"))
        .await
        .context("whatsapp-rust send hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send: {e}"))?;
    let error = next_ack_error(&mut peer.events, &sent.message_id).await?;
    assert_eq!(error.as_deref(), Some("400"));
    assert!(admin.phone_messages(&dave).await?.is_empty());

    // By phone number it goes through.
    let dave_pn: Jid = format!("{dave}@s.whatsapp.net").parse()?;
    tokio::time::timeout(
        SHORT_HANG_GUARD,
        peer.client.send_text(dave_pn, "by number"),
    )
    .await
    .context("whatsapp-rust send hung (hang guard)")?
    .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send: {e}"))?;
    let got = wait_for_phone_text(&admin, &dave, "by number").await?;
    assert!(got.from.ends_with("@s.whatsapp.net"), "{got:?}");

    peer.handle.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_learns_lids_from_the_phones_push_and_sends_by_number() -> Result<()> {
    let (_sim, admin, carol, peer) = sim_with_peer().await?;
    let dave = admin.create_phone().await?;
    let dave_lid = admin.lid_status(&dave).await?.lid;
    let dave_pn: Jid = format!("{dave}@s.whatsapp.net").parse()?;

    // Carol's phone pushes Dave's LID: whatsapp-rust reads our
    // LID_MIGRATION_MAPPING_SYNC and keeps the pair.
    assert_eq!(admin.share_lid_mappings(&carol, &[&dave]).await?, 1);
    assert_eq!(learned_lid(&peer, &dave_pn).await?, dave_lid);

    // Now a send to Dave's LID goes to his number (the account is not
    // migrated), where without the pair the server refused it.
    let to: Jid = dave_lid.parse()?;
    tokio::time::timeout(SHORT_HANG_GUARD, peer.client.send_text(to, "by your lid"))
        .await
        .context("whatsapp-rust send hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send: {e}"))?;
    let got = wait_for_phone_text(&admin, &dave, "by your lid").await?;
    assert!(got.from.ends_with("@s.whatsapp.net"), "{got:?}");

    peer.handle.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_learns_lids_from_our_history_chunk() -> Result<()> {
    let (_sim, admin, carol, peer) = sim_with_peer().await?;
    let dave = admin.create_phone().await?;
    let dave_lid = admin.lid_status(&dave).await?.lid;
    let dave_pn: Jid = format!("{dave}@s.whatsapp.net").parse()?;

    // Carol's phone uploads a history chunk naming Dave's LID and tells
    // its companion: whatsapp-rust downloads it from the simulator's
    // media host, inflates and decodes it, keeps the pair, and confirms
    // the chunk with a hist_sync receipt — the simulator's chunk and
    // notification are what a real client reads.
    assert_eq!(admin.share_history(&carol, &[&dave]).await?, 1);
    assert_eq!(learned_lid(&peer, &dave_pn).await?, dave_lid);
    tokio::time::timeout(SHORT_HANG_GUARD, async {
        loop {
            if admin
                .receipt_kinds(&carol)
                .await?
                .iter()
                .any(|k| k == "hist_sync")
            {
                return anyhow::Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .context("no hist_sync receipt from whatsapp-rust (hang guard)")??;

    peer.handle.shutdown().await;
    Ok(())
}

/// The LID whatsapp-rust keeps for `pn` (`<n>@lid`), once it has one.
async fn learned_lid(peer: &LinkedPeer, pn: &Jid) -> Result<String> {
    let entry = tokio::time::timeout(SHORT_HANG_GUARD, async {
        loop {
            if let Ok(Some(entry)) = peer.client.get_lid_pn_entry(pn).await {
                return entry;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .context("whatsapp-rust never learned the LID (hang guard)")?;
    Ok(format!("{}@lid", entry.lid))
}

/// The error of the server's ack for message `id`, as whatsapp-rust's
/// `ServerAck` event reports it.
async fn next_ack_error(
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
    id: &str,
) -> Result<Option<String>> {
    let wait = async {
        while let Some(event) = events.recv().await {
            if let Event::ServerAck(ack) = &*event {
                if ack.id == id {
                    return Ok(ack.error.clone());
                }
            }
        }
        bail!("whatsapp-rust's event stream ended")
    };
    tokio::time::timeout(SHORT_HANG_GUARD, wait)
        .await
        .context("no server ack for the message (hang guard)")?
}
