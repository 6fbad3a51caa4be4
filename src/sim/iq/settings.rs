//! The account settings a client reads after login and the simulator
//! answers with plausible defaults: privacy, the block list, A/B props
//! and server props.
//!
//! Owns: those defaults. Must not touch: anything stored (the simulator
//! keeps no settings).

use crate::sim::protocol::stanzas::iq_result;
use crate::wire::Node;

/// `<privacy>` with every category at a plausible default
/// (whatsapp-rust `iq/privacy.rs`).
pub(super) fn privacy(iq: &Node) -> Node {
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
    iq_result(iq, vec![Node::new("privacy").children(categories)])
}

/// An empty block list.
pub(super) fn blocklist(iq: &Node) -> Node {
    iq_result(iq, vec![Node::new("list")])
}

/// A/B props (whatsapp-rust `iq/props.rs`).
pub(super) fn ab_props(iq: &Node) -> Node {
    iq_result(
        iq,
        vec![Node::new("props")
            .attr("protocol", "1")
            .attr("hash", "sim")
            .attr("refresh", "86400")],
    )
}

/// Server props.
pub(super) fn server_props(iq: &Node) -> Node {
    iq_result(
        iq,
        vec![Node::new("props").attr("version", "1").attr("hash", "sim")],
    )
}
