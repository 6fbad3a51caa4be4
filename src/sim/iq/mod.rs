//! The stanzas the simulated server sends, and its answers to what a
//! logged-in companion sends: plain `Node` in, `Node`s out, so all of it
//! is testable without a socket.
//!
//! Shapes follow what WhatsApp's servers send as observed by public
//! clients (whatsapp-rust 0.7 `wacore` IQ specs, whatsmeow); each builder
//! names its stanza.

use base64::prelude::{Engine as _, BASE64_STANDARD};
use rand::Rng as _;

use super::app_state;
use super::state::{unix_now, SignedPreKey, SimState, SERVER_JID};
use crate::wire::Node;

/// Code of the stream error that tells a freshly paired companion to
/// reconnect and log in.
pub const RESTART_REQUIRED: &str = "515";

/// A fresh server IQ id.
pub fn new_iq_id() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// A message id in the shape phones use: 16 upper-case hex digits.
pub fn new_message_id() -> String {
    format!("{:016X}", rand::thread_rng().gen::<u64>())
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
    Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "set")
        .attr("id", iq_id)
        .attr("xmlns", "md")
        .children(vec![Node::new("pair-device").children(refs)])
}

/// `<iq from="s.whatsapp.net" type="set" id=.. xmlns="md"><pair-success>
/// <device-identity>..</device-identity><platform name="android"/>
/// <device jid=.. lid=../></pair-success></iq>`.
pub fn pair_success(iq_id: &str, device_identity: &[u8], jid: &str, lid: &str) -> Node {
    Node::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "set")
        .attr("id", iq_id)
        .attr("xmlns", "md")
        .children(vec![Node::new("pair-success").children(vec![
            Node::new("device-identity").bytes(device_identity),
            Node::new("platform").attr("name", "android"),
            Node::new("device").attr("jid", jid).attr("lid", lid),
        ])])
}

/// `<success t=.. props=.. abprops=.. location="sim" lid=.. display_name=""
/// creation=../>`: login accepted.
pub fn success(lid: &str) -> Node {
    let now = unix_now().to_string();
    Node::new("success")
        .attr("t", now.as_str())
        .attr("props", "1")
        .attr("abprops", "1")
        .attr("location", "sim")
        .attr("lid", lid)
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
        .attr("from", request.get_attr("to").unwrap_or(SERVER_JID));
    if !children.is_empty() {
        node = node.children(children);
    }
    node
}

/// `<iq type="error" id=.. from=..><error code=.. text=../></iq>`.
pub fn iq_error(request: &Node, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("type", "error")
        .attr("id", request.get_attr("id").unwrap_or_default())
        .attr("from", request.get_attr("to").unwrap_or(SERVER_JID))
        .children(vec![Node::new("error")
            .attr("code", code.to_string())
            .attr("text", text)])
}

fn not_implemented(request: &Node) -> Node {
    iq_error(request, 501, "feature-not-implemented")
}

/// What to do after a stanza from a logged-in companion.
#[derive(Debug, Default, PartialEq)]
pub struct Reply {
    /// Stanzas to send, in order.
    pub nodes: Vec<Node>,
    /// Close the connection after sending them.
    pub close: bool,
}

impl Reply {
    fn send(nodes: Vec<Node>) -> Self {
        Reply {
            nodes,
            close: false,
        }
    }
}

/// The device a session speaks for.
pub struct Session<'a> {
    pub state: &'a SimState,
    pub phone: &'a str,
    pub device: u16,
    pub conn_id: u64,
    /// Where the connection takes stanzas routed to this device.
    pub deliver: &'a tokio::sync::mpsc::UnboundedSender<Node>,
}

/// Answers one stanza from a logged-in companion.
pub fn handle_session_stanza(session: &Session<'_>, node: &Node) -> Reply {
    match node.tag.as_str() {
        "iq" => handle_session_iq(session, node),
        // The server acknowledges what it accepts (whatsmeow
        // `handleAck` shapes) and routes it on.
        "receipt" => Reply::send(
            session
                .state
                .route_receipt(session.phone, session.device, node),
        ),
        "message" => Reply::send(
            session
                .state
                .route_message(session.phone, session.device, node),
        ),
        "ack" => {
            session
                .state
                .acknowledge(session.phone, session.device, node);
            Reply::default()
        }
        // Acks, presence, chatstates, <ib> notices: nothing to answer.
        _ => Reply::default(),
    }
}

fn handle_session_iq(session: &Session<'_>, iq: &Node) -> Reply {
    if iq.get_attr("id").is_none() {
        return Reply::default();
    }
    let kind = iq.get_attr("type").unwrap_or_default();
    if kind == "result" || kind == "error" {
        // Answers to our own IQs (none need a follow-up here).
        return Reply::default();
    }
    let xmlns = iq.get_attr("xmlns").unwrap_or_default();
    let first = iq.child_nodes().first().map_or("", |n| n.tag.as_str());
    let answer = match (xmlns, kind, first) {
        // Keepalive (whatsapp-rust `iq/keepalive.rs`).
        ("w:p", "get", _) => iq_result(iq, vec![]),
        // Passive/active; after `active` the server reports the (empty)
        // offline queue (whatsapp-rust `handlers/ib.rs`).
        // Queued messages come before that report: the only one the sim
        // queues is the phone's app-state key share to a new companion.
        // Passive/active; after `active` the server delivers the device's
        // offline queue (the phone's app-state key share to a new
        // companion first), then reports it (whatsapp-rust
        // `handlers/ib.rs`); later stanzas flow as they come.
        ("passive", "set", "active") => {
            let mut queued: Vec<Node> = session
                .state
                .key_share_stanza(session.phone, session.device)
                .map(|stanza| stanza.attr("offline", "1"))
                .into_iter()
                .collect();
            queued.extend(session.state.activate(
                session.phone,
                session.device,
                session.conn_id,
                session.deliver.clone(),
            ));
            let mut nodes = vec![iq_result(iq, vec![])];
            let count = queued.len();
            nodes.extend(queued);
            nodes.push(
                Node::new("ib")
                    .attr("from", SERVER_JID)
                    .children(vec![Node::new("offline").attr("count", count.to_string())]),
            );
            return Reply::send(nodes);
        }
        ("passive", "set", _) => iq_result(iq, vec![]),
        // Prekey bundles of the devices a sender has no session with.
        ("encrypt", "get", "key") => {
            let jids: Vec<&str> = iq
                .child("key")
                .map(|k| k.child_nodes())
                .unwrap_or_default()
                .iter()
                .filter(|u| u.tag == "user")
                .filter_map(|u| u.get_attr("jid"))
                .collect();
            let users = session.state.prekey_bundles(&jids);
            iq_result(iq, vec![Node::new("list").children(users)])
        }
        ("encrypt", "get", "count") => {
            let count = session.state.prekey_count(session.phone, session.device);
            iq_result(
                iq,
                vec![Node::new("count").attr("value", count.to_string())],
            )
        }
        ("encrypt", "set", "rotate") => {
            let skey = iq.child("rotate").and_then(|r| r.child("skey"));
            match skey.map(parse_signed_prekey) {
                Some(Ok(signed)) => store(session, iq, None, Some(signed), Vec::new()),
                _ => iq_error(iq, 400, "bad-request"),
            }
        }
        ("encrypt", "set", _) => match parse_prekey_upload(iq) {
            Ok((identity, signed, keys)) => store(session, iq, identity, signed, keys),
            Err(_) => iq_error(iq, 400, "bad-request"),
        },
        ("md", "set", "remove-companion-device") => return remove_companion(session, iq),
        ("usync", "get", "usync") => usync(session, iq),
        ("privacy", "get", "privacy") => iq_result(iq, vec![privacy_defaults()]),
        ("blocklist", "get", _) => iq_result(iq, vec![Node::new("list")]),
        // A/B props (whatsapp-rust `iq/props.rs`) and server props.
        ("abt", "get", "props") => iq_result(
            iq,
            vec![Node::new("props")
                .attr("protocol", "1")
                .attr("hash", "sim")
                .attr("refresh", "86400")],
        ),
        ("w", "get", "props") => iq_result(
            iq,
            vec![Node::new("props").attr("version", "1").attr("hash", "sim")],
        ),
        ("w:sync:app:state", "set", "sync") => app_state_sync(session, iq),
        ("urn:xmpp:whatsapp:dirty", "set", _) => iq_result(iq, vec![]),
        ("urn:xmpp:whatsapp:push", "set", _) => iq_result(iq, vec![]),
        _ => not_implemented(iq),
    };
    Reply::send(vec![answer])
}

fn store(
    session: &Session<'_>,
    iq: &Node,
    identity: Option<[u8; 32]>,
    signed: Option<SignedPreKey>,
    keys: Vec<(u32, [u8; 32])>,
) -> Node {
    match session
        .state
        .store_prekeys(session.phone, session.device, identity, signed, keys)
    {
        Ok(()) => iq_result(iq, vec![]),
        Err(why) => {
            tracing::debug!(
                phone = session.phone,
                device = session.device,
                why,
                "prekey upload refused"
            );
            iq_error(iq, 406, "not-acceptable")
        }
    }
}

/// `<iq xmlns="md" type="set"><remove-companion-device jid=.. reason=../>`:
/// unlinks a device of the same account. Removing itself ends the session.
fn remove_companion(session: &Session<'_>, iq: &Node) -> Reply {
    let target = iq
        .child("remove-companion-device")
        .and_then(|n| n.get_attr("jid"))
        .and_then(super::state::parse_device_jid);
    let Some((phone, id)) = target.filter(|(p, _)| p == session.phone) else {
        return Reply::send(vec![iq_error(iq, 400, "bad-request")]);
    };
    if !session.state.unlink(&phone, id, session.conn_id) {
        return Reply::send(vec![iq_error(iq, 404, "item-not-found")]);
    }
    Reply {
        nodes: vec![iq_result(iq, vec![])],
        close: id == session.device,
    }
}

/// Reads `<registration>`, `<type>`, `<identity>`, `<list><key>..`, `<skey>`
/// of a prekey upload (whatsapp-rust `iq/prekeys.rs`). Every part but the
/// key list is optional.
type Upload = (Option<[u8; 32]>, Option<SignedPreKey>, Vec<(u32, [u8; 32])>);

fn parse_prekey_upload(iq: &Node) -> Result<Upload, &'static str> {
    let identity = match iq.child("identity") {
        Some(n) => Some(fixed::<32>(n.content_bytes()).ok_or("identity")?),
        None => None,
    };
    let signed = iq.child("skey").map(parse_signed_prekey).transpose()?;
    let list = iq.child("list").ok_or("list")?;
    let keys = list
        .child_nodes()
        .iter()
        .filter(|k| k.tag == "key")
        .map(|k| {
            let id = key_id(k.child("id").and_then(Node::content_bytes)).ok_or("key id")?;
            let value =
                fixed::<32>(k.child("value").and_then(Node::content_bytes)).ok_or("key value")?;
            Ok((id, value))
        })
        .collect::<Result<Vec<_>, &'static str>>()?;
    Ok((identity, signed, keys))
}

fn parse_signed_prekey(skey: &Node) -> Result<SignedPreKey, &'static str> {
    Ok(SignedPreKey {
        id: key_id(skey.child("id").and_then(Node::content_bytes)).ok_or("skey id")?,
        public: fixed::<32>(skey.child("value").and_then(Node::content_bytes))
            .ok_or("skey value")?,
        signature: fixed::<64>(skey.child("signature").and_then(Node::content_bytes))
            .ok_or("skey signature")?,
    })
}

/// A key id: 3 bytes big-endian on the wire.
fn key_id(bytes: Option<&[u8]>) -> Option<u32> {
    match bytes? {
        [a, b, c] => Some(u32::from_be_bytes([0, *a, *b, *c])),
        _ => None,
    }
}

fn fixed<const N: usize>(bytes: Option<&[u8]>) -> Option<[u8; N]> {
    bytes?.try_into().ok()
}

/// Answers a usync query for the `devices`, `contact` and `lid`
/// protocols (whatsapp-rust `iq/usync/query.rs` response parser).
fn usync(session: &Session<'_>, iq: &Node) -> Node {
    let Some(request) = iq.child("usync") else {
        return iq_error(iq, 400, "bad-request");
    };
    let query = request.child("query");
    let wants = |p: &str| query.is_some_and(|q| q.child(p).is_some());
    // The phones whose device lists were asked for: the asker hears of
    // their changes.
    let mut asked: Vec<&str> = Vec::new();
    let users = request
        .child("list")
        .map(|l| l.child_nodes())
        .unwrap_or_default()
        .iter()
        .filter(|u| u.tag == "user")
        .filter_map(|u| u.get_attr("jid"))
        .map(|jid| {
            let phone = jid.split('@').next().unwrap_or_default();
            let phone = phone.split(':').next().unwrap_or_default();
            let known = session.state.device_list(phone);
            let mut protocols = Vec::new();
            if wants("devices") {
                asked.push(phone);
                let mut devices = Vec::new();
                if let Some(known) = &known {
                    let list = known
                        .devices
                        .iter()
                        .map(|&(id, key_index)| {
                            let d = Node::new("device").attr("id", id.to_string());
                            if id == 0 {
                                d
                            } else {
                                d.attr("key-index", key_index.to_string())
                            }
                        })
                        .collect();
                    devices.push(Node::new("device-list").children(list));
                    if let Some((ts, signed)) = &known.key_index_list {
                        devices.push(
                            Node::new("key-index-list")
                                .attr("ts", ts.to_string())
                                .bytes(signed.clone()),
                        );
                    }
                } else {
                    devices.push(Node::new("device-list"));
                }
                protocols.push(Node::new("devices").children(devices));
            }
            if wants("contact") {
                let kind = if known.is_some() { "in" } else { "out" };
                protocols.push(Node::new("contact").attr("type", kind));
            }
            if wants("lid") {
                if let Some(known) = &known {
                    let lid_user = &known.lid_user;
                    protocols.push(Node::new("lid").attr("val", format!("{lid_user}@lid")));
                }
            }
            Node::new("user").attr("jid", jid).children(protocols)
        })
        .collect();
    if !asked.is_empty() {
        session
            .state
            .watch_devices(&(session.phone.to_string(), session.device), &asked);
    }
    let mut echo = Node::new("usync");
    for key in ["sid", "mode", "context"] {
        if let Some(v) = request.get_attr(key) {
            echo = echo.attr(key, v);
        }
    }
    echo = echo.attr("index", "0").attr("last", "true");
    iq_result(
        iq,
        vec![echo.children(vec![Node::new("result"), Node::new("list").children(users)])],
    )
}

/// Plausible defaults for `<privacy>` (whatsapp-rust `iq/privacy.rs`).
fn privacy_defaults() -> Node {
    let categories = [
        ("last", "all"),
        ("online", "all"),
        ("profile", "all"),
        ("status", "contacts"),
        ("groupadd", "all"),
        ("readreceipts", "all"),
        ("calladd", "all"),
    ]
    .iter()
    .map(|(name, value)| {
        Node::new("category")
            .attr("name", *name)
            .attr("value", *value)
    })
    .collect();
    Node::new("privacy").children(categories)
}

/// App state sync: every requested collection exists at the version the
/// client already has, except that a client behind version 1 of
/// `critical_block` gets the phone's push-name patch (clients keep redoing
/// their initial sync while they have no push name).
fn app_state_sync(session: &Session<'_>, iq: &Node) -> Node {
    let collections = iq
        .child("sync")
        .map(|s| s.child_nodes())
        .unwrap_or_default()
        .iter()
        .filter(|c| c.tag == "collection")
        .filter_map(|c| {
            let name = c.get_attr("name")?;
            let version = c.get_attr("version").unwrap_or("0");
            let behind = version.parse::<u64>().unwrap_or(0) < app_state::PUSH_NAME_VERSION;
            let patch = (name == app_state::PUSH_NAME_COLLECTION && behind)
                .then(|| session.state.push_name_patch(session.phone))
                .flatten();
            Some(match patch {
                Some(patch) => Node::new("collection")
                    .attr("name", name)
                    .attr("version", app_state::PUSH_NAME_VERSION.to_string())
                    .children(vec![
                        Node::new("patches").children(vec![Node::new("patch").bytes(patch)])
                    ]),
                None => Node::new("collection")
                    .attr("name", name)
                    .attr("version", version),
            })
        })
        .collect();
    iq_result(iq, vec![Node::new("sync").children(collections)])
}

/// Answers a stanza from a companion still waiting to be paired: only
/// keepalive pings; any other IQ is not implemented.
pub fn handle_pairing_stanza(node: &Node) -> Option<Node> {
    if node.tag != "iq" || node.get_attr("id").is_none() {
        return None;
    }
    match node.get_attr("type") {
        Some("get") if node.get_attr("xmlns") == Some("w:p") => Some(iq_result(node, vec![])),
        Some("get") | Some("set") => Some(not_implemented(node)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;
    use crate::sim::state::{device_jid, Registration};
    use crate::sim::SimConfig;
    use prost::Message as _;

    fn linked() -> (SimState, String, u16) {
        let state = SimState::new(&SimConfig::default(), [0; 32]);
        let phone = state.create_phone(Some("15550002222".into())).unwrap();
        // Real keys: the phone's key share is a Signal message to them, and
        // it is only sent when the signed prekey verifies.
        let identity = KeyPair::generate();
        let signed = crate::signal::SignedPreKey::generate(&identity, 1);
        let id = state
            .link_directly(
                &phone,
                Registration {
                    noise_key: [1; 32],
                    identity_key: identity.public,
                    registration_id: 9,
                    signed_prekey: SignedPreKey {
                        id: signed.id,
                        public: signed.key_pair.public,
                        signature: signed.signature,
                    },
                },
            )
            .unwrap();
        (state, phone, id)
    }

    fn iq(xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
        Node::new("iq")
            .attr("id", "q1")
            .attr("to", SERVER_JID)
            .attr("xmlns", xmlns)
            .attr("type", kind)
            .children(children)
    }

    fn ask(state: &SimState, phone: &str, device: u16, node: &Node) -> Reply {
        let (deliver, _deliveries) = tokio::sync::mpsc::unbounded_channel();
        let session = Session {
            state,
            phone,
            device,
            conn_id: 1,
            deliver: &deliver,
        };
        handle_session_stanza(&session, node)
    }

    #[test]
    fn ping_gets_a_result_with_the_same_id() {
        let (s, phone, id) = linked();
        let reply = ask(&s, &phone, id, &iq("w:p", "get", vec![Node::new("ping")]));
        assert_eq!(reply.nodes.len(), 1);
        let r = &reply.nodes[0];
        assert_eq!(r.get_attr("type"), Some("result"));
        assert_eq!(r.get_attr("id"), Some("q1"));
        assert_eq!(r.get_attr("from"), Some(SERVER_JID));
        assert!(!reply.close);
    }

    #[test]
    fn unknown_iq_is_not_implemented_and_results_are_ignored() {
        let (s, phone, id) = linked();
        let reply = ask(&s, &phone, id, &iq("w:nope", "get", vec![Node::new("x")]));
        let err = reply.nodes[0].child("error").unwrap();
        assert_eq!(reply.nodes[0].get_attr("type"), Some("error"));
        assert_eq!(err.get_attr("code"), Some("501"));
        assert_eq!(err.get_attr("text"), Some("feature-not-implemented"));
        assert_eq!(
            ask(&s, &phone, id, &iq("w:p", "result", vec![])),
            Reply::default()
        );
    }

    #[test]
    fn active_gets_result_then_the_key_share_once_then_the_offline_marker() {
        let (s, phone, id) = linked();
        let active = iq("passive", "set", vec![Node::new("active")]);

        // First time online: the phone's queued app-state key share, then
        // the end of the offline queue counting it.
        let reply = ask(&s, &phone, id, &active);
        let tags: Vec<&str> = reply.nodes.iter().map(|n| n.tag.as_str()).collect();
        assert_eq!(tags, ["iq", "message", "ib"]);
        let share = &reply.nodes[1];
        assert_eq!(share.get_attr("from"), Some("15550002222@s.whatsapp.net"));
        let enc = share.child("enc").unwrap();
        assert_eq!(enc.get_attr("type"), Some("pkmsg"));
        assert_eq!(enc.get_attr("v"), Some("2"));
        assert!(enc
            .content_bytes()
            .is_some_and(|b| b.first() == Some(&0x33)));
        let offline = reply.nodes[2].child("offline").unwrap();
        assert_eq!(offline.get_attr("count"), Some("1"));

        // Later sessions: nothing queued.
        let reply = ask(&s, &phone, id, &active);
        assert_eq!(reply.nodes.len(), 2);
        assert_eq!(reply.nodes[1].tag, "ib");
        let offline = reply.nodes[1].child("offline").unwrap();
        assert_eq!(offline.get_attr("count"), Some("0"));
    }

    fn upload(identity: [u8; 32], ids: std::ops::Range<u32>) -> Node {
        let keys = ids
            .map(|i| {
                Node::new("key").children(vec![
                    Node::new("id").bytes(i.to_be_bytes()[1..].to_vec()),
                    Node::new("value").bytes(vec![i as u8; 32]),
                ])
            })
            .collect();
        iq(
            "encrypt",
            "set",
            vec![
                Node::new("registration").bytes(9u32.to_be_bytes().to_vec()),
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(identity.to_vec()),
                Node::new("list").children(keys),
                Node::new("skey").children(vec![
                    Node::new("id").bytes(vec![0, 0, 2]),
                    Node::new("value").bytes(vec![5; 32]),
                    Node::new("signature").bytes(vec![6; 64]),
                ]),
            ],
        )
    }

    fn count(s: &SimState, phone: &str, id: u16) -> String {
        let reply = ask(
            s,
            phone,
            id,
            &iq("encrypt", "get", vec![Node::new("count")]),
        );
        reply.nodes[0]
            .child("count")
            .and_then(|c| c.get_attr("value"))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn prekey_upload_raises_the_count() {
        let (s, phone, id) = linked();
        assert_eq!(count(&s, &phone, id), "0");
        let reply = ask(
            &s,
            &phone,
            id,
            &upload(s.device(&phone, id).unwrap().identity_key, 1..51),
        );
        assert_eq!(reply.nodes[0].get_attr("type"), Some("result"));
        assert_eq!(count(&s, &phone, id), "50");
        assert_eq!(s.device(&phone, id).unwrap().signed_prekey.id, 2);
    }

    #[test]
    fn malformed_or_foreign_uploads_are_refused() {
        let (s, phone, id) = linked();
        let reply = ask(&s, &phone, id, &upload([7; 32], 1..3));
        assert_eq!(
            reply.nodes[0].child("error").unwrap().get_attr("code"),
            Some("406")
        );
        let bad = iq(
            "encrypt",
            "set",
            vec![
                Node::new("list").children(vec![Node::new("key").children(vec![
                    Node::new("id").bytes(vec![1]),
                    Node::new("value").bytes(vec![0; 32]),
                ])]),
            ],
        );
        let reply = ask(&s, &phone, id, &bad);
        assert_eq!(
            reply.nodes[0].child("error").unwrap().get_attr("code"),
            Some("400")
        );
        assert_eq!(count(&s, &phone, id), "0");
    }

    #[test]
    fn removing_itself_unlinks_and_closes() {
        let (s, phone, id) = linked();
        let jid = device_jid(&phone, id);
        let node = iq(
            "md",
            "set",
            vec![Node::new("remove-companion-device")
                .attr("jid", jid.as_str())
                .attr("reason", "user_initiated")],
        );
        let reply = ask(&s, &phone, id, &node);
        assert!(reply.close);
        assert_eq!(reply.nodes[0].get_attr("type"), Some("result"));
        assert!(s.devices(&phone).unwrap().is_empty());
        // Another account's device cannot be removed.
        let other = iq(
            "md",
            "set",
            vec![Node::new("remove-companion-device").attr("jid", "4444444:1@s.whatsapp.net")],
        );
        assert!(!ask(&s, &phone, id, &other).close);
    }

    #[test]
    fn usync_lists_the_phone_and_its_companions() {
        let (s, phone, id) = linked();
        let node = iq(
            "usync",
            "get",
            vec![Node::new("usync").attr("sid", "s1").children(vec![
                Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
                Node::new("list").children(vec![
                    Node::new("user").attr("jid", format!("{phone}@s.whatsapp.net"))
                ]),
            ])],
        );
        let reply = ask(&s, &phone, id, &node);
        let usync = reply.nodes[0].child("usync").unwrap();
        assert_eq!(usync.get_attr("sid"), Some("s1"));
        let user = &usync.child("list").unwrap().child_nodes()[0];
        let ids: Vec<_> = user
            .child("devices")
            .and_then(|d| d.child("device-list"))
            .unwrap()
            .child_nodes()
            .iter()
            .map(|d| d.get_attr("id").unwrap().to_owned())
            .collect();
        assert_eq!(ids, vec!["0".to_owned(), id.to_string()]);
        // With companions present the account's signed key index list comes
        // along (clients drop a companion list without it).
        let key_index_list = user
            .child("devices")
            .and_then(|d| d.child("key-index-list"))
            .unwrap();
        assert!(key_index_list.get_attr("ts").is_some());
        let signed =
            crate::proto::AdvSignedKeyIndexList::decode(key_index_list.content_bytes().unwrap())
                .unwrap();
        let details =
            crate::proto::AdvKeyIndexList::decode(signed.details.unwrap().as_slice()).unwrap();
        assert_eq!(details.valid_indexes, vec![u32::from(id)]);
    }

    #[test]
    fn usync_resolves_an_accounts_lid_user() {
        let (s, phone, id) = linked();
        let lid_user = s.device_list(&phone).unwrap().lid_user;
        let node = iq(
            "usync",
            "get",
            vec![Node::new("usync").attr("sid", "s2").children(vec![
                Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
                Node::new("list").children(vec![
                    Node::new("user").attr("jid", format!("{lid_user}@lid"))
                ]),
            ])],
        );
        let reply = ask(&s, &phone, id, &node);
        let usync = reply.nodes[0].child("usync").unwrap();
        let user = &usync.child("list").unwrap().child_nodes()[0];
        let count = user
            .child("devices")
            .and_then(|d| d.child("device-list"))
            .unwrap()
            .child_nodes()
            .len();
        assert_eq!(count, 2);
    }

    #[test]
    fn app_state_sync_gives_the_push_name_patch_then_echoes_versions() {
        let (s, phone, id) = linked();
        let node = iq(
            "w:sync:app:state",
            "set",
            vec![Node::new("sync").children(vec![
                Node::new("collection")
                    .attr("name", "critical_block")
                    .attr("return_snapshot", "true"),
                Node::new("collection")
                    .attr("name", "regular")
                    .attr("version", "4"),
            ])],
        );
        let reply = ask(&s, &phone, id, &node);
        let sync = reply.nodes[0].child("sync").unwrap();
        let got: Vec<_> = sync
            .child_nodes()
            .iter()
            .map(|c| (c.get_attr("name").unwrap(), c.get_attr("version").unwrap()))
            .collect();
        assert_eq!(got, vec![("critical_block", "1"), ("regular", "4")]);
        let patches = sync.child_nodes()[0].child("patches").unwrap();
        assert_eq!(patches.child_nodes().len(), 1);
        assert!(patches.child_nodes()[0].content_bytes().is_some());
        assert!(sync.child_nodes()[1].child("patches").is_none());
    }

    #[test]
    fn receipts_are_acked() {
        let (s, phone, id) = linked();
        let receipt = Node::new("receipt")
            .attr("id", "r1")
            .attr("to", "15550003333@s.whatsapp.net")
            .attr("type", "read");
        let reply = ask(&s, &phone, id, &receipt);
        let ack = &reply.nodes[0];
        assert_eq!(ack.tag, "ack");
        assert_eq!(ack.get_attr("class"), Some("receipt"));
        assert_eq!(ack.get_attr("id"), Some("r1"));
        assert_eq!(ack.get_attr("from"), Some("15550003333@s.whatsapp.net"));
        assert_eq!(ack.get_attr("type"), Some("read"));
    }

    #[test]
    fn pairing_phase_answers_pings_only() {
        let ping = iq("w:p", "get", vec![Node::new("ping")]);
        assert_eq!(
            handle_pairing_stanza(&ping).unwrap().get_attr("type"),
            Some("result")
        );
        let other = iq("usync", "get", vec![]);
        assert_eq!(
            handle_pairing_stanza(&other).unwrap().get_attr("type"),
            Some("error")
        );
        assert!(handle_pairing_stanza(&iq("md", "result", vec![])).is_none());
    }

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
