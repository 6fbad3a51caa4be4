//! The rules of groups: creating one, who may add, remove, promote and
//! demote members, change the subject and description, leave, share or
//! reset the invite link and join by it, and what each change tells the
//! members.
//!
//! Owns: those rules and their refusals (codes after whatsmeow
//! `errors.go` and wacore `iq/groups.rs` GroupJoinError / InviteInfoError:
//! 404 no such group, 403 not a member, 401 not an admin, 409 a conflict,
//! 410 a reset invite, 304 already a member, 419 full). Must not touch:
//! stanzas beyond the notifications' changes (`iq::groups` reads and
//! answers), how members are told (`notify`).

use rand::Rng as _;

use super::notify::notify;
use super::view::{info, members, named};
use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::groups::{Change, GroupInfo};
use crate::sim::state::{Description, Group, Role, World, MAX_GROUP_SIZE};
use crate::types::DeviceAddress;

/// Longest subject (wacore GROUP_SUBJECT_MAX_LENGTH, the `group_max_subject`
/// A/B prop).
const MAX_SUBJECT: usize = 100;
/// Longest description (wacore GROUP_DESCRIPTION_MAX_LENGTH).
const MAX_DESCRIPTION: usize = 2048;

/// Why the server refuses a group request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GroupError {
    #[error("no such group")]
    UnknownGroup,
    #[error("not a member of the group")]
    NotMember,
    #[error("only admins may do that")]
    NotAdmin,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("the description changed since it was read")]
    Conflict,
    #[error("the invite link was reset")]
    Gone,
    #[error("no such invite")]
    UnknownInvite,
    #[error("already a member")]
    AlreadyMember,
    #[error("the group is full")]
    Full,
}

impl GroupError {
    /// The `<error code>` of the IQ answer.
    pub fn code(&self) -> u16 {
        match self {
            GroupError::UnknownGroup | GroupError::UnknownInvite => 404,
            GroupError::NotMember => 403,
            GroupError::NotAdmin => 401,
            GroupError::BadRequest(_) => 400,
            GroupError::Conflict => 409,
            GroupError::Gone => 410,
            GroupError::AlreadyMember => 304,
            GroupError::Full => 419,
        }
    }

    /// The `<error text>` of the IQ answer.
    pub fn text(&self) -> &'static str {
        match self {
            GroupError::UnknownGroup | GroupError::UnknownInvite => "item-not-found",
            GroupError::NotMember => "forbidden",
            GroupError::NotAdmin => "not-authorized",
            GroupError::BadRequest(_) => "bad-request",
            GroupError::Conflict => "conflict",
            GroupError::Gone => "gone",
            GroupError::AlreadyMember => "not-modified",
            GroupError::Full => "resource-constraint",
        }
    }
}

/// Who asks: the acting account (phone number) and the device it asked
/// from (a companion, which gets the answer instead of a notification).
#[derive(Clone, Copy)]
pub(crate) struct Actor<'a> {
    pub phone: &'a str,
    pub device: Option<&'a DeviceAddress>,
}

/// A group to create.
pub(crate) struct NewGroup<'a> {
    pub subject: &'a str,
    /// The other members, by phone number (the creator is added first).
    pub members: &'a [String],
    /// The namespace; by default the creator's own.
    pub addressing: Option<Addressing>,
    pub description: Option<&'a str>,
}

/// Creates a group with `actor` as its superadmin; every member's
/// companions are told. Returns the group's id.
pub(crate) fn create(
    world: &mut World,
    actor: Actor<'_>,
    new: NewGroup<'_>,
) -> Result<String, GroupError> {
    let creator = world
        .phones
        .get(actor.phone)
        .ok_or(GroupError::BadRequest("unknown creator"))?;
    check_subject(new.subject)?;
    if new
        .description
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(GroupError::BadRequest("description too long"));
    }
    let addressing = new.addressing.unwrap_or_else(|| creator.addressing());
    let now = world.now();
    let id = loop {
        // 120363…: the id form of groups created today (whatsmeow, wacore
        // test fixtures).
        let candidate = format!(
            "120363{:012}",
            rand::thread_rng().gen_range(0..1_000_000_000_000u64)
        );
        if !world.groups.contains_key(&candidate) {
            break candidate;
        }
    };
    let mut group = Group {
        id: id.clone(),
        subject: new.subject.to_owned(),
        subject_owner: actor.phone.to_owned(),
        subject_time: now,
        description: new.description.map(|body| Description {
            id: description_id(),
            body: body.to_owned(),
            owner: actor.phone.to_owned(),
            time: now,
        }),
        creator: actor.phone.to_owned(),
        created_at: now,
        members: vec![(actor.phone.to_owned(), Role::SuperAdmin)],
        addressing,
        invite_code: new_invite_code(),
        locked: false,
        admin_add_only: false,
    };
    // Numbers not on WhatsApp are left out.
    for phone in new
        .members
        .iter()
        .filter(|p| world.phones.contains_key(p.as_str()))
    {
        if !group.is_member(phone) && !group.add(phone) {
            return Err(GroupError::Full);
        }
    }
    world.invites.insert(group.invite_code.clone(), id.clone());
    let node = info(world, &group).into_node();
    notify(
        world,
        &group,
        actor.phone,
        actor.device,
        &[],
        Change::Create(node),
    );
    world.groups.insert(id.clone(), group);
    Ok(id)
}

/// What a member change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MemberChange {
    Add,
    Remove,
    Promote,
    Demote,
}

impl MemberChange {
    /// The request's (and the notification's) tag.
    pub fn tag(self) -> &'static str {
        match self {
            MemberChange::Add => "add",
            MemberChange::Remove => "remove",
            MemberChange::Promote => "promote",
            MemberChange::Demote => "demote",
        }
    }
}

/// Applies `change` to each of `asked` (phone numbers; `None` for what
/// names no account). Returns each one's error code, `None` when done.
/// Adding takes a member (an admin when only admins add), the rest an
/// admin; the members are told of what was done.
pub(crate) fn change_members(
    world: &mut World,
    group_id: &str,
    actor: Actor<'_>,
    change: MemberChange,
    asked: &[Option<String>],
) -> Result<Vec<Option<u16>>, GroupError> {
    let group = member_group(world, group_id, actor.phone)?;
    let needs_admin = change != MemberChange::Add || group.admin_add_only;
    if needs_admin && !group.is_admin(actor.phone) {
        return Err(GroupError::NotAdmin);
    }
    let mut group = group.clone();
    let mut done: Vec<String> = Vec::new();
    let results = asked
        .iter()
        .map(|phone| {
            let Some(phone) = phone else {
                return Some(404);
            };
            let applied = match change {
                MemberChange::Add if group.is_member(phone) => return Some(409),
                MemberChange::Add if group.members.len() >= MAX_GROUP_SIZE => return Some(419),
                MemberChange::Add => group.add(phone),
                _ if !group.is_member(phone) => return Some(404),
                MemberChange::Remove if group.role(phone) == Some(Role::SuperAdmin) => {
                    return Some(406)
                }
                MemberChange::Remove => group.remove(phone),
                MemberChange::Promote => group.set_role(phone, Role::Admin),
                MemberChange::Demote => group.set_role(phone, Role::Member),
            };
            if !applied {
                return Some(406);
            }
            done.push(phone.clone());
            None
        })
        .collect();
    if !done.is_empty() {
        let listed = members(world, &group, &done);
        let also = if change == MemberChange::Remove {
            done.clone()
        } else {
            Vec::new()
        };
        let notice = Change::Members {
            tag: change.tag(),
            reason: None,
            members: &listed,
        };
        notify(world, &group, actor.phone, actor.device, &also, notice);
        if change == MemberChange::Remove {
            rotate_sender_keys(world, &group);
        }
        world.groups.insert(group.id.clone(), group);
    }
    Ok(results)
}

/// A member sets the subject (an admin, when the group is locked).
pub(crate) fn set_subject(
    world: &mut World,
    group_id: &str,
    actor: Actor<'_>,
    subject: &str,
) -> Result<(), GroupError> {
    check_subject(subject)?;
    let mut group = editable(world, group_id, actor.phone)?;
    let now = world.now();
    group.subject = subject.to_owned();
    group.subject_owner = actor.phone.to_owned();
    group.subject_time = now;
    let owner = named(world, actor.phone, group.addressing).jid;
    let notice = Change::Subject {
        subject,
        owner: &owner,
        time: now,
    };
    notify(world, &group, actor.phone, actor.device, &[], notice);
    world.groups.insert(group.id.clone(), group);
    Ok(())
}

/// An admin locks the group's info (then only admins change its subject
/// and description) or unlocks it; the members are told (`<locked/>`,
/// `<unlocked/>`).
pub(crate) fn set_locked(
    world: &mut World,
    group_id: &str,
    actor: Actor<'_>,
    locked: bool,
) -> Result<(), GroupError> {
    let group = member_group(world, group_id, actor.phone)?;
    if !group.is_admin(actor.phone) {
        return Err(GroupError::NotAdmin);
    }
    let mut group = group.clone();
    group.locked = locked;
    let change = Change::Setting(if locked { "locked" } else { "unlocked" });
    notify(world, &group, actor.phone, actor.device, &[], change);
    world.groups.insert(group.id.clone(), group);
    Ok(())
}

/// A member replaces the description (`None` deletes it). `prev` must
/// name the current one (whatsapp-rust `set_description`: "the server
/// accepts the change only when that token matches").
pub(crate) fn set_description(
    world: &mut World,
    group_id: &str,
    actor: Actor<'_>,
    new_id: &str,
    prev: Option<&str>,
    body: Option<&str>,
) -> Result<(), GroupError> {
    if body.is_some_and(|b| b.chars().count() > MAX_DESCRIPTION) {
        return Err(GroupError::BadRequest("description too long"));
    }
    if new_id.is_empty() {
        return Err(GroupError::BadRequest("description id missing"));
    }
    let mut group = editable(world, group_id, actor.phone)?;
    if let Some(current) = &group.description {
        if prev != Some(current.id.as_str()) {
            return Err(GroupError::Conflict);
        }
    }
    let now = world.now();
    group.description = body.map(|b| Description {
        id: new_id.to_owned(),
        body: b.to_owned(),
        owner: actor.phone.to_owned(),
        time: now,
    });
    let notice = Change::Description { id: new_id, body };
    notify(world, &group, actor.phone, actor.device, &[], notice);
    world.groups.insert(group.id.clone(), group);
    Ok(())
}

/// A member leaves; an admin is named when the last one left, and a group
/// nobody is in is gone.
pub(crate) fn leave(world: &mut World, group_id: &str, actor: Actor<'_>) -> Result<(), GroupError> {
    let mut group = member_group(world, group_id, actor.phone)?.clone();
    let leaver = members(world, &group, &[actor.phone.to_owned()]);
    group.remove(actor.phone);
    if !group.members.iter().any(|(_, role)| role.is_admin()) {
        if let Some((_, role)) = group.members.first_mut() {
            *role = Role::Admin;
        }
    }
    let notice = Change::Members {
        tag: "remove",
        reason: None,
        members: &leaver,
    };
    notify(
        world,
        &group,
        actor.phone,
        actor.device,
        &[actor.phone.to_owned()],
        notice,
    );
    rotate_sender_keys(world, &group);
    if group.members.is_empty() {
        world.invites.remove(&group.invite_code);
        world.groups.remove(&group.id);
    } else {
        world.groups.insert(group.id.clone(), group);
    }
    Ok(())
}

/// An admin reads the invite code, or resets it (the old one is gone).
pub(crate) fn invite_code(
    world: &mut World,
    group_id: &str,
    actor: &str,
    reset: bool,
) -> Result<String, GroupError> {
    let group = member_group(world, group_id, actor)?;
    if !group.is_admin(actor) {
        return Err(GroupError::NotAdmin);
    }
    if !reset {
        return Ok(group.invite_code.clone());
    }
    let old = group.invite_code.clone();
    let code = new_invite_code();
    if let Some(g) = world.groups.get_mut(group_id) {
        g.invite_code = code.clone();
    }
    world.invites.remove(&old);
    world.revoked_invites.insert(old);
    world.invites.insert(code.clone(), group_id.to_owned());
    Ok(code)
}

/// `actor` joins by invite `code`; the members are told. Returns the
/// group's id.
pub(crate) fn join(world: &mut World, code: &str, actor: Actor<'_>) -> Result<String, GroupError> {
    let id = invited_group(world, code)?.id.clone();
    let mut group = world
        .groups
        .get(&id)
        .cloned()
        .ok_or(GroupError::UnknownInvite)?;
    if group.is_member(actor.phone) {
        return Err(GroupError::AlreadyMember);
    }
    if !group.add(actor.phone) {
        return Err(GroupError::Full);
    }
    let joined = members(world, &group, &[actor.phone.to_owned()]);
    let notice = Change::Members {
        tag: "add",
        reason: Some("invite"),
        members: &joined,
    };
    notify(world, &group, actor.phone, actor.device, &[], notice);
    world.groups.insert(id.clone(), group);
    Ok(id)
}

/// What a member reads of a group.
pub(crate) fn group_info(
    world: &World,
    group_id: &str,
    actor: &str,
) -> Result<GroupInfo, GroupError> {
    let group = member_group(world, group_id, actor)?;
    Ok(info(world, group))
}

/// What an invite shows before joining.
pub(crate) fn invite_info(world: &World, code: &str) -> Result<GroupInfo, GroupError> {
    Ok(info(world, invited_group(world, code)?))
}

/// Every group `actor` is in.
pub(crate) fn participating(world: &World, actor: &str) -> Vec<GroupInfo> {
    let mut groups: Vec<&Group> = world
        .groups
        .values()
        .filter(|g| g.is_member(actor))
        .collect();
    groups.sort_by_key(|g| (g.created_at, g.id.clone()));
    groups.into_iter().map(|g| info(world, g)).collect()
}

/// The group `actor` is a member of.
pub(crate) fn member_group<'w>(
    world: &'w World,
    group_id: &str,
    actor: &str,
) -> Result<&'w Group, GroupError> {
    let group = world.groups.get(group_id).ok_or(GroupError::UnknownGroup)?;
    if !group.is_member(actor) {
        return Err(GroupError::NotMember);
    }
    Ok(group)
}

/// The group, when `actor` may change its subject and description.
fn editable(world: &World, group_id: &str, actor: &str) -> Result<Group, GroupError> {
    let group = member_group(world, group_id, actor)?;
    if group.locked && !group.is_admin(actor) {
        return Err(GroupError::NotAdmin);
    }
    Ok(group.clone())
}

fn invited_group<'w>(world: &'w World, code: &str) -> Result<&'w Group, GroupError> {
    if world.revoked_invites.contains(code) {
        return Err(GroupError::Gone);
    }
    world
        .invites
        .get(code)
        .and_then(|id| world.groups.get(id))
        .ok_or(GroupError::UnknownInvite)
}

fn check_subject(subject: &str) -> Result<(), GroupError> {
    let length = subject.chars().count();
    if length == 0 || length > MAX_SUBJECT {
        return Err(GroupError::BadRequest(
            "subject must be 1 to 100 characters",
        ));
    }
    Ok(())
}

/// After a member left, the phones still in the group start new sender
/// keys, so the one who left cannot read what follows (whatsapp-rust
/// `rotate_sender_key_on_participant_remove`, as every client does).
fn rotate_sender_keys(world: &mut World, group: &Group) {
    for phone in group.phones() {
        if let Some(account) = world.phones.get_mut(phone) {
            account.signal.own_group_keys.remove(&group.id);
            account.signal.distributed.remove(&group.id);
        }
    }
}

/// A description id: 8 hex digits (wacore `generate_description_id`).
fn description_id() -> String {
    format!("{:08X}", rand::thread_rng().gen::<u32>())
}

/// An invite code: 22 characters of base62, as invite links show.
fn new_invite_code() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..22)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
