//! `<iq xmlns="w:sync:app:state" type="set"><sync>`: app-state sync.
//! Every requested collection exists at the version the client already
//! has, except that a client behind version 1 of `critical_block` gets
//! the phone's push-name patch (clients keep redoing their initial sync
//! while they have no push name).
//!
//! Owns: that answer. Must not touch: the patch (`phone::key_share`,
//! `protocol::app_state`).

use super::session::Session;
use crate::sim::phone::key_share::push_name_patch;
use crate::sim::protocol::app_state::{PUSH_NAME_COLLECTION, PUSH_NAME_VERSION};
use crate::sim::protocol::stanzas::{children_of, iq_result};
use crate::wire::Node;

/// Answers a sync request, collection by collection.
pub(super) fn sync(session: &Session<'_>, iq: &Node) -> Node {
    let collections = children_of(iq, "sync", "collection")
        .filter_map(|c| {
            let name = c.get_attr("name")?;
            let version = c.get_attr("version").unwrap_or("0");
            let behind = version.parse::<u64>().unwrap_or(0) < PUSH_NAME_VERSION;
            let patch = (name == PUSH_NAME_COLLECTION && behind)
                .then(|| push_name_patch(session.state, session.device.user()))
                .flatten();
            Some(match patch {
                Some(patch) => Node::new("collection")
                    .attr("name", name)
                    .attr("version", PUSH_NAME_VERSION.to_string())
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

#[cfg(test)]
mod tests {
    use crate::sim::fixtures::{ask, iq, linked};
    use crate::wire::Node;

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
}
