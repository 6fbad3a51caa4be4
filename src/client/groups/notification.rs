//! Group notifications: `<notification type="w:gp2" from=GROUP
//! participant=AUTHOR t>` with one child per change (shapes: wacore
//! `stanza/groups.rs` `GroupNotification`, whatsmeow `group.go`
//! `parseGroupChange`), read into events.
//!
//! Owns: reading these stanzas. Must not touch: state, the store, acks.

use super::types::{GroupInfo, GroupParticipant, ParticipantAction};
use crate::client::events::Event;
use crate::types::Jid;
use crate::wire::Node;

/// What a group notification says, as events, and whether its membership
/// changed (our sender key must then reach the new set of devices).
#[derive(Debug, Default)]
pub struct GroupChanges {
    pub group: Option<Jid>,
    pub events: Vec<Event>,
    /// Members were added or joined: they lack our sender key.
    pub members_added: bool,
    /// Members were removed or left: our sender key must be replaced so
    /// they cannot read what follows.
    pub members_removed: bool,
}

/// Reads a `w:gp2` notification; children it does not know are skipped.
pub fn parse(node: &Node) -> GroupChanges {
    let Some(group) = node.get_attr("from").and_then(super::types::group_of) else {
        return GroupChanges::default();
    };
    let by = node
        .get_attr("participant")
        .and_then(|p| Jid::parse(p).ok())
        .filter(|j| !j.user.is_empty())
        .map(|j| j.to_non_ad());
    let timestamp = node
        .get_attr("t")
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    let mut changes = GroupChanges {
        group: Some(group.clone()),
        ..GroupChanges::default()
    };
    for child in node.child_nodes() {
        let participants = || -> Vec<GroupParticipant> {
            child
                .child_nodes()
                .iter()
                .filter(|p| p.tag == "participant")
                .filter_map(GroupParticipant::from_node)
                .collect()
        };
        let membership = |action| Event::GroupParticipants {
            group: group.clone(),
            action,
            participants: participants(),
            by: by.clone(),
            reason: child.get_attr("reason").map(str::to_string),
            timestamp,
        };
        let event = match child.tag.as_str() {
            "add" => {
                changes.members_added = true;
                membership(ParticipantAction::Add)
            }
            "remove" => {
                changes.members_removed = true;
                membership(ParticipantAction::Remove)
            }
            "promote" => membership(ParticipantAction::Promote),
            "demote" => membership(ParticipantAction::Demote),
            "subject" => Event::GroupSubject {
                group: group.clone(),
                subject: child.get_attr("subject").unwrap_or_default().to_string(),
                by: by.clone(),
                timestamp,
            },
            "description" => Event::GroupDescription {
                group: group.clone(),
                description: child
                    .child("delete")
                    .is_none()
                    .then(|| child.child("body").and_then(Node::content_bytes))
                    .flatten()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                by: by.clone(),
                timestamp,
            },
            "create" => {
                changes.members_added = true;
                let Some(info) = child.child("group").and_then(GroupInfo::from_node) else {
                    continue;
                };
                Event::GroupCreated {
                    group: Box::new(info),
                    by: by.clone(),
                    timestamp,
                }
            }
            setting @ ("locked" | "unlocked" | "announcement" | "not_announcement"
            | "ephemeral" | "not_ephemeral") => Event::GroupSetting {
                group: group.clone(),
                setting: setting.to_string(),
                value: child.get_attr("expiration").map(str::to_string),
                by: by.clone(),
                timestamp,
            },
            other => {
                tracing::debug!(change = other, %group, "group change not reported");
                continue;
            }
        };
        changes.events.push(event);
    }
    changes
}
