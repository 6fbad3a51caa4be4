//! The group iqs, one spec each, in namespace `w:g2` (shapes: wacore
//! `iq/groups.rs`, whatsmeow `group.go`). Requests that name no group go
//! to `g.us` itself; the others to the group's JID.
//!
//! Owns: building these requests and reading their answers, and how the
//! server's refusals read (404: no such group; 403: not a member, which
//! a caller cannot tell apart from no group; 401: not an admin —
//! whatsmeow `errors.go` ErrGroupNotFound / ErrNotInGroup,
//! ErrIQNotAuthorized). Must not touch: state, the store, events.

use super::types::{GroupInfo, JoinedGroup, ParticipantAction, ParticipantResult};
use crate::client::core::{envelope, expect_result, IqSpec};
use crate::client::ClientError;
use crate::types::{Jid, Server};
use crate::wire::Node;

/// The group iqs' namespace (wacore `GROUP_IQ_NAMESPACE`).
pub const XMLNS: &str = "w:g2";

/// `g.us`: where group iqs that name no group go.
fn groups_server() -> Jid {
    Jid::new("", Server::Group)
}

/// The answer when it is a result; the server's refusal in the caller's
/// terms otherwise.
fn group_result<'a>(answer: &'a Node, group: &Jid) -> Result<&'a Node, ClientError> {
    expect_result(answer).map_err(|e| match e {
        ClientError::Server { code, .. } if code == "404" => {
            ClientError::GroupNotFound(group.to_string())
        }
        ClientError::Server { code, .. } if code == "403" => {
            ClientError::GroupNotFound(format!("{group}: not a member"))
        }
        ClientError::Server { code, text } if code == "401" => {
            ClientError::NotGroupAdmin(format!("{group}: {code} {text}"))
        }
        other => other,
    })
}

/// The `<group>` an answer carries.
fn group_child(answer: &Node) -> Result<GroupInfo, ClientError> {
    answer
        .child("group")
        .and_then(GroupInfo::from_node)
        .ok_or_else(|| ClientError::Server {
            code: "malformed".into(),
            text: "the answer carries no readable <group>".into(),
        })
}

/// `<participant jid/>` for each member named.
fn participant_nodes(participants: &[Jid]) -> Vec<Node> {
    participants
        .iter()
        .map(|p| Node::new("participant").attr("jid", p.to_string()))
        .collect()
}

/// What `read` makes of each `<tag>` child of `parent` (none without a
/// parent); unreadable children are skipped.
fn each<T>(parent: Option<&Node>, tag: &str, read: impl Fn(&Node) -> Option<T>) -> Vec<T> {
    parent
        .map_or(&[][..], Node::child_nodes)
        .iter()
        .filter(|n| n.tag == tag)
        .filter_map(read)
        .collect()
}

/// `<iq to="g.us" type="set"><create subject><participant jid/>..</create>`:
/// a new group with us as its creator; the answer is its `<group>`.
pub struct CreateGroup {
    pub subject: String,
    pub participants: Vec<Jid>,
}

impl IqSpec for CreateGroup {
    type Answer = GroupInfo;

    fn request(&self, id: &str) -> Node {
        let create = Node::new("create")
            .attr("subject", self.subject.as_str())
            .children(participant_nodes(&self.participants));
        envelope::iq_to(id, XMLNS, "set", &groups_server(), vec![create])
    }

    fn parse(&self, answer: &Node) -> Result<GroupInfo, ClientError> {
        group_child(group_result(answer, &groups_server())?)
    }
}

/// `<iq to=GROUP type="get"><query request="interactive"/>`: the group's
/// metadata and members.
pub struct GroupInfoQuery {
    pub group: Jid,
}

impl IqSpec for GroupInfoQuery {
    type Answer = GroupInfo;

    fn request(&self, id: &str) -> Node {
        let query = Node::new("query").attr("request", "interactive");
        envelope::iq_to(id, XMLNS, "get", &self.group, vec![query])
    }

    fn parse(&self, answer: &Node) -> Result<GroupInfo, ClientError> {
        group_child(group_result(answer, &self.group)?)
    }
}

/// `<iq to="g.us" type="get"><participating><participants/><description/>`:
/// every group we are a member of (answer: `<groups><group>..`).
pub struct ParticipatingGroups;

impl IqSpec for ParticipatingGroups {
    type Answer = Vec<GroupInfo>;

    fn request(&self, id: &str) -> Node {
        let participating = Node::new("participating")
            .children(vec![Node::new("participants"), Node::new("description")]);
        envelope::iq_to(id, XMLNS, "get", &groups_server(), vec![participating])
    }

    fn parse(&self, answer: &Node) -> Result<Vec<GroupInfo>, ClientError> {
        let answer = group_result(answer, &groups_server())?;
        Ok(each(answer.child("groups"), "group", GroupInfo::from_node))
    }
}

/// `<iq to=GROUP type="set"><add|remove|promote|demote><participant jid/>..`:
/// the answer names each participant, with an `error` code where it failed.
pub struct ChangeParticipants {
    pub group: Jid,
    pub action: ParticipantAction,
    pub participants: Vec<Jid>,
}

impl IqSpec for ChangeParticipants {
    type Answer = Vec<ParticipantResult>;

    fn request(&self, id: &str) -> Node {
        let action = Node::new(self.action.tag()).children(participant_nodes(&self.participants));
        envelope::iq_to(id, XMLNS, "set", &self.group, vec![action])
    }

    fn parse(&self, answer: &Node) -> Result<Vec<ParticipantResult>, ClientError> {
        let answer = group_result(answer, &self.group)?;
        Ok(each(
            answer.child(self.action.tag()),
            "participant",
            ParticipantResult::from_node,
        ))
    }
}

/// `<iq to=GROUP type="set"><subject>TEXT</subject>`.
pub struct SetSubject {
    pub group: Jid,
    pub subject: String,
}

impl IqSpec for SetSubject {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        let subject = Node::new("subject").bytes(self.subject.as_bytes().to_vec());
        envelope::iq_to(id, XMLNS, "set", &self.group, vec![subject])
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        group_result(answer, &self.group).map(|_| ())
    }
}

/// `<iq to=GROUP type="set"><description id [prev]><body>TEXT</body>` or,
/// to clear it, `<description id [prev] delete="true"/>`. `id` is fresh
/// (8 hex digits); `prev` names the description it replaces.
pub struct SetDescription {
    pub group: Jid,
    pub description: Option<String>,
    pub id: String,
    pub prev: Option<String>,
}

impl SetDescription {
    pub fn new(group: Jid, description: Option<String>, prev: Option<String>) -> SetDescription {
        SetDescription {
            group,
            description,
            id: format!("{:08X}", rand::random::<u32>()),
            prev,
        }
    }
}

impl IqSpec for SetDescription {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        let mut node = Node::new("description").attr("id", self.id.as_str());
        if let Some(prev) = &self.prev {
            node = node.attr("prev", prev.as_str());
        }
        let node = match &self.description {
            Some(text) => node.children(vec![Node::new("body").bytes(text.as_bytes().to_vec())]),
            None => node.attr("delete", "true"),
        };
        envelope::iq_to(id, XMLNS, "set", &self.group, vec![node])
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        group_result(answer, &self.group).map(|_| ())
    }
}

/// `<iq to="g.us" type="set"><leave><group id=GROUP/></leave>`.
pub struct LeaveGroup {
    pub group: Jid,
}

impl IqSpec for LeaveGroup {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        let leave = Node::new("leave")
            .children(vec![Node::new("group").attr("id", self.group.to_string())]);
        envelope::iq_to(id, XMLNS, "set", &groups_server(), vec![leave])
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        group_result(answer, &self.group).map(|_| ())
    }
}

/// `<iq to=GROUP type="get"><invite/>` for the invite code, or
/// `type="set"` to revoke the old one and get a new one; the answer is
/// `<invite code/>`.
pub struct InviteCode {
    pub group: Jid,
    pub reset: bool,
}

impl IqSpec for InviteCode {
    type Answer = String;

    fn request(&self, id: &str) -> Node {
        let kind = if self.reset { "set" } else { "get" };
        envelope::iq_to(id, XMLNS, kind, &self.group, vec![Node::new("invite")])
    }

    fn parse(&self, answer: &Node) -> Result<String, ClientError> {
        group_result(answer, &self.group)?
            .child("invite")
            .and_then(|i| i.get_attr("code"))
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ClientError::Server {
                code: "malformed".into(),
                text: "the answer carries no invite code".into(),
            })
    }
}

/// `<iq to="g.us" type="set"><invite code/>`: joins the group an invite
/// code (the last part of its link) leads to. The answer names it as
/// `<group jid/>`, or `<membership_approval_request jid/>` when an admin
/// must approve first.
pub struct JoinByInvite {
    pub code: String,
}

impl IqSpec for JoinByInvite {
    type Answer = JoinedGroup;

    fn request(&self, id: &str) -> Node {
        let invite = Node::new("invite").attr("code", self.code.as_str());
        envelope::iq_to(id, XMLNS, "set", &groups_server(), vec![invite])
    }

    fn parse(&self, answer: &Node) -> Result<JoinedGroup, ClientError> {
        let answer = expect_result(answer).map_err(|e| match e {
            ClientError::Server { code, text } if code == "404" || code == "406" => {
                ClientError::GroupNotFound(format!("invite code {}: {code} {text}", self.code))
            }
            other => other,
        })?;
        let joined = |tag, pending_approval| {
            let jid = answer.child(tag)?.get_attr("jid")?;
            let jid = super::types::group_of(jid)?;
            Some(JoinedGroup {
                jid,
                pending_approval,
            })
        };
        joined("group", false)
            .or_else(|| joined("membership_approval_request", true))
            .ok_or_else(|| ClientError::Server {
                code: "malformed".into(),
                text: "the answer names no group".into(),
            })
    }
}
