//! What the groups feature reports: a group's metadata, its participants
//! and the outcome of changes, read from the server's `<group>` and
//! `<participant>` nodes (shapes: wacore `iq/groups.rs`
//! `GroupInfoResponse`, whatsmeow `group.go` `parseGroupNode`).
//!
//! Owns: these types and how they are read from nodes, and how callers'
//! group and participant identifiers are read. Must not touch: iqs,
//! state, the store.

use serde::Serialize;

use crate::types::{DeviceAddress, Jid, PhoneNumber, Server};
use crate::wire::Node;

/// How a group addresses its members: by phone number or by LID
/// (`addressing_mode`, wacore `AddressingMode`; missing means `pn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressingMode {
    #[default]
    Pn,
    Lid,
}

impl AddressingMode {
    pub fn parse(value: Option<&str>) -> AddressingMode {
        match value {
            Some("lid") => AddressingMode::Lid,
            _ => AddressingMode::Pn,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AddressingMode::Pn => "pn",
            AddressingMode::Lid => "lid",
        }
    }
}

/// A member's rank (`<participant type>`: absent, `admin`, `superadmin`
/// — the creator).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    #[default]
    Member,
    Admin,
    Superadmin,
}

impl ParticipantRole {
    pub fn parse(value: Option<&str>) -> ParticipantRole {
        match value {
            Some("admin") => ParticipantRole::Admin,
            Some("superadmin") => ParticipantRole::Superadmin,
            _ => ParticipantRole::Member,
        }
    }
}

/// One member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupParticipant {
    /// The member as the group addresses it (phone number or LID user).
    #[schema(value_type = String)]
    pub jid: Jid,
    /// The member's phone-number user, when the group names it (LID groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Jid>,
    /// The member's LID user, when the group names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub lid: Option<Jid>,
    pub role: ParticipantRole,
}

impl GroupParticipant {
    /// `<participant jid [phone_number] [lid] [type]/>`.
    pub fn from_node(node: &Node) -> Option<GroupParticipant> {
        let jid = user_attr(node, "jid")?;
        Some(GroupParticipant {
            jid,
            phone_number: user_attr(node, "phone_number"),
            lid: user_attr(node, "lid"),
            role: ParticipantRole::parse(node.get_attr("type")),
        })
    }

    pub fn is_admin(&self) -> bool {
        self.role != ParticipantRole::Member
    }
}

/// A group's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupInfo {
    /// `<id>@g.us`.
    #[schema(value_type = String)]
    pub jid: Jid,
    pub subject: String,
    /// Who set the subject, and when (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub subject_owner: Option<Jid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The description's id, which a change of it names as `prev`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_id: Option<String>,
    /// When the group was created (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub creator: Option<Jid>,
    pub addressing_mode: AddressingMode,
    /// Only admins may send (`<announcement/>`).
    pub announce: bool,
    /// Only admins may edit the group's info (`<locked/>`).
    pub locked: bool,
    pub participants: Vec<GroupParticipant>,
}

impl GroupInfo {
    /// A `<group id subject s_o s_t creation creator addressing_mode>` node
    /// with its `<participant>`s, `<description id><body>`,
    /// `<announcement/>` and `<locked/>` children. `None` without a
    /// usable id.
    pub fn from_node(node: &Node) -> Option<GroupInfo> {
        let jid = group_of(node.get_attr("id")?)?;
        let description = node.child("description");
        Some(GroupInfo {
            jid,
            subject: node.get_attr("subject").unwrap_or_default().to_string(),
            subject_owner: user_attr(node, "s_o"),
            subject_time: number_attr(node, "s_t"),
            description: description
                .and_then(|d| d.child("body"))
                .and_then(|b| b.content_bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            description_id: description
                .and_then(|d| d.get_attr("id"))
                .map(str::to_string),
            creation: number_attr(node, "creation"),
            creator: user_attr(node, "creator"),
            addressing_mode: AddressingMode::parse(node.get_attr("addressing_mode")),
            announce: node.child("announcement").is_some(),
            locked: node.child("locked").is_some(),
            participants: node
                .child_nodes()
                .iter()
                .filter(|n| n.tag == "participant")
                .filter_map(GroupParticipant::from_node)
                .collect(),
        })
    }
}

/// The outcome of one participant of an add, remove, promote or demote
/// (`<participant jid [error]>`; a missing `error` is success).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ParticipantResult {
    #[schema(value_type = String)]
    pub jid: Jid,
    /// The server's code for this participant when it failed (`403`: their
    /// privacy settings refuse adds, `404`: not on WhatsApp, `409`: already
    /// a member, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ParticipantResult {
    pub fn from_node(node: &Node) -> Option<ParticipantResult> {
        Some(ParticipantResult {
            jid: user_attr(node, "jid")?,
            error: node
                .get_attr("error")
                .filter(|e| !e.is_empty() && *e != "200")
                .map(str::to_string),
        })
    }
}

/// What a participant change does (the child tag of the iq).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantAction {
    Add,
    Remove,
    Promote,
    Demote,
}

impl ParticipantAction {
    pub fn tag(self) -> &'static str {
        match self {
            ParticipantAction::Add => "add",
            ParticipantAction::Remove => "remove",
            ParticipantAction::Promote => "promote",
            ParticipantAction::Demote => "demote",
        }
    }
}

/// The group an invite code led to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JoinedGroup {
    #[schema(value_type = String)]
    pub jid: Jid,
    /// The group approves new members first: the request waits for an admin.
    pub pending_approval: bool,
}

/// A group named by its JID (`<id>@g.us`) or its bare id; ids are digits
/// with at most one dash (`120363…`, or the older `<creator>-<time>`).
pub fn group_of(text: &str) -> Option<Jid> {
    let text = text.trim();
    let id = match text.split_once('@') {
        Some((id, "g.us")) => id,
        Some(_) => return None,
        None => text,
    };
    let valid = (1..=40).contains(&id.len())
        && id.split('-').count() <= 2
        && id.split('-').all(|part| !part.is_empty())
        && id.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    valid.then(|| Jid::new(id, Server::Group))
}

/// A member named by a phone number with country code or a user JID
/// (`N@s.whatsapp.net`, `N@lid`).
pub fn participant_of(text: &str) -> Option<Jid> {
    let text = text.trim();
    if text.contains('@') {
        let address = DeviceAddress::parse(text)?;
        return (address.device() == 0).then(|| address.user_jid());
    }
    PhoneNumber::parse(text).ok().map(|p| p.jid())
}

/// A user JID attribute (agent and device dropped).
fn user_attr(node: &Node, key: &str) -> Option<Jid> {
    let jid = Jid::parse(node.get_attr(key)?).ok()?;
    (!jid.user.is_empty()).then(|| jid.to_non_ad())
}

fn number_attr(node: &Node, key: &str) -> Option<u64> {
    node.get_attr(key)?.parse().ok()
}
