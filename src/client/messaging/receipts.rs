//! Receipts, both ways: confirming what we received (delivered, retry),
//! marking messages read, and the receipts contacts send for our texts
//! (shapes: whatsmeow `receipt.go`, wacore `receipt.rs`).

use super::decrypt::Incoming;
use super::send::chat_of;
use super::state::Messaging;
use crate::client::core::{envelope, Action, Ctx, Done, Phase, Then};
use crate::client::events::{Event, ReceiptKind};
use crate::client::ClientError;
use crate::types::{DeviceAddress, Jid, MessageId};
use crate::wire::Node;

/// `<receipt id to=SENDER [type="sender"]/>`: the message arrived and was
/// decrypted; the server may forget it. Messages from our own other
/// devices are confirmed with `type="sender"`.
pub fn delivered(incoming: &Incoming, from_own_device: bool) -> Node {
    let node = Node::new("receipt")
        .attr("id", incoming.id.as_str())
        .attr("to", incoming.from.to_string());
    if from_own_device {
        let node = match &incoming.recipient {
            Some(r) => node.attr("recipient", r.to_string()),
            None => node,
        };
        node.attr("type", "sender")
    } else {
        node
    }
}

/// `<receipt id to type="retry"><retry count id t v="1"/><registration>`:
/// we could not decrypt; the sender should start a new session and send
/// the message again.
pub fn retry(incoming: &Incoming, registration_id: u32) -> Node {
    retry_receipt(
        Node::new("receipt").attr("to", incoming.from.to_string()),
        &incoming.id,
        incoming.timestamp,
        registration_id,
    )
}

/// The retry receipt's own attributes and children added to `receipt`
/// (which says whom it goes to).
pub fn retry_receipt(receipt: Node, id: &MessageId, timestamp: u64, registration_id: u32) -> Node {
    receipt
        .attr("id", id.as_str())
        .attr("type", "retry")
        .children(vec![
            Node::new("retry")
                .attr("count", "1")
                .attr("id", id.as_str())
                .attr("t", timestamp.to_string())
                .attr("v", "1"),
            Node::new("registration").bytes(registration_id.to_be_bytes().to_vec()),
        ])
}

/// `<receipt id=FIRST to=CHAT [participant=SENDER] type="read" t><list><item id/>..</list>`.
/// A group's read receipt names the member whose messages were read in
/// `participant` (whatsmeow `receipt.go` MarkRead). `None` without ids.
pub fn read(chat: &Jid, participant: Option<&Jid>, ids: &[String], timestamp: u64) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let node = Node::new("receipt")
        .attr("id", first.as_str())
        .attr("to", chat.to_string());
    let node = match participant {
        Some(sender) => node.attr("participant", sender.to_string()),
        None => node,
    };
    let node = node.attr("type", "read").attr("t", timestamp.to_string());
    if rest.is_empty() {
        return Some(node);
    }
    let items = rest
        .iter()
        .map(|id| Node::new("item").attr("id", id.as_str()))
        .collect();
    Some(node.children(vec![Node::new("list").children(items)]))
}

/// Whom a read receipt goes to: the chat, and for a group the member who
/// sent the messages (a phone number or user JID; a device suffix is
/// dropped). A sender named for a one-to-one chat is ignored: the chat is
/// the sender.
pub fn read_target(chat: &str, sender: Option<&str>) -> Result<(Jid, Option<Jid>), ClientError> {
    if chat.trim().ends_with("@g.us") {
        let group = crate::client::groups::group_of(chat)
            .ok_or_else(|| ClientError::InvalidRecipient(format!("{chat:?} is not a group JID")))?;
        let sender = sender.ok_or_else(|| {
            ClientError::InvalidRecipient(format!(
                "a read receipt in group {chat:?} needs the sender of the messages"
            ))
        })?;
        let member = Jid::parse(sender.trim())
            .ok()
            .filter(|j| j.is_pn() || j.is_lid())
            .map(|j| j.to_non_ad())
            .or_else(|| crate::client::groups::participant_of(sender))
            .ok_or_else(|| {
                ClientError::InvalidRecipient(format!(
                    "{sender:?} is not a phone number or user JID"
                ))
            })?;
        return Ok((group, Some(member)));
    }
    let jid = chat_of(chat).ok_or_else(|| ClientError::InvalidRecipient(chat.to_string()))?;
    Ok((jid, None))
}

/// An incoming receipt for messages we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingReceipt {
    /// `None` for kinds that are not reported (retry, sender, inactive..).
    pub kind: Option<ReceiptKind>,
    pub retry: bool,
    pub chat: Jid,
    pub sender: DeviceAddress,
    pub ids: Vec<MessageId>,
    pub timestamp: u64,
}

/// Reads a `<receipt>`; `None` when it names no sender or id. A group's
/// receipt comes `from` the group, the member's device in `participant`.
pub fn parse(node: &Node) -> Option<IncomingReceipt> {
    let from = node.get_attr("from")?;
    let group = crate::client::groups::group_of(from).filter(|_| from.ends_with("@g.us"));
    let sender = match &group {
        Some(_) => DeviceAddress::parse(node.get_attr("participant")?)?,
        None => DeviceAddress::parse(from)?,
    };
    let mut ids = vec![MessageId::from(node.get_attr("id")?)];
    if let Some(list) = node.child("list") {
        ids.extend(
            list.child_nodes()
                .iter()
                .filter_map(|i| i.get_attr("id"))
                .map(MessageId::from),
        );
    }
    let kind_attr = node.get_attr("type").unwrap_or_default();
    let kind = match kind_attr {
        "" | "delivery" => Some(ReceiptKind::Delivered),
        "read" | "read-self" => Some(ReceiptKind::Read),
        "played" | "played-self" => Some(ReceiptKind::Played),
        _ => None,
    };
    Some(IncomingReceipt {
        kind,
        retry: kind_attr == "retry",
        chat: group
            .or_else(|| node.get_attr("recipient").and_then(|r| Jid::parse(r).ok()))
            .unwrap_or_else(|| sender.user_jid()),
        sender,
        ids,
        timestamp: node
            .get_attr("t")
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
    })
}

/// The mark-read command: read receipts for `ids` of `chat` to their
/// sender (`sender` names the member in a group; see `read_target`).
pub fn mark_read(chat: String, sender: Option<String>, ids: Vec<String>, done: Done) -> Then {
    Then::ctx(move |ctx, _| {
        if ctx.phase != Phase::Connected {
            let _ = done.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        let (jid, participant) = match read_target(&chat, sender.as_deref()) {
            Ok(target) => target,
            Err(e) => {
                let _ = done.send(Err(e));
                return Vec::new();
            }
        };
        match read(&jid, participant.as_ref(), &ids, ctx.unix_now()) {
            Some(node) => vec![Action::SendFor(node, done)],
            None => {
                let _ = done.send(Ok(()));
                Vec::new()
            }
        }
    })
}

impl Messaging {
    /// An incoming `<receipt>`: a retry is answered, the rest reported;
    /// acknowledged either way.
    pub(super) fn on_receipt(&mut self, ctx: &Ctx, node: &Node) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(receipt) = parse(node) {
            if receipt.retry {
                tracing::info!(ids = ?receipt.ids, from = %receipt.sender, "peer asked for a retry");
                if let Some(id) = receipt.ids.first() {
                    out.extend(self.on_retry_receipt(ctx, id, &receipt.sender));
                }
            }
            if let Some(kind) = receipt.kind {
                out.push(Action::Emit(Event::Receipt {
                    kind,
                    chat: receipt.chat,
                    sender: receipt.sender.jid(),
                    ids: receipt.ids,
                    timestamp: receipt.timestamp,
                }));
            }
        }
        out.extend(envelope::ack_actions(node));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_receipt_names_the_member_device_and_the_group() {
        let receipt = Node::new("receipt")
            .attr("from", "120363000000000001@g.us")
            .attr("participant", "15550002222:3@s.whatsapp.net")
            .attr("id", "M1")
            .attr("type", "retry");
        let parsed = parse(&receipt).expect("a receipt");
        assert_eq!(parsed.chat.to_string(), "120363000000000001@g.us");
        assert_eq!(parsed.sender.to_string(), "15550002222:3@s.whatsapp.net");
        assert!(parsed.retry);
        assert_eq!(parsed.kind, None);
        // Without the member it names nobody.
        let anonymous = Node::new("receipt")
            .attr("from", "120363000000000001@g.us")
            .attr("id", "M1");
        assert_eq!(parse(&anonymous), None);
        // A 1:1 receipt: the chat is the sender's user.
        let direct = Node::new("receipt")
            .attr("from", "15550002222:3@s.whatsapp.net")
            .attr("id", "M2");
        let parsed = parse(&direct).expect("a receipt");
        assert_eq!(parsed.chat.to_string(), "15550002222@s.whatsapp.net");
        assert_eq!(parsed.kind, Some(ReceiptKind::Delivered));
    }

    #[test]
    fn a_group_read_receipt_names_the_sender_and_a_direct_one_does_not() {
        let ids = vec!["M1".to_string(), "M2".to_string()];
        let (chat, sender) = read_target(
            "120363000000000001@g.us",
            Some("15550002222:3@s.whatsapp.net"),
        )
        .unwrap();
        let node = read(&chat, sender.as_ref(), &ids, 7).unwrap();
        assert_eq!(node.get_attr("to"), Some("120363000000000001@g.us"));
        assert_eq!(
            node.get_attr("participant"),
            Some("15550002222@s.whatsapp.net")
        );
        assert_eq!(node.get_attr("type"), Some("read"));
        let (_, by_number) =
            read_target("120363000000000001@g.us", Some("+1 555 000 2222")).unwrap();
        assert_eq!(by_number.unwrap().to_string(), "15550002222@s.whatsapp.net");
        let (_, by_lid) = read_target("120363000000000001@g.us", Some("98765@lid")).unwrap();
        assert_eq!(by_lid.unwrap().to_string(), "98765@lid");
        // A group without the sender, or with a sender that names no user,
        // is refused rather than sent to the wrong place.
        for sender in [None, Some("120363000000000002@g.us"), Some("nobody")] {
            assert!(matches!(
                read_target("120363000000000001@g.us", sender),
                Err(ClientError::InvalidRecipient(_))
            ));
        }
        let (chat, sender) =
            read_target("+1 555 000 2222", Some("15550003333@s.whatsapp.net")).unwrap();
        assert_eq!(chat.to_string(), "15550002222@s.whatsapp.net");
        assert_eq!(sender, None);
        let node = read(&chat, None, &ids[..1], 7).unwrap();
        assert_eq!(node.get_attr("participant"), None);
        assert!(node.child("list").is_none());
    }
}
