//! `<iq xmlns="w:m" type="set"><media_conn/></iq>`: where to upload and
//! download media, and a token to upload with (whatsmeow `mediaconn.go`,
//! wacore `iq/mediaconn.rs`).
//!
//! Owns: that answer. Must not touch: the files (`sim::media`).

use super::session::Session;
use crate::sim::media::AUTH_TTL_SECS;
use crate::sim::protocol::stanzas::iq_result;
use crate::wire::Node;

/// How long a client may keep using the host list (WhatsApp: hours).
const CONN_TTL_SECS: u64 = 21_600;

pub(super) fn media_conn(session: &Session<'_>, iq: &Node) -> Node {
    let state = session.state;
    let auth = state.media().issue_token(state.now());
    let conn = Node::new("media_conn")
        .attr("auth", auth)
        .attr("ttl", CONN_TTL_SECS.to_string())
        .attr("auth_ttl", AUTH_TTL_SECS.to_string())
        .attr("max_buckets", "12")
        .children(vec![Node::new("host").attr("hostname", state.media_host())]);
    iq_result(iq, vec![conn])
}
