//! Builders for the stanzas a session sends. Shapes follow whatsmeow and
//! wacore-0.7.0 (`iq/*.rs`); the simulator must agree with them.

use crate::signal::{PreKey, SignedPreKey, DJB_KEY_TYPE};
use crate::wire::Node;

/// The server's JID, `to` of every iq a client sends.
pub const SERVER_JID: &str = "s.whatsapp.net";

/// `<iq id xmlns type to="s.whatsapp.net">children</iq>`.
pub fn iq(id: &str, xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
    let node = Node::new("iq")
        .attr("id", id)
        .attr("xmlns", xmlns)
        .attr("type", kind)
        .attr("to", SERVER_JID);
    if children.is_empty() {
        node
    } else {
        node.children(children)
    }
}

/// Keepalive: `<iq xmlns="w:p" type="get"><ping/></iq>` (whatsmeow
/// `keepalive.go`; wacore sends it without the child).
pub fn ping(id: &str) -> Node {
    iq(id, "w:p", "get", vec![Node::new("ping")])
}

/// `<iq xmlns="passive" type="set"><active/></iq>`: ready for traffic.
pub fn set_active(id: &str) -> Node {
    iq(id, "passive", "set", vec![Node::new("active")])
}

/// `<iq xmlns="encrypt" type="get"><count/></iq>`: how many one-time
/// prekeys the server still holds (answer: `<count value="N"/>`).
pub fn prekey_count(id: &str) -> Node {
    iq(id, "encrypt", "get", vec![Node::new("count")])
}

/// Prekey ids travel as 3 big-endian bytes.
fn id_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// `<iq xmlns="encrypt" type="set">` uploading one-time prekeys with the
/// registration id, key type, identity key and signed prekey
/// (wacore-0.7.0 `PreKeyUtils::build_upload_prekeys_request`).
pub fn prekey_upload(
    id: &str,
    registration_id: u32,
    identity_public: &[u8; 32],
    signed: &SignedPreKey,
    keys: &[PreKey],
) -> Node {
    let list = keys
        .iter()
        .map(|k| {
            Node::new("key").children(vec![
                Node::new("id").bytes(id_bytes(k.id)),
                Node::new("value").bytes(k.key_pair.public.to_vec()),
            ])
        })
        .collect();
    iq(
        id,
        "encrypt",
        "set",
        vec![
            Node::new("registration").bytes(registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![DJB_KEY_TYPE]),
            Node::new("identity").bytes(identity_public.to_vec()),
            Node::new("list").children(list),
            Node::new("skey").children(vec![
                Node::new("id").bytes(id_bytes(signed.id)),
                Node::new("value").bytes(signed.key_pair.public.to_vec()),
                Node::new("signature").bytes(signed.signature.to_vec()),
            ]),
        ],
    )
}

/// `<iq xmlns="md" type="set"><remove-companion-device jid reason/></iq>`:
/// unlink this device (wacore-0.7.0 `iq/devices.rs`).
/// `<iq xmlns="encrypt" type="set"><rotate><skey><id/><value/><signature/>
/// </skey></rotate></iq>`: replaces our signed prekey on the server
/// (whatsmeow `prekeys.go`, wacore `iq/prekeys.rs`).
pub fn rotate_signed_prekey(id: &str, signed: &SignedPreKey) -> Node {
    iq(
        id,
        "encrypt",
        "set",
        vec![
            Node::new("rotate").children(vec![Node::new("skey").children(vec![
                Node::new("id").bytes(id_bytes(signed.id)),
                Node::new("value").bytes(signed.key_pair.public.to_vec()),
                Node::new("signature").bytes(signed.signature.to_vec()),
            ])]),
        ],
    )
}

pub fn remove_companion_device(id: &str, own_jid: &str) -> Node {
    iq(
        id,
        "md",
        "set",
        vec![Node::new("remove-companion-device")
            .attr("jid", own_jid)
            .attr("reason", "user_initiated")],
    )
}

/// `<iq to=from id type="result"/>` answering a server request.
pub fn iq_result(request: &Node) -> Option<Node> {
    let id = request.get_attr("id")?;
    let to = request.get_attr("from").unwrap_or(SERVER_JID);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;

    #[test]
    fn prekey_upload_has_the_expected_shape() {
        let spk = SignedPreKey {
            id: 1,
            key_pair: KeyPair::generate(),
            signature: [4; 64],
        };
        let keys = crate::signal::generate_prekeys(0x010203, 2);
        let identity = KeyPair::generate().public;
        let node = prekey_upload("i1", 300, &identity, &spk, &keys);
        assert_eq!(node.get_attr("xmlns"), Some("encrypt"));
        assert_eq!(node.get_attr("type"), Some("set"));
        let tags: Vec<&str> = node.child_nodes().iter().map(|n| n.tag.as_str()).collect();
        assert_eq!(tags, ["registration", "type", "identity", "list", "skey"]);
        assert_eq!(
            node.child("registration").unwrap().content_bytes(),
            Some(&[0, 0, 1, 44][..])
        );
        let list = node.child("list").unwrap().child_nodes();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0].child("id").unwrap().content_bytes(),
            Some(&[1, 2, 3][..])
        );
        assert_eq!(
            list[1].child("id").unwrap().content_bytes(),
            Some(&[1, 2, 4][..])
        );
        let skey = node.child("skey").unwrap();
        assert_eq!(
            skey.child("id").unwrap().content_bytes(),
            Some(&[0, 0, 1][..])
        );
        assert_eq!(
            skey.child("signature").unwrap().content_bytes(),
            Some(&[4; 64][..])
        );
    }

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
    }
}
