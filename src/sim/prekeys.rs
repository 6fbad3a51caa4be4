//! The prekey store: what companions upload, how many are left, and the
//! bundles senders fetch to start a Signal session (phones mint a fresh
//! one-time prekey for every fetch).
//!
//! Owns: the rules of the store (an upload must be for the device's own
//! identity; at most `MAX_STORED_PREKEYS` per device; a bundle uses up one
//! one-time prekey; a device running low is told to upload more) and the
//! digest of what it holds. Must not touch: the stanza shapes
//! (`protocol::prekeys`), sessions.

use sha1::{Digest as _, Sha1};

use crate::signal::PreKeyBundle;
use crate::sim::protocol::hello::SignedPreKey;
use crate::sim::protocol::prekeys::Upload;
use crate::sim::protocol::stanzas::notification;
use crate::sim::state::{SimState, World};
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// Most one-time prekeys kept per device; older ones are dropped first.
const MAX_STORED_PREKEYS: usize = 2000;
/// Below this many one-time prekeys the server tells a device to upload
/// more (whatsmeow's `MinPreKeyCount` is 5).
const LOW_PREKEYS: usize = 5;

/// Number of one-time prekeys the server holds for the device.
pub(crate) fn prekey_count(state: &SimState, device: &DeviceAddress) -> usize {
    state.lock().device(device).map_or(0, |d| d.prekeys.len())
}

/// Stores an upload; `Err` when the identity is not the device's.
pub(crate) fn store_prekeys(
    state: &SimState,
    device: &DeviceAddress,
    upload: Upload,
) -> Result<(), &'static str> {
    let mut world = state.lock();
    let device = world.device_mut(device).ok_or("device not linked")?;
    if upload.identity.is_some_and(|k| k != device.identity_key) {
        return Err("identity key differs from the registered one");
    }
    if let Some(signed) = upload.signed {
        device.signed_prekey = signed;
    }
    let keys = upload.keys;
    device
        .prekeys
        .retain(|(kid, _)| !keys.iter().any(|(n, _)| n == kid));
    device.prekeys.extend(keys);
    let excess = device.prekeys.len().saturating_sub(MAX_STORED_PREKEYS);
    device.prekeys.drain(..excess);
    Ok(())
}

/// What the server holds of a device's keys, as the digest query reports
/// it: its registration, identity, signed prekey, the ids of the one-time
/// prekeys left and a SHA-1 over the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyDigest {
    pub registration_id: u32,
    pub identity: [u8; 32],
    pub signed: SignedPreKey,
    pub prekey_ids: Vec<u32>,
    /// SHA-1 of identity ‖ signed prekey ‖ its signature ‖ every one-time
    /// prekey's public key in `prekey_ids` order (wacore `prekeys.rs`
    /// compute_key_bundle_digest, WA Web `validateLocalKeyBundle`).
    pub hash: [u8; 20],
}

/// The digest of the keys the server holds for `device` (`None` when it
/// holds no record of it).
pub(crate) fn key_digest(state: &SimState, device: &DeviceAddress) -> Option<KeyDigest> {
    let world = state.lock();
    let d = world.device(device)?;
    let mut sha = Sha1::new();
    sha.update(d.identity_key);
    sha.update(d.signed_prekey.public);
    sha.update(d.signed_prekey.signature);
    for (_, key) in &d.prekeys {
        sha.update(key);
    }
    Some(KeyDigest {
        registration_id: d.registration_id,
        identity: d.identity_key,
        signed: d.signed_prekey.clone(),
        prekey_ids: d.prekeys.iter().map(|(id, _)| *id).collect(),
        hash: sha.finalize().into(),
    })
}

/// Bundles of the devices `jids` name, using up one one-time prekey each
/// (`None` for what names no known device).
pub(crate) fn take_bundles(state: &SimState, jids: &[Option<Jid>]) -> Vec<Option<PreKeyBundle>> {
    let mut world = state.lock();
    jids.iter()
        .map(|jid| {
            let target = world.resolve(jid.as_ref()?)?;
            take_bundle(&mut world, &target)
        })
        .collect()
}

/// A bundle to start a session with `target`, using up one of its
/// one-time prekeys (phones mint a fresh one for every request).
pub(crate) fn take_bundle(world: &mut World, target: &DeviceAddress) -> Option<PreKeyBundle> {
    let now = world.now();
    let account = world.phones.get_mut(target.user())?;
    if target.device() == 0 {
        return Some(account.phone_bundle());
    }
    let device = account.devices.get_mut(&target.device())?;
    let one_time_prekey = (!device.prekeys.is_empty()).then(|| device.prekeys.remove(0));
    let bundle = device.bundle(one_time_prekey);
    let left = device.prekeys.len();
    if one_time_prekey.is_some() && left < LOW_PREKEYS {
        // Tell the device, if it is online, to upload more.
        if let Some(deliver) = world.online(target) {
            let count = Node::new("count").attr("value", left.to_string());
            let (_, notice) = notification(&Jid::server(), "encrypt", now, vec![count]);
            let _ = deliver.send(notice);
        }
    }
    Some(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::accounts::create_phone;
    use crate::sim::fixtures::{device, link_directly, registration, state};

    #[tokio::test]
    async fn prekeys_are_counted_and_bound_to_the_identity() {
        let s = state();
        let phone = create_phone(&s, None).unwrap();
        let id = link_directly(&s, &phone, registration([1; 32])).unwrap();
        let address = DeviceAddress::pn(phone.clone(), id).unwrap();
        assert_eq!(prekey_count(&s, &address), 0);
        let keys: Vec<_> = (1..=30).map(|i| (i, [i as u8; 32])).collect();
        let upload = |identity, keys| Upload {
            identity,
            signed: None,
            keys,
        };
        store_prekeys(&s, &address, upload(Some([2; 32]), keys.clone())).unwrap();
        assert_eq!(prekey_count(&s, &address), 30);
        // Re-uploading the same ids does not double count.
        store_prekeys(&s, &address, upload(None, keys)).unwrap();
        assert_eq!(prekey_count(&s, &address), 30);
        assert!(store_prekeys(&s, &address, upload(Some([7; 32]), vec![])).is_err());
        assert_eq!(device(&s, &phone, id).unwrap().registration_id, 7);
    }
}
