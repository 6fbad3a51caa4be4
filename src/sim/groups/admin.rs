//! Groups as the admin API drives them: a phone creates one, adds and
//! removes members; a test reads one back.
//!
//! Owns: [`GroupSummary`] (the JSON of `/sim/groups`), turning what a
//! test typed (phone numbers or JIDs) into accounts, and the refusals'
//! admin-API errors. Must not touch: the rules (`manage`, which the
//! phones obey exactly as companions do).

use serde::Serialize;

use super::manage::{
    change_members, create, set_locked, set_subject, Actor, GroupError, MemberChange, NewGroup,
};
use crate::sim::error::SimError;
use crate::sim::phone::send::parse_recipient;
use crate::sim::protocol::addressing::Addressing;
use crate::sim::state::{Group, Role, SimState, World};

/// A group as `/sim/groups` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupSummary {
    /// `ID@g.us`.
    pub id: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The creator's phone number.
    pub creator: String,
    /// `pn` or `lid`: how the group names its members.
    pub addressing_mode: &'static str,
    pub invite_code: String,
    /// Only admins may change the subject and description.
    pub locked: bool,
    pub participants: Vec<GroupMember>,
}

/// One member of a [`GroupSummary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    pub phone: String,
    /// `L@lid`.
    pub lid: String,
    /// `superadmin`, `admin` or `member`.
    pub role: &'static str,
}

/// `POST /sim/groups`: phone `creator` creates a group with `members`
/// (phone numbers or JIDs); `addressing` is `pn`, `lid` or, when absent,
/// the creator's own namespace.
pub(crate) fn create_group(
    state: &SimState,
    creator: &str,
    subject: &str,
    members: &[String],
    addressing: Option<&str>,
) -> Result<GroupSummary, SimError> {
    let addressing = match addressing {
        None => None,
        Some("pn") => Some(Addressing::Pn),
        Some("lid") => Some(Addressing::Lid),
        Some(other) => {
            return Err(SimError::BadRequest(format!(
                "addressing_mode must be \"pn\" or \"lid\", got {other:?}"
            )))
        }
    };
    let mut world = state.lock();
    world.account(creator)?;
    let phones = accounts_of(&world, members)?;
    let actor = Actor {
        phone: creator,
        device: None,
    };
    let new = NewGroup {
        subject,
        members: &phones,
        addressing,
        description: None,
    };
    let id = create(&mut world, actor, new).map_err(|e| admin_error(e, "", creator))?;
    summary(&world, &id)
}

/// `GET /sim/groups/{group}`.
pub(crate) fn group_summary(state: &SimState, group: &str) -> Result<GroupSummary, SimError> {
    summary(&state.lock(), group_id(group))
}

/// `POST /sim/groups/{group}/participants`: member `by` adds and removes
/// members, as its phone would.
pub(crate) fn change_participants(
    state: &SimState,
    group: &str,
    by: &str,
    add: &[String],
    remove: &[String],
) -> Result<GroupSummary, SimError> {
    acting(state, group, by, |world, id, actor| {
        for (change, listed) in [(MemberChange::Add, add), (MemberChange::Remove, remove)] {
            if listed.is_empty() {
                continue;
            }
            let phones: Vec<Option<String>> =
                accounts_of(world, listed)?.into_iter().map(Some).collect();
            let results = change_members(world, id, actor, change, &phones)
                .map_err(|e| admin_error(e, id, by))?;
            if let Some((phone, code)) = phones
                .iter()
                .zip(results)
                .find_map(|(p, r)| Some((p.clone()?, r?)))
            {
                return Err(SimError::BadRequest(format!(
                    "could not {} {phone}: error {code}",
                    change.tag()
                )));
            }
        }
        Ok(())
    })
}

/// `POST /sim/groups/{group}/subject`: member `by` renames the group, as
/// its phone would.
pub(crate) fn rename(
    state: &SimState,
    group: &str,
    by: &str,
    subject: &str,
) -> Result<GroupSummary, SimError> {
    acting(state, group, by, |world, id, actor| {
        set_subject(world, id, actor, subject).map_err(|e| admin_error(e, id, by))
    })
}

/// `POST /sim/groups/{group}/settings`: admin `by` locks the group's info
/// (or unlocks it).
pub(crate) fn lock(
    state: &SimState,
    group: &str,
    by: &str,
    locked: bool,
) -> Result<GroupSummary, SimError> {
    acting(state, group, by, |world, id, actor| {
        set_locked(world, id, actor, locked).map_err(|e| admin_error(e, id, by))
    })
}

/// Phone `by` (no companion asked) makes `change` to `group`; the group
/// as it is then (as its members see it).
fn acting(
    state: &SimState,
    group: &str,
    by: &str,
    change: impl FnOnce(&mut World, &str, Actor<'_>) -> Result<(), SimError>,
) -> Result<GroupSummary, SimError> {
    let id = group_id(group);
    let mut world = state.lock();
    world.account(by)?;
    let actor = Actor {
        phone: by,
        device: None,
    };
    change(&mut world, id, actor)?;
    summary(&world, id)
}

fn summary(world: &World, id: &str) -> Result<GroupSummary, SimError> {
    let group = world
        .groups
        .get(id)
        .ok_or_else(|| SimError::UnknownGroup(id.to_owned()))?;
    Ok(summary_of(world, group))
}

fn summary_of(world: &World, group: &Group) -> GroupSummary {
    let participants = group
        .members
        .iter()
        .map(|(phone, role)| GroupMember {
            phone: phone.clone(),
            lid: world
                .user_in(phone, Addressing::Lid)
                .map(|j| j.to_string())
                .unwrap_or_default(),
            role: match role {
                Role::SuperAdmin => "superadmin",
                Role::Admin => "admin",
                Role::Member => "member",
            },
        })
        .collect();
    GroupSummary {
        id: group.jid().to_string(),
        subject: group.subject.clone(),
        description: group.description.as_ref().map(|d| d.body.clone()),
        creator: group.creator.clone(),
        addressing_mode: group.addressing.as_str(),
        invite_code: group.invite_code.clone(),
        locked: group.locked,
        participants,
    }
}

/// The accounts `listed` name (phone numbers or JIDs); `not_on_whatsapp`
/// for the first that names none.
fn accounts_of(world: &World, listed: &[String]) -> Result<Vec<String>, SimError> {
    listed
        .iter()
        .map(|text| {
            let jid = parse_recipient(text);
            jid.and_then(|j| world.resolve(&j))
                .map(|d| d.user().to_owned())
                .ok_or_else(|| SimError::NotOnWhatsApp(text.clone()))
        })
        .collect()
}

/// A group as typed: `ID` or `ID@g.us`.
fn group_id(text: &str) -> &str {
    text.strip_suffix("@g.us").unwrap_or(text)
}

/// A refusal as the admin API reports it.
fn admin_error(error: GroupError, group: &str, actor: &str) -> SimError {
    match error {
        GroupError::UnknownGroup => SimError::UnknownGroup(group.to_owned()),
        GroupError::NotMember => SimError::NotInGroup(actor.to_owned()),
        GroupError::NotAdmin => SimError::NotAdmin(actor.to_owned()),
        other => SimError::BadRequest(other.to_string()),
    }
}
