//! The part of linking a QR scan and a linking code share: the phone
//! issues the companion's device identity in a `<pair-success>`, the
//! companion signs it back, and the device is registered.
//!
//! Owns: making a [`PendingLink`], judging the companion's answer,
//! registering the device and retiring its pairing. Must not touch: the
//! connection's socket (`network::conn` sends and receives), how the
//! phone found the companion (`qr_scan`, `code`).

use std::time::Duration;

use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use crate::proto::ClientPairingProps;
use crate::sim::error::SimError;
use crate::sim::protocol::adv::{issue_device_identity, verify_device_signature};
use crate::sim::protocol::stanzas::{new_iq_id, pair_success};
use crate::sim::routing::watchers::{announce_devices, Change};
use crate::sim::state::{
    Account, Control, Device, LinkReply, Pending, PendingLink, SimState, World,
};
use crate::types::DeviceAddress;
use crate::wire::Node;

/// What a phone's link delivers, whether it came from a QR scan or a
/// linking code: the ADV identity of companion `device_id`, signed by the
/// account and MACed with `adv_secret`, in a `<pair-success>`, and what to
/// register once the companion signs it.
pub(crate) fn new_link(
    account: &Account,
    device_id: u16,
    identity_key: &[u8; 32],
    adv_secret: &[u8; 32],
    now: u64,
    reply: LinkReply,
) -> PendingLink {
    let issued = issue_device_identity(
        &account.signing_key,
        identity_key,
        adv_secret,
        account.raw_id,
        u32::from(device_id),
        now,
    );
    let device = account.device_address(device_id);
    let iq_id = new_iq_id();
    // The phone tells a companion of a migrated account that its chats
    // are on LID (whatsapp-rust pair.rs, WA Web HandlePairSuccess).
    let client_props = account.lid_migrated.then(|| {
        ClientPairingProps {
            is_chat_db_lid_migrated: Some(true),
        }
        .encode_to_vec()
    });
    let node = pair_success(
        &iq_id,
        &issued.hmac_container,
        &device.jid(),
        &account.lid_jid(device_id),
        client_props,
    );
    PendingLink {
        device,
        iq_id,
        node,
        issued,
        reply,
    }
}

/// Sends `order` to a pairing connection and waits for the outcome on
/// `answer`. The connection answers by its own deadlines; `guard` only
/// keeps this from waiting forever.
pub(crate) async fn order_and_wait(
    control: mpsc::Sender<Control>,
    order: Control,
    answer: oneshot::Receiver<Result<DeviceAddress, SimError>>,
    guard: Duration,
) -> Result<DeviceAddress, SimError> {
    control
        .send(order)
        .await
        .map_err(|_| SimError::ConnectionClosed)?;
    match tokio::time::timeout(guard, answer).await {
        Err(_) => Err(SimError::Timeout),
        Ok(Err(_)) => Err(SimError::ConnectionClosed),
        Ok(Ok(outcome)) => outcome,
    }
}

/// Judges the companion's answer to `<pair-success>`: a result carrying
/// `<pair-device-sign><device-identity key-index=..>` whose device
/// signature verifies, or an error IQ (the companion refused).
pub(crate) fn judge_pair_answer(
    link: &PendingLink,
    identity_key: &[u8; 32],
    node: &Node,
) -> Result<(), SimError> {
    if node.get_attr("type") != Some("result") {
        let error = node.child("error");
        let code = error.and_then(|e| e.get_attr("code")).unwrap_or("?");
        let text = error.and_then(|e| e.get_attr("text")).unwrap_or("");
        return Err(SimError::PairingRejected(format!(
            "companion answered error {code} {text}"
        )));
    }
    let identity = node
        .child("pair-device-sign")
        .and_then(|s| s.child("device-identity"))
        .ok_or_else(|| {
            SimError::PairingRejected("result lacks <pair-device-sign><device-identity>".into())
        })?;
    let signed = identity.content_bytes().unwrap_or_default();
    verify_device_signature(
        &link.issued,
        identity_key,
        signed,
        identity.get_attr("key-index"),
    )
    .map_err(|e| SimError::PairingRejected(e.to_string()))
}

/// A link of this connection's pairing is over without a device.
pub(crate) fn end_scan(state: &SimState, conn_id: u64) {
    if let Some(p) = state.lock().pending.get_mut(&conn_id) {
        p.scanning = false;
    }
}

/// The companion signed: registers the device and retires the pairing.
pub(crate) fn complete_link(
    state: &SimState,
    conn_id: u64,
    link: &PendingLink,
) -> Result<DeviceAddress, SimError> {
    let mut world = state.lock();
    let pending = retire_pairing(&mut world, conn_id).ok_or(SimError::ConnectionClosed)?;
    let now = world.now();
    let device = Device::new(pending.registration, link.issued.key_index);
    world
        .account_mut(link.device.user())?
        .link(link.device.device(), device, now);
    announce_devices(&mut world, &link.device, Change::Add);
    Ok(link.device.clone())
}

/// Forgets the pairing of connection `conn_id`: its refs, its linking-code
/// request, and the pairing itself (returned).
pub(crate) fn retire_pairing(world: &mut World, conn_id: u64) -> Option<Pending> {
    world.code_requests.retain(|_, r| r.conn_id != conn_id);
    let pending = world.pending.remove(&conn_id)?;
    for (r, _) in &pending.refs {
        world.refs.remove(r);
    }
    Some(pending)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::sim::accounts::{create_phone, set_lid_migrated};
    use crate::sim::fixtures::state;

    fn client_props(node: &Node) -> Option<ClientPairingProps> {
        let bytes = node
            .child("pair-success")?
            .child("client-props")?
            .content_bytes()?;
        ClientPairingProps::decode(bytes).ok()
    }

    #[test]
    fn pair_success_tells_a_migrated_accounts_companion_its_chats_are_on_lid() {
        let s = state();
        let phone = create_phone(&s, None).unwrap();
        let link = |s: &SimState| {
            let world = s.lock();
            let (reply, _) = oneshot::channel();
            new_link(&world.phones[&phone], 1, &[1; 32], &[2; 32], 0, reply).node
        };
        assert!(client_props(&link(&s)).is_none());
        set_lid_migrated(&s, &phone, true).unwrap();
        let props = client_props(&link(&s)).unwrap();
        assert_eq!(props.is_chat_db_lid_migrated, Some(true));
    }
}
