//! Linking a `whatsapp-rust` peer to the simulator through a simulated
//! phone's admin API, waiting for it, and reading the texts it receives:
//! what every interop test does first.
// Each test binary uses a part of this.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;
use wasp::sim::SimHandle;
use whatsapp_rust::bot::BotHandle;
use whatsapp_rust::client::Client;
use whatsapp_rust::types::events::Event;

use super::admin::{AdminClient, LinkedDevice};
use super::peer::RefusingHttpClient;

/// Hang guard only (never a timing assertion). Without the phone's app-state
/// key share (fresh link) or a push name from `critical_block` (every later
/// login), whatsapp-rust would wait 10 s before Connected; the simulator
/// provides both, so this only has to outlast a hang.
pub const LINK_HANG_GUARD: Duration = Duration::from_secs(60);

/// Hang guard for small follow-up checks.
pub const SHORT_HANG_GUARD: Duration = Duration::from_secs(20);

/// A text whatsapp-rust received.
pub struct PeerText {
    pub id: String,
    pub text: String,
    pub sender_user: String,
}

/// Waits for the next text message event of the peer.
pub async fn next_text(events: &mut mpsc::UnboundedReceiver<Arc<Event>>) -> Result<PeerText> {
    let (text, info) = next_text_info(events).await?;
    Ok(PeerText {
        id: info.id.to_string(),
        text,
        sender_user: info.source.sender.user.to_string(),
    })
}

/// A whatsapp-rust peer that linked by QR and reached Connected.
pub struct LinkedPeer {
    pub handle: BotHandle,
    pub client: Arc<Client>,
    pub http: RefusingHttpClient,
    /// Device JID the simulator's scan endpoint returned.
    pub scanned_device: String,
    /// Device JID whatsapp-rust stored from `<pair-success>`.
    pub paired_id: String,
    /// Its events after Connected.
    pub events: mpsc::UnboundedReceiver<Arc<Event>>,
}

/// Starts an unpaired peer on `store`, has `phone` scan its first QR, and
/// waits for Connected. On failure the peer is shut down before returning.
pub async fn link_fresh_peer(
    sim: &SimHandle,
    admin: &AdminClient,
    phone: &str,
    store: Arc<dyn whatsapp_rust::store::traits::Backend>,
) -> Result<LinkedPeer> {
    let mut peer = super::peer::build_peer(&sim.ws_url(), store).await?;
    let client = peer.bot.client();
    let handle = peer.bot.spawn();

    let started = Instant::now();
    let linked = tokio::time::timeout(
        LINK_HANG_GUARD,
        link_until_connected(&mut peer.events, admin, phone),
    )
    .await
    .context("whatsapp-rust never reached Connected (hang guard)")
    .and_then(|linked| linked);
    let (scanned_device, paired_id, seen) = match linked {
        Ok(linked) => linked,
        Err(e) => {
            handle.shutdown().await;
            return Err(e);
        }
    };
    tracing::info!(
        elapsed = ?started.elapsed(),
        events = ?seen,
        "whatsapp-rust linked and reached Connected against the simulator"
    );
    Ok(LinkedPeer {
        handle,
        client,
        http: peer.http,
        scanned_device,
        paired_id,
        events: peer.events,
    })
}

/// Drives the pairing from the phone's side and waits for Connected.
/// Returns the scanned device JID, the JID whatsapp-rust paired as, and the
/// names of the events seen (for diagnosis).
pub async fn link_until_connected(
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
    admin: &AdminClient,
    phone: &str,
) -> Result<(String, String, Vec<String>)> {
    let mut scanned_device: Option<String> = None;
    let mut paired_id: Option<String> = None;
    let mut seen = Vec::new();

    while let Some(event) = events.recv().await {
        seen.push(event_name(&event));
        match &*event {
            Event::PairingQrCode(qr) => {
                // The phone scans the first code only; later ones are the
                // client's rotation and must not link a second device.
                if scanned_device.is_none() {
                    let device = admin
                        .scan(phone, &qr.code)
                        .await
                        .with_context(|| format!("phone {phone} could not scan {:?}", qr.code))?;
                    scanned_device = Some(device);
                }
            }
            Event::PairSuccess(success) => paired_id = Some(success.id.to_string()),
            Event::Connected(_) => {
                let scanned_device =
                    scanned_device.context("Connected arrived before any QR was scanned")?;
                let paired_id =
                    paired_id.context("Connected arrived without a PairSuccess event")?;
                return Ok((scanned_device, paired_id, seen));
            }
            other => fail_on_terminal_event(other, &seen)?,
        }
    }
    bail!("whatsapp-rust's event stream ended before Connected: {seen:?}")
}

/// Waits for Connected from a peer that is already paired: any QR means it
/// did not use its stored credentials.
pub async fn wait_connected_without_pairing(
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    while let Some(event) = events.recv().await {
        seen.push(event_name(&event));
        match &*event {
            Event::PairingQrCode(_) => {
                bail!("restarted peer asked for a new QR: {seen:?}")
            }
            Event::Connected(_) => return Ok(seen),
            other => fail_on_terminal_event(other, &seen)?,
        }
    }
    bail!("whatsapp-rust's event stream ended before Connected: {seen:?}")
}

/// Turns the events after which the peer will not reach Connected into
/// errors.
pub fn fail_on_terminal_event(event: &Event, seen: &[String]) -> Result<()> {
    match event {
        Event::PairError(e) => bail!("whatsapp-rust rejected the pairing: {}", e.error),
        Event::PairingQrCodesExhausted(_) => bail!("all QR codes expired unscanned: {seen:?}"),
        Event::LoggedOut(out) => bail!("whatsapp-rust was logged out: {:?}", out.reason),
        Event::ConnectFailure(failure) => bail!("connect failure: {:?}", failure.reason),
        Event::ClientOutdated(_) => bail!("simulator rejected the client as outdated"),
        Event::TemporaryBan(ban) => bail!("simulator sent a temporary ban: {:?}", ban.code),
        Event::StreamReplaced(_) => bail!("simulator replaced the stream (conflict)"),
        _ => Ok(()),
    }
}

/// Polls the device list until `jid` shows up connected (or the guard ends),
/// returning the last state seen for it.
pub async fn wait_for_device_connected(
    admin: &AdminClient,
    phone: &str,
    jid: &str,
) -> Result<LinkedDevice> {
    let deadline = Instant::now() + SHORT_HANG_GUARD;
    loop {
        let devices = admin.devices(phone).await?;
        let found = devices.iter().find(|d| d.jid == jid).cloned();
        match found {
            Some(device) if device.connected || Instant::now() >= deadline => return Ok(device),
            None if Instant::now() >= deadline => {
                bail!("simulator does not list device {jid} for {phone}: {devices:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The variant name of an event, for the diagnostic trail.
pub fn event_name(event: &Event) -> String {
    let debug = format!("{event:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Polls the texts phone `phone` decrypted until one reads `text` (or the
/// hang guard ends).
pub async fn wait_for_phone_text(
    admin: &AdminClient,
    phone: &str,
    text: &str,
) -> Result<super::admin::PhoneText> {
    let deadline = Instant::now() + SHORT_HANG_GUARD;
    loop {
        let texts = admin.phone_messages(phone).await?;
        if let Some(found) = texts.into_iter().find(|t| t.text == text) {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            bail!("phone {phone} never decrypted {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the next text the peer decrypts and returns it with its
/// message info (sender, chat, the sender in the other namespace).
pub async fn next_text_info(
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
) -> Result<(String, Arc<whatsapp_rust::types::message::MessageInfo>)> {
    use whatsapp_rust::wacore::proto_helpers::MessageExt;
    let wait = async {
        while let Some(event) = events.recv().await {
            if let Event::UndecryptableMessage(u) = &*event {
                bail!("whatsapp-rust could not decrypt message {}", u.info.id);
            }
            for m in event.messages() {
                if let Some(text) = m.message.text_content() {
                    return Ok((text.to_string(), m.info.clone()));
                }
            }
        }
        bail!("whatsapp-rust's event stream ended")
    };
    tokio::time::timeout(SHORT_HANG_GUARD, wait)
        .await
        .context("whatsapp-rust received no text (hang guard)")?
}

/// A fresh simulator with one phone (returned by number) and a
/// whatsapp-rust peer linked to it.
pub async fn sim_with_peer() -> Result<(SimHandle, AdminClient, String, LinkedPeer)> {
    sim_with_peer_on(super::peer::new_store()).await
}

/// [`sim_with_peer`] with the peer on `store`.
pub async fn sim_with_peer_on(
    store: Arc<dyn whatsapp_rust::store::traits::Backend>,
) -> Result<(SimHandle, AdminClient, String, LinkedPeer)> {
    super::init_tracing();
    let sim = wasp::sim::start(wasp::sim::SimConfig::default()).await?;
    let admin = AdminClient::new(&sim.http_url())?;
    let phone = admin.create_phone().await?;
    let peer = link_fresh_peer(&sim, &admin, &phone, store).await?;
    Ok((sim, admin, phone, peer))
}
