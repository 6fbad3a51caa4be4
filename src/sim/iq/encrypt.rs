//! `<iq xmlns="encrypt">`: prekey uploads, signed-prekey rotation, the
//! count of stored one-time prekeys, the digest of the stored keys, and
//! key fetches (the bundles of the devices a sender has no session with).
//!
//! Owns: reading these IQs and answering them. Must not touch: the
//! store's rules (`sim::prekeys`), the wire shapes of keys
//! (`protocol::prekeys`).

use super::session::Session;
use crate::sim::prekeys::{key_digest, prekey_count, store_prekeys, take_bundles};
use crate::sim::protocol::prekeys::{
    bundle_nodes, parse_signed_prekey, parse_upload, Digest, Upload,
};
use crate::sim::protocol::stanzas::{children_of, iq_error, iq_result};
use crate::types::Jid;
use crate::wire::Node;

/// `<key><user jid/>..</key>`: one `<user>` per asked device, with its
/// bundle or a 404 error.
pub(super) fn key_bundles(session: &Session<'_>, iq: &Node) -> Node {
    let asked: Vec<&str> = children_of(iq, "key", "user")
        .filter_map(|u| u.get_attr("jid"))
        .collect();
    let jids: Vec<Option<Jid>> = asked.iter().map(|j| Jid::parse(j).ok()).collect();
    let bundles = take_bundles(session.state, &jids);
    let users = asked
        .iter()
        .zip(bundles)
        .map(|(jid, bundle)| {
            let user = Node::new("user").attr("jid", *jid);
            match bundle {
                Some(bundle) => user.children(bundle_nodes(&bundle)),
                None => user.children(vec![Node::new("error")
                    .attr("code", "404")
                    .attr("text", "item-not-found")]),
            }
        })
        .collect();
    iq_result(iq, vec![Node::new("list").children(users)])
}

/// `<digest/>`: what the server holds of the device's keys, so it can
/// check them against its own (404 `item-not-found` without a record).
pub(super) fn digest(session: &Session<'_>, iq: &Node) -> Node {
    match key_digest(session.state, session.device) {
        Some(d) => {
            let node = Digest {
                registration_id: d.registration_id,
                identity: &d.identity,
                signed: &d.signed,
                prekey_ids: &d.prekey_ids,
                hash: &d.hash,
            }
            .into_node();
            iq_result(iq, vec![node])
        }
        None => iq_error(iq, 404, "item-not-found"),
    }
}

/// `<count/>`: how many one-time prekeys the server holds for the device.
pub(super) fn count(session: &Session<'_>, iq: &Node) -> Node {
    let count = prekey_count(session.state, session.device);
    iq_result(
        iq,
        vec![Node::new("count").attr("value", count.to_string())],
    )
}

/// `<rotate><skey/></rotate>`: a new signed prekey.
pub(super) fn rotate(session: &Session<'_>, iq: &Node) -> Node {
    let skey = iq.child("rotate").and_then(|r| r.child("skey"));
    match skey.map(parse_signed_prekey) {
        Some(Ok(signed)) => {
            let upload = Upload {
                identity: None,
                signed: Some(signed),
                keys: Vec::new(),
            };
            store(session, iq, upload)
        }
        _ => iq_error(iq, 400, "bad-request"),
    }
}

/// A prekey upload (whatsapp-rust `iq/prekeys.rs`).
pub(super) fn upload(session: &Session<'_>, iq: &Node) -> Node {
    match parse_upload(iq) {
        Ok(upload) => store(session, iq, upload),
        Err(_) => iq_error(iq, 400, "bad-request"),
    }
}

fn store(session: &Session<'_>, iq: &Node, upload: Upload) -> Node {
    match store_prekeys(session.state, session.device, upload) {
        Ok(()) => iq_result(iq, vec![]),
        Err(why) => {
            tracing::debug!(device = %session.device, why, "prekey upload refused");
            iq_error(iq, 406, "not-acceptable")
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::fixtures::{ask, device, iq, linked};
    use crate::sim::state::SimState;
    use crate::wire::Node;

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
        let identity = device(&s, &phone, id).unwrap().identity_key;
        let reply = ask(&s, &phone, id, &upload(identity, 1..51));
        assert_eq!(reply.nodes[0].get_attr("type"), Some("result"));
        assert_eq!(count(&s, &phone, id), "50");
        assert_eq!(device(&s, &phone, id).unwrap().signed_prekey.id, 2);
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
    fn bundles_are_served_for_lid_device_addresses() {
        let (s, phone, id) = linked();
        let identity = device(&s, &phone, id).unwrap().identity_key;
        ask(&s, &phone, id, &upload(identity, 1..3));
        let lid = s.lock().phones[&phone].lid_user.clone();
        let asked = [format!("{lid}:{id}@lid"), format!("{lid}@lid")];
        let users = asked
            .iter()
            .map(|j| Node::new("user").attr("jid", j.as_str()))
            .collect();
        let fetch = iq("encrypt", "get", vec![Node::new("key").children(users)]);
        let reply = ask(&s, &phone, id, &fetch);
        let list = reply.nodes[0].child("list").unwrap().child_nodes();
        assert_eq!(list[0].get_attr("jid"), Some(asked[0].as_str()));
        assert_eq!(
            list[0].child("identity").and_then(Node::content_bytes),
            Some(&identity[..])
        );
        assert!(
            list[0].child("key").is_some(),
            "a one-time prekey is used up"
        );
        // The phone's own bundle, by its LID.
        assert!(list[1].child("skey").is_some());
        assert_eq!(count(&s, &phone, id), "1");
    }

    #[test]
    fn the_digest_reports_the_stored_keys_and_their_sha1() {
        use crate::sim::accounts::create_phone;
        use crate::sim::fixtures::{link_directly, registration, state};
        let s = state();
        let phone = create_phone(&s, None).unwrap();
        // Identity [2; 32], signed prekey 1 = [3; 32] signed [4; 64].
        let id = link_directly(&s, &phone, registration([1; 32])).unwrap();
        let keys: Vec<Node> = upload([2; 32], 1..3)
            .child_nodes()
            .iter()
            .filter(|n| n.tag != "skey")
            .cloned()
            .collect();
        ask(&s, &phone, id, &iq("encrypt", "set", keys));
        let reply = ask(
            &s,
            &phone,
            id,
            &iq("encrypt", "get", vec![Node::new("digest")]),
        );
        let digest = reply.nodes[0].child("digest").unwrap();
        let bytes = |tag: &str| {
            digest
                .child(tag)
                .and_then(Node::content_bytes)
                .unwrap()
                .to_vec()
        };
        assert_eq!(bytes("registration"), 7u32.to_be_bytes());
        assert_eq!(bytes("identity"), [2; 32]);
        let ids: Vec<_> = digest
            .child("list")
            .unwrap()
            .child_nodes()
            .iter()
            .map(|n| n.content_bytes().unwrap().to_vec())
            .collect();
        assert_eq!(ids, vec![vec![0, 0, 1], vec![0, 0, 2]]);
        // SHA-1(identity ‖ skey ‖ signature ‖ key 1 ‖ key 2), by Python's
        // hashlib.
        assert_eq!(
            hex::encode(bytes("hash")),
            "7027d2614e88d4eba3b6b9edf617171720d360b6"
        );
    }
}
