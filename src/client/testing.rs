//! What the protocol's unit tests share: credentials, a protocol at each
//! phase, the stanzas the server sends, and readers of the actions that
//! come out.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::core::{Action, Ending};
use super::creds::tests_support::creds_without_signature;
use super::creds::{Creds, PairedIdentity};
use super::pairing::request_code;
use super::protocol::Protocol;
use super::{ClientConfig, ClientError, Event};
use crate::store::{FileAuthStore, SessionDir};
use crate::types::Jid;
use crate::wire::Node;

/// `s.whatsapp.net`, as stanza attributes hold it.
pub fn server() -> String {
    Jid::server().to_string()
}

pub const JID: &str = "15551234567:7@s.whatsapp.net";

pub fn config() -> Arc<ClientConfig> {
    Arc::new(ClientConfig::default())
}

pub fn paired_creds() -> Creds {
    let mut creds = creds_without_signature();
    creds.paired = Some(PairedIdentity {
        jid: JID.parse().unwrap(),
        lid: None,
        account: vec![1],
        platform: "android".into(),
        business_name: String::new(),
    });
    creds
}

pub fn online(creds: Creds) -> Protocol {
    let mut p = Protocol::new(creds, config());
    p.on_connected();
    p
}

pub fn connected() -> (Protocol, Instant, Vec<Action>) {
    let mut p = online(paired_creds());
    let now = Instant::now();
    let out = p.on_node(&Node::new("success").attr("t", "1"), now);
    (p, now, out)
}

pub fn sent(actions: &[Action]) -> Vec<&Node> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(n) => Some(n),
            _ => None,
        })
        .collect()
}

pub fn events(actions: &[Action]) -> Vec<&Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(e),
            _ => None,
        })
        .collect()
}

pub fn ending(actions: Vec<Action>) -> Option<Ending> {
    actions.into_iter().find_map(|a| match a {
        Action::End(e) => Some(e),
        _ => None,
    })
}

pub fn result_for(request: &Node) -> Node {
    Node::new("iq")
        .attr("from", server())
        .attr("type", "result")
        .attr("id", request.get_attr("id").unwrap())
}

pub fn pair_device(refs: &[&str]) -> Node {
    Node::new("iq")
        .attr("from", server())
        .attr("type", "set")
        .attr("id", "pd1")
        .attr("xmlns", "md")
        .children(vec![Node::new("pair-device").children(
            refs.iter()
                .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec()))
                .collect(),
        )])
}

pub fn stream_error(code: Option<&str>, conflict: Option<&str>) -> Node {
    let mut node = Node::new("stream:error");
    if let Some(code) = code {
        node = node.attr("code", code);
    }
    if let Some(kind) = conflict {
        node = node.children(vec![Node::new("conflict").attr("type", kind)]);
    }
    node
}

pub fn ask_pair_code(
    p: &mut Protocol,
    phone: &str,
) -> (Vec<Action>, oneshot::Receiver<Result<String, ClientError>>) {
    let (reply, rx) = oneshot::channel();
    let out = p.on_command(request_code(phone.into(), reply), Instant::now());
    (out, rx)
}

/// Runs the protocol's blocking work inline, as the run loop does.
pub fn run_blocking(p: &mut Protocol, actions: Vec<Action>, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    for action in actions {
        match action {
            Action::Blocking(work) => {
                let store = FileAuthStore::new(SessionDir::at(std::env::temp_dir()));
                let next = p.on_command(work.run(&store), now);
                out.extend(run_blocking(p, next, now));
            }
            other => out.push(other),
        }
    }
    out
}

/// Runs the blocking work among `actions` on `store`, feeding each result
/// back to the protocol (recursively), and returns every other action in
/// order.
pub fn run_blocking_on(
    p: &mut Protocol,
    store: &dyn crate::store::AuthStore,
    actions: Vec<Action>,
) -> Vec<Action> {
    let mut out = Vec::new();
    for action in actions {
        match action {
            Action::Blocking(work) => {
                let more = p.on_command(work.run(store), Instant::now());
                out.extend(run_blocking_on(p, store, more));
            }
            other => out.push(other),
        }
    }
    out
}

/// A fresh file store in a temporary directory (kept alive by the guard).
pub fn temp_store() -> (tempfile::TempDir, FileAuthStore) {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileAuthStore::new(SessionDir::at(tmp.path().join("s")));
    crate::store::AuthStore::prepare(&store).unwrap();
    (tmp, store)
}

/// A stanza in, its blocking work run on `store`: what comes out.
pub fn deliver(
    p: &mut Protocol,
    store: &dyn crate::store::AuthStore,
    node: &Node,
    now: Instant,
) -> Vec<Action> {
    let out = p.on_node(node, now);
    run_blocking_on(p, store, out)
}
