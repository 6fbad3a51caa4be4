//! Groups on the wire: the `<group>` node of the `w:g2` answers, the
//! `<participant>` of a change, and the `<notification type="w:gp2">`
//! members get.
//!
//! Owns: those shapes (wacore `iq/groups.rs` GroupInfoResponse and
//! ParticipantChangeResponse, `stanza/groups.rs` GroupNotification;
//! whatsmeow `group.go` parseGroupNode). Pure: views in, [`Node`]s out.
//! Must not touch: the group table and its rules (`sim::groups`).

use super::addressing::Addressing;
use super::stanzas::notification;
use crate::types::Jid;
use crate::wire::Node;

/// A member as a group names it: its JID in the group's namespace, the
/// other namespace beside it (`phone_number` in a LID group, `lid` in a
/// phone-number group) and its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub jid: Jid,
    pub alt: Option<Jid>,
    /// `admin`, `superadmin`, or `None` for a member.
    pub role: Option<&'static str>,
}

impl Member {
    /// `<participant jid [phone_number|lid] [type]/>`.
    pub fn node(&self, addressing: Addressing) -> Node {
        let mut node = Node::new("participant").attr("jid", self.jid.to_string());
        if let Some(alt) = &self.alt {
            let key = match addressing {
                Addressing::Lid => "phone_number",
                Addressing::Pn => "lid",
            };
            node = node.attr(key, alt.to_string());
        }
        match self.role {
            Some(role) => node.attr("type", role),
            None => node,
        }
    }
}

/// Someone the group names with the other namespace beside: the creator,
/// the subject's or description's author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub jid: Jid,
    /// Their phone number when `jid` is a LID.
    pub pn: Option<Jid>,
}

/// A group's description as its `<description>` carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptionInfo {
    pub id: String,
    pub body: String,
    pub owner: Named,
    pub time: u64,
}

/// What a `<group>` node says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The user part of `ID@g.us` (the `id` attribute carries no server).
    pub id: String,
    pub subject: String,
    pub subject_owner: Named,
    pub subject_time: u64,
    pub creator: Named,
    pub creation: u64,
    pub addressing: Addressing,
    pub members: Vec<Member>,
    pub description: Option<DescriptionInfo>,
    pub locked: bool,
    pub admin_add_only: bool,
}

impl GroupInfo {
    /// `<group id subject s_o [s_o_pn] s_t creator [creator_pn] creation
    /// addressing_mode size><participant/>..[<description>][<locked/>]
    /// <member_add_mode>..</member_add_mode></group>`.
    pub fn into_node(self) -> Node {
        let mut group = Node::new("group")
            .attr("id", self.id)
            .attr("subject", self.subject)
            .attr("s_o", self.subject_owner.jid.to_string())
            .attr("s_t", self.subject_time.to_string())
            .attr("creator", self.creator.jid.to_string())
            .attr("creation", self.creation.to_string())
            .attr("addressing_mode", self.addressing.as_str())
            .attr("size", self.members.len().to_string());
        if let Some(pn) = &self.subject_owner.pn {
            group = group.attr("s_o_pn", pn.to_string());
        }
        if let Some(pn) = &self.creator.pn {
            group = group.attr("creator_pn", pn.to_string());
        }
        let mut children: Vec<Node> = self
            .members
            .iter()
            .map(|m| m.node(self.addressing))
            .collect();
        if let Some(d) = self.description {
            children.push(description_node(&d));
        }
        if self.locked {
            children.push(Node::new("locked"));
        }
        let add_mode = if self.admin_add_only {
            "admin_add"
        } else {
            "all_member_add"
        };
        children.push(Node::new("member_add_mode").bytes(add_mode.as_bytes()));
        group.children(children)
    }
}

/// `<description id participant [participant_pn] t><body>..</body>`.
fn description_node(d: &DescriptionInfo) -> Node {
    let mut node = Node::new("description")
        .attr("id", d.id.as_str())
        .attr("participant", d.owner.jid.to_string())
        .attr("t", d.time.to_string());
    if let Some(pn) = &d.owner.pn {
        node = node.attr("participant_pn", pn.to_string());
    }
    node.children(vec![Node::new("body").bytes(d.body.as_bytes())])
}

/// One asked participant's outcome in the answer to an add, remove,
/// promote or demote: `<participant jid [error] [phone_number]/>`, `jid`
/// as asked.
pub fn change_result(asked: &str, error: Option<u16>, phone_number: Option<&Jid>) -> Node {
    let mut node = Node::new("participant").attr("jid", asked);
    if let Some(code) = error {
        node = node.attr("error", code.to_string());
    }
    if let Some(pn) = phone_number {
        node = node.attr("phone_number", pn.to_string());
    }
    node
}

/// What changed, as a child of a `w:gp2` notification.
pub enum Change<'a> {
    /// `<create><group/></create>`: the members were added at creation.
    Create(Node),
    /// `<add|remove|promote|demote [reason]><participant/>..`.
    Members {
        tag: &'static str,
        reason: Option<&'static str>,
        members: &'a [Member],
    },
    /// `<subject subject s_o s_t/>`.
    Subject {
        subject: &'a str,
        owner: &'a Jid,
        time: u64,
    },
    /// `<description id><body/></description>` or `..><delete/>`.
    Description { id: &'a str, body: Option<&'a str> },
    /// `<locked/>`, `<unlocked/>`: who may edit the group's info.
    Setting(&'static str),
}

impl Change<'_> {
    fn into_node(self, addressing: Addressing) -> Node {
        match self {
            Change::Create(group) => Node::new("create").children(vec![group]),
            Change::Members {
                tag,
                reason,
                members,
            } => {
                let node =
                    Node::new(tag).children(members.iter().map(|m| m.node(addressing)).collect());
                match reason {
                    Some(reason) => node.attr("reason", reason),
                    None => node,
                }
            }
            Change::Subject {
                subject,
                owner,
                time,
            } => Node::new("subject")
                .attr("subject", subject)
                .attr("s_o", owner.to_string())
                .attr("s_t", time.to_string()),
            Change::Description { id, body } => {
                let inner = match body {
                    Some(text) => Node::new("body").bytes(text.as_bytes()),
                    None => Node::new("delete"),
                };
                Node::new("description")
                    .attr("id", id)
                    .children(vec![inner])
            }
            Change::Setting(tag) => Node::new(tag),
        }
    }
}

/// `<notification from="ID@g.us" type="w:gp2" id t participant
/// [participant_pn] [addressing_mode="lid"]>` with the change, and its id:
/// `actor` is who made it, in the group's namespace.
pub fn group_notification(
    group: &Jid,
    actor: &Named,
    addressing: Addressing,
    now: u64,
    change: Change<'_>,
) -> (String, Node) {
    let (id, mut node) = notification(group, "w:gp2", now, vec![change.into_node(addressing)]);
    node = node.attr("participant", actor.jid.to_string());
    if let Some(pn) = &actor.pn {
        node = node.attr("participant_pn", pn.to_string());
    }
    if addressing == Addressing::Lid {
        node = node.attr("addressing_mode", "lid");
    }
    (id, node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lid_group_names_members_by_lid_with_their_numbers_beside() {
        let member = Member {
            jid: Jid::lid("77"),
            alt: Some(Jid::pn("155")),
            role: Some("superadmin"),
        };
        let info = GroupInfo {
            id: "120363000000000001".into(),
            subject: "Team".into(),
            subject_owner: Named {
                jid: Jid::lid("77"),
                pn: Some(Jid::pn("155")),
            },
            subject_time: 5,
            creator: Named {
                jid: Jid::lid("77"),
                pn: Some(Jid::pn("155")),
            },
            creation: 5,
            addressing: Addressing::Lid,
            members: vec![member.clone()],
            description: None,
            locked: false,
            admin_add_only: false,
        };
        let node = info.into_node();
        assert_eq!(node.get_attr("addressing_mode"), Some("lid"));
        assert_eq!(node.get_attr("creator_pn"), Some("155@s.whatsapp.net"));
        let p = node.child("participant").unwrap();
        assert_eq!(p.get_attr("jid"), Some("77@lid"));
        assert_eq!(p.get_attr("phone_number"), Some("155@s.whatsapp.net"));
        assert_eq!(p.get_attr("type"), Some("superadmin"));

        let actor = Named {
            jid: Jid::lid("77"),
            pn: Some(Jid::pn("155")),
        };
        let members = [member];
        let change = Change::Members {
            tag: "add",
            reason: None,
            members: &members,
        };
        let group = Jid::new("120363000000000001", crate::types::Server::Group);
        let (_, n) = group_notification(&group, &actor, Addressing::Lid, 9, change);
        assert_eq!(n.get_attr("type"), Some("w:gp2"));
        assert_eq!(n.get_attr("participant_pn"), Some("155@s.whatsapp.net"));
        assert!(n
            .child("add")
            .and_then(|a| a.child("participant"))
            .is_some());
    }
}
