//! A group as the wire shows it: its members, creator and authors named
//! in the group's namespace with the other namespace beside.
//!
//! Owns: turning the group table into `protocol::groups` views. Must not
//! touch: changes to groups (`manage`), who is told (`notify`).

use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::groups::{DescriptionInfo, GroupInfo, Member, Named};
use crate::sim::state::{Group, Role, World};
use crate::types::Jid;

/// Account `phone` named in namespace `addressing`: a LID with its phone
/// number beside, or a phone number alone.
pub(crate) fn named(world: &World, phone: &str, addressing: Addressing) -> Named {
    let jid = world
        .user_in(phone, addressing)
        .unwrap_or_else(|| Jid::pn(phone));
    let pn = (addressing == Addressing::Lid).then(|| Jid::pn(phone));
    Named { jid, pn }
}

/// Member `phone` with `role`, as a `<participant>` of a group in
/// `addressing`.
pub(crate) fn member(world: &World, phone: &str, role: Role, addressing: Addressing) -> Member {
    let jid = world
        .user_in(phone, addressing)
        .unwrap_or_else(|| Jid::pn(phone));
    Member {
        jid,
        alt: world.user_in(phone, addressing.other()),
        role: role.wire(),
    }
}

/// Members `phones` (each with its current role, `Member` when it left).
pub(crate) fn members(world: &World, group: &Group, phones: &[String]) -> Vec<Member> {
    phones
        .iter()
        .map(|p| {
            let role = group.role(p).unwrap_or(Role::Member);
            member(world, p, role, group.addressing)
        })
        .collect()
}

/// The whole group as a `<group>` node says it.
pub(crate) fn info(world: &World, group: &Group) -> GroupInfo {
    let mode = group.addressing;
    GroupInfo {
        id: group.id.clone(),
        subject: group.subject.clone(),
        subject_owner: named(world, &group.subject_owner, mode),
        subject_time: group.subject_time,
        creator: named(world, &group.creator, mode),
        creation: group.created_at,
        addressing: mode,
        members: group
            .members
            .iter()
            .map(|(p, role)| member(world, p, *role, mode))
            .collect(),
        description: group.description.as_ref().map(|d| DescriptionInfo {
            id: d.id.clone(),
            body: d.body.clone(),
            owner: named(world, &d.owner, mode),
            time: d.time,
        }),
        locked: group.locked,
        admin_add_only: group.admin_add_only,
    }
}
