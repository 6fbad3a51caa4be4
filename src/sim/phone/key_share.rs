//! What the phone owes each new companion over its Signal session: the
//! app-state key share (once, right after linking) and its push-name
//! patch for the companion's first app-state sync.
//!
//! Owns: when the share is due and which session it rides on. Must not
//! touch: the share's and patch's shapes (`protocol::key_share`,
//! `protocol::app_state`), delivery (the caller queues the stanza).

use crate::sim::protocol::app_state;
use crate::sim::protocol::key_share::KeyShareOrder;
use crate::sim::state::SimState;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// The phone's app-state key share for companion `device`, once: the
/// phone sends it right after linking and the server holds it until the
/// companion comes online. `None` once sent (or for unknown devices).
pub(crate) fn key_share_stanza(state: &SimState, device: &DeviceAddress) -> Option<Node> {
    let mut world = state.lock();
    let now = world.now();
    let account = world.phones.get_mut(device.user())?;
    let companion = account.devices.get_mut(&device.device())?;
    if !std::mem::take(&mut companion.key_share_pending) {
        return None;
    }
    // At pairing time the companion has published only its signed
    // prekey: no one-time prekey.
    let companion = companion.bundle(None);
    let order = KeyShareOrder {
        // A migrated account's phone speaks as its LID.
        phone: account.address_in(0, account.addressing()).user_jid(),
        phone_identity: account.identity.clone(),
        phone_registration_id: account.registration_id,
        companion,
        key: account.app_state_key.clone(),
    };
    let record = account.signal.sessions.entry(device.clone()).or_default();
    match order.to_stanza(record, now) {
        Ok(stanza) => Some(stanza),
        Err(e) => {
            tracing::warn!(error = %e, "app-state key share not sent");
            None
        }
    }
}

/// The phone's `critical_block` patch setting its push name.
pub(crate) fn push_name_patch(state: &SimState, phone: &str) -> Option<Vec<u8>> {
    let key = state.lock().phones.get(phone)?.app_state_key.clone();
    // Encrypting outside the lock.
    Some(app_state::push_name_patch(&key, &format!("Sim {phone}")))
}
