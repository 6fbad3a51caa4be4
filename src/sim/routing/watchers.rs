//! Device-list watchers: the devices that asked for an account's device
//! list (usync) are told when it changes, as are the account's own other
//! companions.
//!
//! Owns: who watches which account, and the `<notification
//! type="devices">` they get (shape after whatsmeow
//! `handleDeviceNotification`). Must not touch: the device lists
//! themselves (`sim::accounts`), sockets (notifications go through the
//! offline queue like messages).

use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::stanzas::notification;
use crate::sim::state::{Account, SimState, World};
use crate::types::DeviceAddress;
use crate::wire::Node;

/// Most devices told about one account's device changes; later askers
/// rely on their cache's age limit.
const MAX_DEVICE_WATCHERS: usize = 10_000;

/// A device list changed: a companion was added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Add,
    Remove,
}

impl Change {
    fn tag(self) -> &'static str {
        match self {
            Change::Add => "add",
            Change::Remove => "remove",
        }
    }
}

/// `watcher` asked for the device lists of `phones`: it is told when
/// they change.
pub(crate) fn watch_devices(state: &SimState, watcher: &DeviceAddress, phones: &[&str]) {
    let mut world = state.lock();
    for phone in phones {
        let watchers = world.device_watchers.entry(phone.to_string()).or_default();
        if watchers.len() < MAX_DEVICE_WATCHERS {
            watchers.insert(watcher.clone());
        }
    }
}

/// `<add>`/`<remove>` of device `id`: the device (with its LID and, when
/// added, its key index) and the account's `<key-index-list ts>` (signed
/// when companions remain; a remove needs only the `ts`, WA Web
/// `WAWebHandleDeviceNotification` via wacore `stanza/devices.rs`).
fn device_operation(account: &Account, id: u16, change: Change) -> Node {
    let addressing = account.addressing();
    let mut device =
        Node::new("device").attr("jid", account.address_in(id, addressing).to_string());
    if addressing == Addressing::Pn {
        device = device.attr("lid", account.lid_address(id).to_string());
    }
    if let (Change::Add, Some(d)) = (change, account.devices.get(&id)) {
        device = device.attr("key-index", d.key_index.to_string());
    }
    let list = match account.key_index_list() {
        Some((ts, signed)) => Node::new("key-index-list")
            .attr("ts", ts.to_string())
            .bytes(signed),
        None => Node::new("key-index-list").attr("ts", account.devices_changed_at.to_string()),
    };
    Node::new(change.tag()).children(vec![device, list])
}

/// `changed` was added to or removed from its account: everyone who may
/// hold the account's device list, i.e. the devices that asked for it and
/// the account's other companions, gets `<notification type="devices">`
/// (queued for offline devices, as messages are).
pub(crate) fn announce_devices(world: &mut World, changed: &DeviceAddress, change: Change) {
    let phone = changed.user();
    let mut to: Vec<DeviceAddress> = world
        .device_watchers
        .get(phone)
        .map(|w| w.iter().cloned().collect())
        .unwrap_or_default();
    to.extend(
        world
            .devices_of(phone)
            .into_iter()
            .filter(|d| d.device() != 0),
    );
    to.sort_unstable();
    to.dedup();
    let Some(account) = world.phones.get(phone) else {
        return;
    };
    let now = world.now();
    let operation = device_operation(account, changed.device(), change);
    // The account speaks in its own namespace; a phone-number notice
    // carries its LID beside (wacore `stanza/devices.rs`: `lid` on the
    // notification and on the device, device ids equal).
    let addressing = account.addressing();
    let from = account.address_in(0, addressing).user_jid();
    let lid = (addressing == Addressing::Pn).then(|| account.lid_address(0).user_jid());
    for watcher in to.iter().filter(|w| *w != changed) {
        let (id, mut node) = notification(&from, "devices", now, vec![operation.clone()]);
        if let Some(lid) = &lid {
            node = node.attr("lid", lid.to_string());
        }
        world.enqueue(watcher, "notification", &id, node);
    }
    // Watchers that are gone (unlinked) need no further news.
    let World {
        device_watchers,
        phones,
        ..
    } = world;
    if let Some(w) = device_watchers.get_mut(phone) {
        w.retain(|d| {
            phones
                .get(d.user())
                .is_some_and(|a| a.devices.contains_key(&d.device()))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::accounts::{create_phone, unlink};
    use crate::sim::fixtures::{device_jid, link_directly, registration, state};

    #[test]
    fn those_who_asked_for_a_device_list_hear_of_its_changes() {
        let s = state();
        let alice = create_phone(&s, None).unwrap();
        let bob = create_phone(&s, None).unwrap();
        let watcher = link_directly(&s, &alice, registration([1; 32])).unwrap();
        let other = link_directly(&s, &alice, registration([5; 32])).unwrap();
        let bobs = link_directly(&s, &bob, registration([6; 32])).unwrap();
        let second = link_directly(&s, &bob, registration([7; 32])).unwrap();
        let address = |phone: &str, id| DeviceAddress::pn(phone, id).unwrap();
        watch_devices(&s, &address(&alice, watcher), &[bob.as_str()]);

        assert!(unlink(&s, &address(&bob, second), |_| None));
        // The watcher and Bob's remaining companion are told; Alice's
        // other device never asked.
        assert_eq!(s.queued(&device_jid(&alice, watcher)).unwrap(), 1);
        assert_eq!(s.queued(&device_jid(&bob, bobs)).unwrap(), 1);
        assert_eq!(s.queued(&device_jid(&alice, other)).unwrap(), 0);
        let told = s
            .lock()
            .device(&address(&alice, watcher))
            .and_then(|d| d.queue.front().cloned())
            .map(|q| q.node)
            .unwrap();
        assert_eq!(told.get_attr("type"), Some("devices"));
        let removed = told
            .child("remove")
            .and_then(|r| r.child("device"))
            .unwrap();
        assert_eq!(
            removed.get_attr("jid"),
            Some(device_jid(&bob, second).as_str())
        );
        // The LID beside the phone number, and the key index list's time
        // a remove needs (wacore `stanza/devices.rs`).
        let lid = s.lock().phones[&bob].lid_user.clone();
        assert_eq!(told.get_attr("lid"), Some(format!("{lid}@lid").as_str()));
        assert_eq!(
            removed.get_attr("lid"),
            Some(format!("{lid}:{second}@lid").as_str())
        );
        let list = told.child("remove").and_then(|r| r.child("key-index-list"));
        assert!(list.and_then(|l| l.get_attr("ts")).is_some());
    }
}
