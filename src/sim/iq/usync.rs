//! `<iq xmlns="usync" type="get"><usync>`: what a client asks about other
//! users before it writes to them, for the `devices`, `contact` and `lid`
//! protocols (whatsapp-rust `iq/usync/query.rs` response parser).
//!
//! Owns: reading the query and writing the answer; the asker becomes a
//! watcher of each device list it asked for. Must not touch: the device
//! lists (`sim::accounts`), the watchers' notifications
//! (`routing::watchers`).

use super::session::Session;
use crate::sim::accounts::{device_list, DeviceList};
use crate::sim::protocol::stanzas::{children_of, iq_error, iq_result};
use crate::sim::routing::watchers::watch_devices;
use crate::types::{Jid, Server};
use crate::wire::Node;

/// Answers a usync query; the asker hears of changes to the device lists
/// it asked for.
pub(super) fn usync(session: &Session<'_>, iq: &Node) -> Node {
    let Some(request) = iq.child("usync") else {
        return iq_error(iq, 400, "bad-request");
    };
    let query = request.child("query");
    let wants = |p: &str| query.is_some_and(|q| q.child(p).is_some());
    // The accounts whose device lists were asked for, by phone number.
    let mut asked: Vec<String> = Vec::new();
    let users = children_of(request, "list", "user")
        .filter_map(|u| u.get_attr("jid"))
        .map(|text| {
            let jid = Jid::parse(text).ok();
            let known = jid.as_ref().and_then(|j| device_list(session.state, j));
            let mut protocols = Vec::new();
            if wants("devices") {
                // A number not on the network yet may join it later.
                let number = match (&known, &jid) {
                    (Some(known), _) => Some(known.number.clone()),
                    (None, Some(jid)) if jid.server == Server::Pn => Some(jid.user.clone()),
                    _ => None,
                };
                asked.extend(number);
                protocols.push(devices_node(known.as_ref()));
            }
            if wants("contact") {
                let kind = if known.is_some() { "in" } else { "out" };
                protocols.push(Node::new("contact").attr("type", kind));
            }
            if let (true, Some(known)) = (wants("lid"), &known) {
                protocols.push(Node::new("lid").attr("val", known.lid.to_string()));
            }
            Node::new("user").attr("jid", text).children(protocols)
        })
        .collect();
    if !asked.is_empty() {
        let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
        watch_devices(session.state, session.device, &asked);
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

/// `<devices><device-list><device id key-index/>..</device-list>
/// [<key-index-list ts>signed</key-index-list>]</devices>`; an empty list
/// for unknown users.
fn devices_node(known: Option<&DeviceList>) -> Node {
    let Some(known) = known else {
        return Node::new("devices").children(vec![Node::new("device-list")]);
    };
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
    let mut devices = vec![Node::new("device-list").children(list)];
    if let Some((ts, signed)) = &known.key_index_list {
        devices.push(
            Node::new("key-index-list")
                .attr("ts", ts.to_string())
                .bytes(signed.clone()),
        );
    }
    Node::new("devices").children(devices)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use crate::sim::accounts::device_list;
    use crate::sim::fixtures::{ask, iq, linked};
    use crate::types::Jid;
    use crate::wire::Node;

    fn query(sid: &str, user: String) -> Node {
        iq(
            "usync",
            "get",
            vec![Node::new("usync").attr("sid", sid).children(vec![
                Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
                Node::new("list").children(vec![Node::new("user").attr("jid", user)]),
            ])],
        )
    }

    #[test]
    fn usync_lists_the_phone_and_its_companions() {
        let (s, phone, id) = linked();
        let reply = ask(
            &s,
            &phone,
            id,
            &query("s1", format!("{phone}@s.whatsapp.net")),
        );
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
        let lid = device_list(&s, &Jid::pn(phone.clone())).unwrap().lid;
        let reply = ask(&s, &phone, id, &query("s2", lid.to_string()));
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
}
