//! Accounts and their devices as the rest of the network sees them:
//! creating a phone, listing its devices, its device list as usync
//! reports it (with the signed key index list), unlinking a companion.
//!
//! Owns: those operations on the account tables. Must not touch: how a
//! companion gets linked (`linking`), connections beyond telling one it
//! was unlinked, prekeys, messages.

use rand::Rng as _;
use serde::Serialize;

use crate::sim::error::SimError;
use crate::sim::routing::watchers::{announce_devices, Change};
use crate::sim::state::{Account, Control, Live, SimState};
use crate::types::{DeviceAddress, Jid};

/// Shortest and longest phone numbers the simulator accepts, in digits.
/// 6 is below E.164 practice on purpose: tests and scripts have used
/// short numbers since the first admin API.
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 6..=15;

/// A linked device as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub jid: String,
    pub connected: bool,
}

/// An account's LID and whether its 1:1 chats moved to it, as
/// `GET`/`POST /sim/phones/{phone}/lid` report them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LidStatus {
    pub phone: String,
    /// `L@lid`.
    pub lid: String,
    pub migrated: bool,
}

/// An account's device list as device-list (usync) queries report it.
pub(crate) struct DeviceList {
    /// The account's phone number.
    pub number: String,
    /// The account's LID.
    pub lid: Jid,
    /// (device id, key index), device 0 first.
    pub devices: Vec<(u16, u32)>,
    /// `ts` and content of `<key-index-list>`; `None` without companions.
    pub key_index_list: Option<(u64, Vec<u8>)>,
}

/// Creates a simulated phone. `phone` must be digits (6 to 15, no leading
/// 0); a random unused number is chosen when it is `None`.
pub(crate) fn create_phone(state: &SimState, phone: Option<String>) -> Result<String, SimError> {
    let mut world = state.lock();
    let number = match phone {
        Some(number) => {
            let address = valid_number(&number)?;
            if world.phones.contains_key(&number) {
                return Err(SimError::PhoneExists(number));
            }
            address
        }
        None => loop {
            // 99x is an unassigned country code: never a real number.
            let candidate = format!("990{:09}", rand::thread_rng().gen_range(0..1_000_000_000));
            if !world.phones.contains_key(&candidate) {
                if let Some(address) = DeviceAddress::pn(candidate, 0) {
                    break address;
                }
            }
        },
    };
    let account = Account::new(number.clone(), world.now());
    let phone = number.user().to_owned();
    world.lids.insert(account.lid_user.clone(), phone.clone());
    world.phones.insert(phone.clone(), account);
    Ok(phone)
}

/// Device 0 of `number` when it is a number the simulator accepts.
fn valid_number(number: &str) -> Result<DeviceAddress, SimError> {
    let plausible = PHONE_DIGITS.contains(&number.len()) && !number.starts_with('0');
    plausible
        .then(|| DeviceAddress::pn(number, 0))
        .flatten()
        .ok_or_else(|| {
            SimError::BadRequest(format!(
                "phone must be 6 to 15 digits without a leading 0, got {number:?}"
            ))
        })
}

/// The phone's linked devices and whether each is connected.
pub(crate) fn devices(state: &SimState, phone: &str) -> Result<Vec<DeviceInfo>, SimError> {
    let world = state.lock();
    let account = world.account(phone)?;
    Ok(account
        .devices
        .keys()
        .map(|&id| {
            let address = account.device_address(id);
            DeviceInfo {
                connected: world.live.contains_key(&address),
                jid: address.to_string(),
            }
        })
        .collect())
}

/// The device list of the account `user` names (by phone number or LID),
/// for device-list queries. `None` for unknown users.
pub(crate) fn device_list(state: &SimState, user: &Jid) -> Option<DeviceList> {
    let world = state.lock();
    let account = world.phones.get(world.resolve(user)?.user())?;
    let mut devices = vec![(0u16, 0u32)];
    devices.extend(account.devices.iter().map(|(&id, d)| (id, d.key_index)));
    // Real servers send the list whenever the account has companions.
    let key_index_list = account.key_index_list();
    Some(DeviceList {
        number: account.number().to_owned(),
        lid: Jid::lid(account.lid_user.clone()),
        devices,
        key_index_list,
    })
}

/// Whether account `phone`'s 1:1 chats are on LID (false for unknown
/// accounts).
pub(crate) fn lid_migrated(state: &SimState, phone: &str) -> bool {
    state
        .lock()
        .phones
        .get(phone)
        .is_some_and(|a| a.lid_migrated)
}

/// The account's LID and migration state.
pub(crate) fn lid_status(state: &SimState, phone: &str) -> Result<LidStatus, SimError> {
    let world = state.lock();
    Ok(status_of(world.account(phone)?))
}

/// Moves account `phone`'s 1:1 chats to LID addressing (or back): from
/// now on its devices must send LID-addressed (its phone does), and its
/// companions learn it at their next pairing (`<client-props>`) or props
/// fetch (the A/B prop).
pub(crate) fn set_lid_migrated(
    state: &SimState,
    phone: &str,
    migrated: bool,
) -> Result<LidStatus, SimError> {
    let mut world = state.lock();
    let account = world.account_mut(phone)?;
    account.lid_migrated = migrated;
    Ok(status_of(account))
}

fn status_of(account: &Account) -> LidStatus {
    LidStatus {
        phone: account.number().to_owned(),
        lid: account.lid_address(0).to_string(),
        migrated: account.lid_migrated,
    }
}

/// Whether the companion still exists (it may be unlinked mid-session).
pub(crate) fn is_linked(state: &SimState, device: &DeviceAddress) -> bool {
    state.lock().device(device).is_some()
}

/// Unlinks companion `device`: its live connection, if any, leaves the
/// registry and gets the order `tell` picks for it; everyone who holds
/// the account's device list is told. Returns false when there was no
/// such device.
pub(crate) fn unlink(
    state: &SimState,
    device: &DeviceAddress,
    tell: impl FnOnce(&Live) -> Option<Control>,
) -> bool {
    let mut world = state.lock();
    let now = world.now();
    let removed = world
        .phones
        .get_mut(device.user())
        .is_some_and(|a| a.remove_device(device.device(), now));
    if let Some(live) = world.live.remove(device) {
        if let Some(order) = tell(&live) {
            let _ = live.control.try_send(order);
        }
    }
    if removed {
        announce_devices(&mut world, device, Change::Remove);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fixtures::state;

    #[test]
    fn phones_are_digits_and_unique() {
        let s = state();
        assert_eq!(
            create_phone(&s, Some("15551234567".into())).unwrap(),
            "15551234567"
        );
        assert_eq!(
            create_phone(&s, Some("15551234567".into()))
                .unwrap_err()
                .code(),
            "phone_exists"
        );
        for bad in [
            "",
            "12ab5678",
            "+15551234567",
            "123",
            "0123456789",
            "1234567890123456",
        ] {
            assert_eq!(
                create_phone(&s, Some(bad.into())).unwrap_err().code(),
                "bad_request",
                "{bad:?}"
            );
        }
        let a = create_phone(&s, None).unwrap();
        let b = create_phone(&s, None).unwrap();
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
    }
}
