//! Independent check of the simulator: a `whatsapp-rust` 0.7 client, an
//! implementation written by other people, links to our simulated WhatsApp
//! server through the simulated phone's admin API and reaches "connected".
//!
//! If the simulator accepted our own client but rejected this one (or the
//! reverse), one side is wrong about the protocol.
//!
//! The path exercised, from whatsapp-rust's side:
//!   1. XX handshake with a registration ClientPayload; the simulator's
//!      certificate chain is structurally checked (signatures skipped by the
//!      `danger-skip-cert-chain-verify` dev feature: the root is not WhatsApp's);
//!   2. `<iq><pair-device><ref/>…` → QR strings (`ref,noise,identity,adv,type`);
//!      the test hands the first one to `POST /sim/phones/{phone}/scan`;
//!   3. `<pair-success>` verified (ADV HMAC + account signature), answered
//!      with `<pair-device-sign>`; then `<stream:error code="515"/>`;
//!   4. reconnect with a login ClientPayload, `<success>`, the post-login
//!      IQs (prekey upload, passive→active), the phone's queued app-state key
//!      share (Signal `pkmsg`) before the offline marker, the critical
//!      app-state sync (the phone's push-name patch), and only then the
//!      Connected event;
//!   5. (restart test) a new process on the same store resumes with Noise IK
//!      from the cached server certificate; the simulator declines with
//!      XXfallback and the login proceeds without a new QR.

mod harness;
mod interop;

use anyhow::{Context, Result};
use whatsapp_rust::wacore::iq::keepalive::KeepaliveSpec;

use interop::admin::AdminClient;
use interop::link::{
    link_fresh_peer, next_text, sim_with_peer_on, wait_connected_without_pairing,
    wait_for_device_connected, LINK_HANG_GUARD, SHORT_HANG_GUARD,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_links_by_qr_and_reaches_connected() -> Result<()> {
    interop::init_tracing();
    let sim = wasp::sim::start(wasp::sim::SimConfig::default()).await?;
    let admin = AdminClient::new(&sim.http_url())?;
    let phone = admin.create_phone().await?;

    let store = interop::peer::new_store();
    let peer = link_fresh_peer(&sim, &admin, &phone, store.clone()).await?;

    // Both sides agree on which device was linked.
    assert_eq!(
        peer.paired_id, peer.scanned_device,
        "whatsapp-rust stored a different device JID than the simulator linked"
    );

    // The simulator lists the device and sees it online.
    let device = wait_for_device_connected(&admin, &phone, &peer.scanned_device).await?;
    assert!(
        device.connected,
        "simulator does not list {device:?} as connected"
    );
    // The in-process view agrees with what the admin API reported.
    let typed = sim.devices(&phone)?;
    assert!(
        typed
            .iter()
            .any(|d| d.jid == peer.scanned_device && d.connected),
        "SimHandle::devices disagrees with the admin API: {typed:?}"
    );

    // The session is usable: a keepalive ping round-trips through the
    // simulator (the same IQ whatsapp-rust sends every 15-30 s to stay up).
    tokio::time::timeout(SHORT_HANG_GUARD, peer.client.execute(KeepaliveSpec::new()))
        .await
        .context("keepalive ping got no answer (hang guard)")?
        .context("simulator rejected the keepalive ping")?;
    assert!(
        peer.client.is_connected(),
        "peer dropped its connection after login"
    );

    // The simulated phone's app-state key share (a Signal PreKeySignalMessage
    // the simulator encrypts to the companion's registered keys) was
    // decrypted and stored by whatsapp-rust's own Signal implementation.
    let shared_key = store
        .get_latest_sync_key_id()
        .await
        .context("reading whatsapp-rust's app-state key store")?;
    assert!(
        shared_key.is_some(),
        "whatsapp-rust stored no app-state sync key: the phone's key share was not accepted"
    );

    // The phone's push-name patch in `critical_block` (encrypted and MACed
    // with that key: value MAC, LT-hash snapshot MAC, patch MAC) passed
    // whatsapp-rust's verification and was applied.
    assert!(
        !peer.client.push_name().is_empty(),
        "whatsapp-rust did not apply the simulator's critical_block push-name patch"
    );

    // Nothing tried to leave the machine.
    assert_eq!(
        peer.http.attempts(),
        Vec::<String>::new(),
        "whatsapp-rust attempted outbound HTTP during link + login"
    );

    peer.handle.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_logs_in_again_from_its_stored_state() -> Result<()> {
    interop::init_tracing();
    let sim = wasp::sim::start(wasp::sim::SimConfig::default()).await?;
    let admin = AdminClient::new(&sim.http_url())?;
    let phone = admin.create_phone().await?;
    let store = interop::peer::new_store();

    let first = link_fresh_peer(&sim, &admin, &phone, store.clone()).await?;
    let device_jid = first.scanned_device.clone();
    first.handle.shutdown().await;

    // A new process on the same store: it must log in, not ask for a QR.
    // Its first handshake is a Noise IK resume from the cached server
    // certificate, which the simulator answers with XXfallback.
    let mut restarted = interop::peer::build_peer(&sim.ws_url(), store).await?;
    let client = restarted.bot.client();
    let handle = restarted.bot.spawn();
    let seen = tokio::time::timeout(
        LINK_HANG_GUARD,
        wait_connected_without_pairing(&mut restarted.events),
    )
    .await
    .context("restarted whatsapp-rust never reached Connected (hang guard)")?;
    let seen = match seen {
        Ok(seen) => seen,
        Err(e) => {
            handle.shutdown().await;
            return Err(e);
        }
    };
    tracing::info!(events = ?seen, "restarted whatsapp-rust reached Connected");

    let devices = admin.devices(&phone).await?;
    assert_eq!(
        devices.iter().map(|d| d.jid.as_str()).collect::<Vec<_>>(),
        vec![device_jid.as_str()],
        "the restart must reuse the linked device, not link another one"
    );
    let device = wait_for_device_connected(&admin, &phone, &device_jid).await?;
    assert!(
        device.connected,
        "simulator does not list {device:?} as connected"
    );
    assert!(client.is_connected(), "restarted peer is not connected");
    assert_eq!(
        restarted.http.attempts(),
        Vec::<String>::new(),
        "whatsapp-rust attempted outbound HTTP during its restart"
    );

    handle.shutdown().await;
    Ok(())
}

/// The key-bundle digest whatsapp-rust checks its keys against (WA Web's
/// digestKey job): the simulator's answer parses with whatsapp-rust's own
/// spec, names its registration, identity and signed prekey, and its
/// SHA-1 equals the one whatsapp-rust computes over its stored keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_rust_checks_its_key_bundle_against_the_servers_digest() -> Result<()> {
    use whatsapp_rust::wacore::iq::prekeys::DigestKeyBundleSpec;
    use whatsapp_rust::wacore::prekeys::{compute_key_bundle_digest, extract_prekey_public_key};

    let store = interop::peer::new_store();
    let (_sim, _admin, _phone, peer) = sim_with_peer_on(store.clone()).await?;

    let digest = tokio::time::timeout(
        SHORT_HANG_GUARD,
        peer.client.execute(DigestKeyBundleSpec::new()),
    )
    .await
    .context("digest query got no answer (hang guard)")?
    .context("the simulator refused the digest query")?;
    let device = peer.client.persistence_manager().get_device_snapshot();
    assert_eq!(digest.reg_id, device.registration_id);
    let identity = device.identity_key.public_key.public_key_bytes();
    assert_eq!(digest.identity, identity);
    let signed = device.signed_pre_key.public_key.public_key_bytes();
    assert_eq!(digest.skey_pubkey, signed);
    assert_eq!(digest.skey_signature, device.signed_pre_key_signature);
    assert!(
        !digest.prekey_ids.is_empty(),
        "the prekeys whatsapp-rust uploaded at login are listed"
    );

    let stored = store.load_prekeys_batch(&digest.prekey_ids).await?;
    let mut publics = Vec::new();
    for id in &digest.prekey_ids {
        let record = stored
            .iter()
            .find(|(stored_id, _)| stored_id == id)
            .map(|(_, record)| record)
            .with_context(|| format!("whatsapp-rust holds no prekey {id}"))?;
        publics.push(extract_prekey_public_key(record).context("a prekey's public key")?);
    }
    let local =
        compute_key_bundle_digest(identity, signed, &device.signed_pre_key_signature, &publics);
    assert_eq!(
        digest.hash, local,
        "the server's digest differs from whatsapp-rust's"
    );

    peer.handle.shutdown().await;
    Ok(())
}

/// The independent check of our Signal: a wasp session (linked to Alice's
/// simulated phone) and a whatsapp-rust client (linked to Bob's) exchange
/// texts both ways through the simulator, first contact (pkmsg) and then
/// established sessions (msg), and each decrypts the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasp_and_whatsapp_rust_exchange_texts_both_ways() -> Result<()> {
    interop::init_tracing();
    let h = harness::Harness::new().await;
    let admin = AdminClient::new(&h.sim.http_url())?;
    let (mut alice, alice_phone, alice_device) = h.linked("alice").await;
    let bob_phone = admin.create_phone().await?;
    let mut bob = link_fresh_peer(&h.sim, &admin, &bob_phone, interop::peer::new_store()).await?;

    // wasp -> whatsapp-rust, twice (pkmsg, then msg on the same session).
    let mut sent = Vec::new();
    for text in ["hello from wasp", "second from wasp"] {
        let accepted = alice.client.send_text(&bob_phone, text).await?;
        let got = next_text(&mut bob.events).await?;
        assert_eq!(got.text, text);
        assert_eq!(got.id, accepted.id);
        assert_eq!(got.sender_user, alice_phone);
        sent.push(accepted.id);
    }

    // whatsapp-rust confirmed delivery of both (Bob's phone, which got its
    // own copies, confirms too; only the companion's receipts count here).
    let mut from_peer: Vec<wasp::types::MessageId> = Vec::new();
    while !sent.iter().all(|id| from_peer.contains(id)) {
        let (sender, ids) = alice
            .next_matching(|e| match e {
                wasp::client::Event::Receipt {
                    kind: wasp::client::ReceiptKind::Delivered,
                    sender,
                    ids,
                    ..
                } => Some((sender.clone(), ids.clone())),
                _ => None,
            })
            .await;
        if sender == bob.scanned_device {
            from_peer.extend(ids);
        }
    }

    // whatsapp-rust -> wasp, twice.
    let bob_jid: whatsapp_rust::Jid = format!("{bob_phone}@s.whatsapp.net").parse()?;
    for text in ["hello from whatsapp-rust", "second from whatsapp-rust"] {
        let result = tokio::time::timeout(
            SHORT_HANG_GUARD,
            bob.client.send_text(
                format!("{alice_phone}@s.whatsapp.net").parse::<whatsapp_rust::Jid>()?,
                text,
            ),
        )
        .await
        .context("whatsapp-rust send hung (hang guard)")?
        .map_err(|e| anyhow::anyhow!("whatsapp-rust could not send: {e}"))?;
        let got = alice
            .next_matching(|e| match e {
                wasp::client::Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .await;
        assert_eq!(got.text, text);
        assert_eq!(got.chat, bob_jid.to_string());
        assert!(!got.from_me);
        let _ = result;
    }

    // Our device was never dropped for a bad message on either side.
    let devices = admin.devices(&alice_phone).await?;
    assert!(devices.iter().any(|d| d.jid == alice_device && d.connected));
    assert_eq!(bob.http.attempts(), Vec::<String>::new());
    bob.handle.shutdown().await;
    Ok(())
}
