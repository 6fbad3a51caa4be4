//! The account settings a client reads after login and the simulator
//! answers with plausible defaults: privacy, the block list, A/B props
//! and server props.
//!
//! Owns: those defaults (and the one A/B prop that follows an account's
//! LID migration). Must not touch: anything stored (the caller reads the
//! account).

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

/// `lid_one_on_one_migration_enabled`: the account's 1:1 chats are on
/// LID (wacore `iq/abprops.rs`, code 9435; whatsapp-rust latches the
/// account as migrated when it reads this prop).
const LID_ONE_ON_ONE_MIGRATION_ENABLED: &str = "9435";

/// A/B props (whatsapp-rust `iq/props.rs`): a migrated account's devices
/// are told their chats are on LID.
pub(super) fn ab_props(iq: &Node, lid_migrated: bool) -> Node {
    let props = Node::new("props")
        .attr("protocol", "1")
        .attr("hash", "sim")
        .attr("refresh", "86400");
    let props = if lid_migrated {
        props.children(vec![Node::new("prop")
            .attr("config_code", LID_ONE_ON_ONE_MIGRATION_ENABLED)
            .attr("config_value", "1")])
    } else {
        props
    };
    iq_result(iq, vec![props])
}

/// Server props.
pub(super) fn server_props(iq: &Node) -> Node {
    iq_result(
        iq,
        vec![Node::new("props").attr("version", "1").attr("hash", "sim")],
    )
}
