//! The stanzas of routed traffic: the copy of a message a device receives,
//! the receipts phones send, the server's acks, and reading the ids a
//! receipt covers.
//!
//! Owns: the shape of these stanzas (whatsmeow `handleAck`,
//! `sendReceipt`, `sendRetryReceipt` shapes). Pure: typed addresses and
//! times in, [`Node`]s out. Must not touch: state, who gets what (that is
//! `routing` and `phone`).

use crate::signal::CiphertextMessage;
use crate::types::Jid;
use crate::wire::Node;

/// `<enc v="2" type="pkmsg|msg">ciphertext</enc>`.
pub fn enc_node(ciphertext: &CiphertextMessage) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", ciphertext.enc_type())
        .bytes(ciphertext.bytes().to_vec())
}

/// One encrypted copy as a companion receives it: `<message from id
/// type="text" t notify [attrs..]><enc/>..[<device-identity/>]`. `from`
/// is the sending device (1:1) or the group; the attributes say the rest
/// (`recipient` and `peer_recipient_pn|lid` on the sender's own devices'
/// copy, `sender_pn|lid` on the recipient's, `participant`,
/// `addressing_mode` and `participant_pn|lid` in groups: wacore
/// `parse_message_info`, Baileys `decodeMessageNode`).
pub struct Copy<'a> {
    pub from: Jid,
    pub id: &'a str,
    pub timestamp: u64,
    /// The sender's push name.
    pub notify: String,
    /// Further attributes, in order.
    pub attrs: Vec<(&'static str, String)>,
    /// The `<enc>` children: the device's own pairwise copy, then a
    /// group's `skmsg`.
    pub encs: Vec<Node>,
    pub device_identity: Option<&'a Node>,
}

impl Copy<'_> {
    pub fn into_node(self) -> Node {
        let mut message = Node::new("message")
            .attr("from", self.from.to_string())
            .attr("id", self.id)
            .attr("type", "text")
            .attr("t", self.timestamp.to_string())
            .attr("notify", self.notify);
        for (key, value) in self.attrs {
            message = message.attr(key, value);
        }
        let mut children = self.encs;
        if let Some(identity) = self.device_identity {
            children.push(identity.clone());
        }
        message.children(children)
    }
}

/// A phone's delivery receipt: `<receipt from id t/>`.
pub fn delivery_receipt(from: &Jid, id: &str, now: u64) -> Node {
    Node::new("receipt")
        .attr("from", from.to_string())
        .attr("id", id)
        .attr("t", now.to_string())
}

/// A phone's read receipt for `ids` (one sender): the first id in `id`,
/// the others in `<list><item id/>`.
pub fn read_receipt(from: &Jid, ids: &[String], now: u64) -> Node {
    let first = ids.first().map_or("", String::as_str);
    let receipt = Node::new("receipt")
        .attr("from", from.to_string())
        .attr("id", first)
        .attr("type", "read")
        .attr("t", now.to_string());
    if ids.len() < 2 {
        return receipt;
    }
    receipt.children(vec![Node::new("list").children(
        ids[1..]
            .iter()
            .map(|i| Node::new("item").attr("id", i.as_str()))
            .collect(),
    )])
}

/// A phone could not decrypt message `id` (sent at `sent_at`): `<receipt
/// type="retry"><retry count id t v/><registration/></receipt>`.
pub fn retry_receipt(from: &Jid, id: &str, sent_at: u64, registration_id: u32, now: u64) -> Node {
    Node::new("receipt")
        .attr("from", from.to_string())
        .attr("id", id)
        .attr("type", "retry")
        .attr("t", now.to_string())
        .children(vec![
            Node::new("retry")
                .attr("count", "1")
                .attr("id", id)
                .attr("t", sent_at.to_string())
                .attr("v", "1"),
            Node::new("registration").bytes(registration_id.to_be_bytes().to_vec()),
        ])
}

/// A companion's receipt as the server passes it on to the message's
/// sender: `from` the companion (1:1) or the group, with its type, the
/// `participant` (the receiving device, for a group) and its children.
pub fn forwarded_receipt(from: &Jid, participant: Option<&Jid>, receipt: &Node, now: u64) -> Node {
    let mut forwarded = Node::new("receipt")
        .attr("from", from.to_string())
        .attr("id", receipt.get_attr("id").unwrap_or_default())
        .attr("t", now.to_string());
    if let Some(kind) = receipt.get_attr("type") {
        forwarded = forwarded.attr("type", kind);
    }
    match (participant, receipt.get_attr("participant")) {
        (Some(p), _) => forwarded = forwarded.attr("participant", p.to_string()),
        (None, Some(p)) => forwarded = forwarded.attr("participant", p),
        (None, None) => {}
    }
    forwarded.children(receipt.child_nodes().to_vec())
}

/// The server accepted a `<message>`: `<ack class="message" id from t/>`
/// (`from` is the message's `to`).
pub fn message_ack(message: &Node, now: u64) -> Node {
    Node::new("ack")
        .attr("class", "message")
        .attr("id", message.get_attr("id").unwrap_or_default())
        .attr("from", message.get_attr("to").unwrap_or_default())
        .attr("t", now.to_string())
}

/// The server accepted a `<receipt>`: `<ack class="receipt" id from
/// [type]/>`.
pub fn receipt_ack(receipt: &Node) -> Node {
    let from = receipt
        .get_attr("to")
        .map_or_else(super::stanzas::server_jid, str::to_owned);
    let ack = Node::new("ack")
        .attr("class", "receipt")
        .attr("id", receipt.get_attr("id").unwrap_or_default())
        .attr("from", from);
    match receipt.get_attr("type") {
        Some(kind) => ack.attr("type", kind),
        None => ack,
    }
}

/// The ids a receipt covers: its `id` and any `<list><item id/>`.
pub fn receipt_ids(receipt: &Node) -> Vec<String> {
    let mut ids: Vec<String> = receipt
        .get_attr("id")
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(list) = receipt.child("list") {
        ids.extend(
            list.child_nodes()
                .iter()
                .filter_map(|i| i.get_attr("id"))
                .map(str::to_string),
        );
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_receipt_lists_every_id_after_the_first() {
        let from = Jid::pn("15550001111");
        let ids = ["a".to_string(), "b".into(), "c".into()];
        let receipt = read_receipt(&from, &ids, 7);
        assert_eq!(receipt.get_attr("id"), Some("a"));
        assert_eq!(receipt_ids(&receipt), ids);
        assert!(read_receipt(&from, &ids[..1], 7).child("list").is_none());
    }
}
