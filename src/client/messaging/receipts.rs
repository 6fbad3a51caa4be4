//! Receipt stanzas, both ways (shapes: whatsmeow `receipt.go`, wacore
//! `receipt.rs`).

use super::address::DeviceAddress;
use super::receive::Incoming;
use crate::client::events::ReceiptKind;
use crate::wire::Node;

/// `<receipt id to=SENDER [type="sender"]/>`: the message arrived and was
/// decrypted; the server may forget it. Messages from our own other
/// devices are confirmed with `type="sender"`.
pub fn delivered(incoming: &Incoming, from_own_device: bool) -> Node {
    let node = Node::new("receipt")
        .attr("id", incoming.id.as_str())
        .attr("to", incoming.from.jid());
    if from_own_device {
        let node = match &incoming.recipient {
            Some(r) => node.attr("recipient", r.as_str()),
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
    Node::new("receipt")
        .attr("id", incoming.id.as_str())
        .attr("to", incoming.from.jid())
        .attr("type", "retry")
        .children(vec![
            Node::new("retry")
                .attr("count", "1")
                .attr("id", incoming.id.as_str())
                .attr("t", incoming.timestamp.to_string())
                .attr("v", "1"),
            Node::new("registration").bytes(registration_id.to_be_bytes().to_vec()),
        ])
}

/// `<receipt id=FIRST to=CHAT type="read" t><list><item id/>..</list>`.
/// `None` without ids.
pub fn read(chat: &str, ids: &[String], timestamp: u64) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let node = Node::new("receipt")
        .attr("id", first.as_str())
        .attr("to", chat)
        .attr("type", "read")
        .attr("t", timestamp.to_string());
    if rest.is_empty() {
        return Some(node);
    }
    let items = rest
        .iter()
        .map(|id| Node::new("item").attr("id", id.as_str()))
        .collect();
    Some(node.children(vec![Node::new("list").children(items)]))
}

/// An incoming receipt for messages we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingReceipt {
    /// `None` for kinds that are not reported (retry, sender, inactive..).
    pub kind: Option<ReceiptKind>,
    pub retry: bool,
    pub chat: String,
    pub sender: String,
    pub ids: Vec<String>,
    pub timestamp: u64,
}

/// Reads a `<receipt>`; `None` when it names no sender or id.
pub fn parse(node: &Node) -> Option<IncomingReceipt> {
    let from = node.get_attr("from")?;
    let sender = DeviceAddress::parse(from)?;
    let mut ids = vec![node.get_attr("id")?.to_string()];
    if let Some(list) = node.child("list") {
        ids.extend(
            list.child_nodes()
                .iter()
                .filter_map(|i| i.get_attr("id"))
                .map(str::to_string),
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
        chat: node
            .get_attr("recipient")
            .map_or_else(|| sender.user_jid(), str::to_string),
        sender: sender.jid(),
        ids,
        timestamp: node
            .get_attr("t")
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
    })
}
