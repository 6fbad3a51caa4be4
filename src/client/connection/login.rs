//! Logging in: `<success>`, going active, and the edge routing the server
//! hands out for the next connection.

use tokio::time::Instant;

use crate::client::core::{envelope, expect_result, Action, Ctx, IqSpec, Phase};
use crate::client::events::{Event, Status};
use crate::client::ClientError;
use crate::types::Jid;
use crate::wire::Node;

use super::state::Connection;

/// `<iq xmlns="passive" type="set"><active/></iq>`: ready for traffic.
pub struct SetActive;

impl IqSpec for SetActive {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        envelope::iq(id, "passive", "set", vec![Node::new("active")])
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        expect_result(answer).map(|_| ())
    }
}

/// `<success>`: logged in. Keeps the LID the server names, reports the
/// session online and goes active. Nothing happens before pairing.
pub fn on_success(ctx: &mut Ctx, node: &Node, now: Instant) -> Vec<Action> {
    if ctx.creds.paired.is_none() {
        tracing::warn!("<success> before pairing; ignored");
        return Vec::new();
    }
    ctx.phase = Phase::Connected;
    let mut out = Vec::new();
    let lid = node.get_attr("lid").and_then(|l| Jid::parse(l).ok());
    if let (Some(lid), Some(paired)) = (lid, ctx.creds.paired.as_mut()) {
        if paired.lid.as_ref() != Some(&lid) {
            paired.lid = Some(lid);
            out.push(Action::SaveCreds);
        }
    }
    out.push(Action::Status(Status::Connected));
    out.push(Action::Emit(Event::Connected));
    out.push(
        ctx.send_iq(SetActive, now, |_: &mut Connection, _, answer, _| {
            match answer {
                Err(ClientError::Timeout) => tracing::warn!("post-login iq timed out"),
                Err(ClientError::Server { .. }) => tracing::warn!("server refused the active iq"),
                _ => {}
            }
            Vec::new()
        }),
    );
    out
}

/// `<ib><edge_routing><routing_info>`: sent before the next handshake.
pub fn on_ib(ctx: &mut Ctx, ib: &Node) -> Vec<Action> {
    let routing = ib
        .child("edge_routing")
        .and_then(|e| e.child("routing_info"))
        .and_then(Node::content_bytes)
        .filter(|b| !b.is_empty());
    match routing {
        Some(info) if ctx.creds.routing_info.as_deref() != Some(info) => {
            ctx.creds.routing_info = Some(info.to_vec());
            vec![Action::SaveCreds]
        }
        _ => Vec::new(),
    }
}
