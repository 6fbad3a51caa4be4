//! The stanzas the simulated server says on its own behalf: IQ answers,
//! login results, stream errors, pairing IQs, notifications, and the ids
//! it makes up for them.
//!
//! Owns: the shape of each builder's stanza. Pure: values in, [`Node`]s
//! out; the caller passes the time. Must not touch: state, sockets, what
//! a stanza is answered with (the `iq` and `routing` modules decide).
//!
//! Shapes follow what WhatsApp's servers send as observed by public
//! clients (whatsapp-rust 0.7 `wacore` IQ specs, whatsmeow); each builder
//! names its stanza.

use base64::prelude::{Engine as _, BASE64_STANDARD};
use rand::Rng as _;

use crate::types::Jid;
use crate::wire::Node;

/// Code of the stream error that tells a freshly paired companion to
/// reconnect and log in.
pub const RESTART_REQUIRED: &str = "515";

/// `s.whatsapp.net` as an attribute value: `from` of what the server says.
pub fn server_jid() -> String {
    Jid::server().to_string()
}

/// Attribute `key` of `node` as a JID (`None` when absent or no JID).
pub fn jid_attr(node: &Node, key: &str) -> Option<Jid> {
    Jid::parse(node.get_attr(key)?).ok()
}

/// The elements tagged `tag` inside `node`'s first `<child>` (none when
/// it has no such child), e.g. the `<user>`s of a query's `<list>`.
pub fn children_of<'a>(
    node: &'a Node,
    child: &str,
    tag: &'a str,
) -> impl Iterator<Item = &'a Node> {
    node.child(child)
        .into_iter()
        .flat_map(Node::child_nodes)
        .filter(move |n| n.tag == tag)
}

/// A fresh server IQ (or notification) id.
pub fn new_iq_id() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// A pair-device ref in the shape WhatsApp issues: `2@` then base64.
pub fn new_pairing_ref() -> String {
    let mut bytes = [0u8; 33];
    rand::thread_rng().fill(&mut bytes[..]);
    format!("2@{}", BASE64_STANDARD.encode(bytes))
}

/// `<iq from="s.whatsapp.net" type="set" id=.. xmlns="md"><pair-device>
/// <ref>..</ref>...</pair-device></iq>`.
pub fn pair_device(iq_id: &str, refs: &[String]) -> Node {
    let refs = refs
        .iter()
        .map(|r| Node::new("ref").bytes(r.as_bytes()))
        .collect();
    md_set(iq_id, Node::new("pair-device").children(refs))
}

/// `<iq from="s.whatsapp.net" type="set" id=.. xmlns="md"><pair-success>
/// <device-identity>..</device-identity><platform name="android"/>
/// <device jid=.. lid=../>[<client-props>..</client-props>]</pair-success>
/// </iq>`. `client_props` is an encoded `ClientPairingProps` (whatsapp-rust
/// `pair.rs` reads whether the account's chats are on LID from it).
pub fn pair_success(
    iq_id: &str,
    device_identity: &[u8],
    jid: &Jid,
    lid: &Jid,
    client_props: Option<Vec<u8>>,
) -> Node {
    let mut children = vec![
        Node::new("device-identity").bytes(device_identity),
        Node::new("platform").attr("name", "android"),
        Node::new("device")
            .attr("jid", jid.to_string())
            .attr("lid", lid.to_string()),
    ];
    children.extend(client_props.map(|props| Node::new("client-props").bytes(props)));
    md_set(iq_id, Node::new("pair-success").children(children))
}

fn md_set(iq_id: &str, child: Node) -> Node {
    Node::new("iq")
        .attr("from", server_jid())
        .attr("type", "set")
        .attr("id", iq_id)
        .attr("xmlns", "md")
        .children(vec![child])
}

/// `<success t=.. props=.. abprops=.. location="sim" lid=.. display_name=""
/// creation=../>`: login accepted.
pub fn success(lid: &Jid, now: u64) -> Node {
    let now = now.to_string();
    Node::new("success")
        .attr("t", now.as_str())
        .attr("props", "1")
        .attr("abprops", "1")
        .attr("location", "sim")
        .attr("lid", lid.to_string())
        .attr("display_name", "")
        .attr("creation", now.as_str())
}

/// `<failure reason=.. location="sim"/>`: login refused (401: unknown or
/// removed device, 400: malformed registration).
pub fn failure(reason: &str) -> Node {
    Node::new("failure")
        .attr("reason", reason)
        .attr("location", "sim")
}

/// `<stream:error code=../>`.
pub fn stream_error_code(code: &str) -> Node {
    Node::new("stream:error").attr("code", code)
}

/// `<stream:error><conflict type="replaced"/></stream:error>`.
pub fn stream_error_replaced() -> Node {
    Node::new("stream:error").children(vec![Node::new("conflict").attr("type", "replaced")])
}

/// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`.
pub fn stream_error_device_removed() -> Node {
    Node::new("stream:error")
        .attr("code", "401")
        .children(vec![Node::new("conflict").attr("type", "device_removed")])
}

/// `<iq type="result" id=.. from=..>` answering `request`.
pub fn iq_result(request: &Node, children: Vec<Node>) -> Node {
    let mut node = Node::new("iq")
        .attr("type", "result")
        .attr("id", request.get_attr("id").unwrap_or_default())
        .attr("from", answered_by(request));
    if !children.is_empty() {
        node = node.children(children);
    }
    node
}

/// `<iq type="error" id=.. from=..><error code=.. text=../></iq>` answering
/// `request`.
pub fn iq_error(request: &Node, code: u16, text: &str) -> Node {
    error_iq(request.get_attr("id").unwrap_or_default(), code, text)
        .attr("from", answered_by(request))
}

/// `<iq from="s.whatsapp.net" type="result" id=ID>`: an empty result by id.
pub fn result_iq(iq_id: &str) -> Node {
    Node::new("iq")
        .attr("from", server_jid())
        .attr("type", "result")
        .attr("id", iq_id)
}

/// `<iq from="s.whatsapp.net" type="error" id=ID><error code text/>` by id,
/// e.g. 400 `bad-request`, 429 `rate-overlimit`, 452 `feature-not-available`.
pub fn iq_error_by_id(iq_id: &str, code: u16, text: &str) -> Node {
    error_iq(iq_id, code, text).attr("from", server_jid())
}

fn error_iq(iq_id: &str, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("type", "error")
        .attr("id", iq_id)
        .children(vec![Node::new("error")
            .attr("code", code.to_string())
            .attr("text", text)])
}

/// Who answers an IQ: whom it was sent `to`, the server by default.
fn answered_by(request: &Node) -> String {
    request
        .get_attr("to")
        .map_or_else(server_jid, str::to_owned)
}

/// `<iq type="error"><error code="501" text="feature-not-implemented"/>`.
pub fn not_implemented(request: &Node) -> Node {
    iq_error(request, 501, "feature-not-implemented")
}

/// `<notification from id type t>` with `children`, and its fresh id.
pub fn notification(from: &Jid, kind: &str, now: u64, children: Vec<Node>) -> (String, Node) {
    let id = new_iq_id();
    let node = Node::new("notification")
        .attr("from", from.to_string())
        .attr("id", id.clone())
        .attr("type", kind)
        .attr("t", now.to_string())
        .children(children);
    (id, node)
}

/// `<ib from="s.whatsapp.net"><offline count=N/></ib>`: the end of a
/// device's offline queue (whatsapp-rust `handlers/ib.rs`).
pub fn offline_marker(count: usize) -> Node {
    Node::new("ib")
        .attr("from", server_jid())
        .children(vec![Node::new("offline").attr("count", count.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_look_like_whatsapp_refs() {
        let r = new_pairing_ref();
        assert!(r.starts_with("2@"));
        assert!(
            !r.contains(','),
            "a ref must not break the QR's comma format"
        );
        assert_ne!(r, new_pairing_ref());
    }
}
