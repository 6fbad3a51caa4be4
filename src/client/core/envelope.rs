//! The stanza envelopes every feature uses: an iq to the server, the
//! result answering a server's iq, the ack of a delivered stanza.
//! Shapes follow whatsmeow and wacore-0.7.0; the simulator must agree.

use super::context::Action;
use crate::types::Jid;
use crate::wire::Node;

/// `<iq id xmlns type to="s.whatsapp.net">children</iq>`.
pub fn iq(id: &str, xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
    iq_to(id, xmlns, kind, &Jid::server(), children)
}

/// `<iq id xmlns type to>children</iq>` addressed to `to` (a group, or
/// `g.us` itself for the group iqs that name no group).
pub fn iq_to(id: &str, xmlns: &str, kind: &str, to: &Jid, children: Vec<Node>) -> Node {
    let node = Node::new("iq")
        .attr("id", id)
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .attr("to", to.to_string());
    if children.is_empty() {
        node
    } else {
        node.children(children)
    }
}

/// Whether a stanza comes from the server itself (`from="s.whatsapp.net"`).
pub fn from_server(node: &Node) -> bool {
    node.get_attr("from")
        .and_then(|f| Jid::parse(f).ok())
        .is_some_and(|j| j == Jid::server())
}

/// `<iq to=from id type="result"/>` answering a server request.
pub fn iq_result(request: &Node) -> Option<Node> {
    let id = request.get_attr("id")?;
    let to = request
        .get_attr("from")
        .map_or_else(|| Jid::server().to_string(), str::to_string);
    Some(
        Node::new("iq")
            .attr("to", to)
            .attr("id", id)
            .attr("type", "result"),
    )
}

/// `<ack class=tag id to=from [participant] [recipient] [type]/>`
/// (whatsmeow `sendAck`; `type` is echoed except for messages).
pub fn ack(stanza: &Node) -> Option<Node> {
    let id = stanza.get_attr("id")?;
    let from = stanza.get_attr("from")?;
    let mut node = Node::new("ack")
        .attr("class", stanza.tag.as_str())
        .attr("id", id)
        .attr("to", from);
    for key in ["participant", "recipient"] {
        if let Some(v) = stanza.get_attr(key) {
            node = node.attr(key, v);
        }
    }
    if stanza.tag != "message" {
        if let Some(t) = stanza.get_attr("type") {
            node = node.attr("type", t);
        }
    }
    Some(node)
}

/// [`ack`] as the actions to take (none for a stanza without id or sender).
pub fn ack_actions(stanza: &Node) -> Vec<Action> {
    ack(stanza).map(Action::Send).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_echo_the_stanza() {
        let n = Node::new("notification")
            .attr("id", "n1")
            .attr("from", "s.whatsapp.net")
            .attr("type", "devices");
        let a = ack(&n).unwrap();
        assert_eq!(a.get_attr("class"), Some("notification"));
        assert_eq!(a.get_attr("to"), Some("s.whatsapp.net"));
        assert_eq!(a.get_attr("type"), Some("devices"));
        assert!(ack(&Node::new("notification")).is_none());
        assert!(from_server(&n));
        let from_user = Node::new("iq").attr("from", "1@s.whatsapp.net");
        assert!(!from_server(&from_user));
    }
}
