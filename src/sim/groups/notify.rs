//! Telling a group's members what changed: a `<notification
//! type="w:gp2">` to every companion of every member (and of those a
//! change removed), queued like messages until acknowledged.
//!
//! Owns: who is told. Must not touch: the change itself (`manage`), the
//! notification's shape (`protocol::groups`).

use super::view::named;
use crate::sim::protocol::groups::{group_notification, Change};
use crate::sim::state::{Group, World};
use crate::types::DeviceAddress;

/// Tells the members of `group` (and `also`, e.g. the removed) of
/// `change`, made by `actor` (phone number) from device `from` (which
/// needs no notice: it has the answer to its request).
pub(crate) fn notify(
    world: &mut World,
    group: &Group,
    actor: &str,
    from: Option<&DeviceAddress>,
    also: &[String],
    change: Change<'_>,
) {
    let now = world.now();
    let actor = named(world, actor, group.addressing);
    let (id, node) = group_notification(&group.jid(), &actor, group.addressing, now, change);
    let mut phones: Vec<&str> = group.phones().collect();
    phones.extend(also.iter().map(String::as_str));
    phones.sort_unstable();
    phones.dedup();
    let devices: Vec<DeviceAddress> = phones
        .iter()
        .flat_map(|p| world.devices_of(p))
        .filter(|d| d.device() != 0 && Some(d) != from)
        .collect();
    for device in devices {
        world.enqueue(&device, "notification", &id, node.clone());
    }
}
