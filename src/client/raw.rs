//! Stanzas and iqs sent as they are, for callers of the session's handle
//! that speak the protocol themselves (tools, tests, features not built
//! yet).
//!
//! Owns: the `send_node` and `send_iq` commands. Must not touch: what the
//! stanzas mean.

use super::core::{expect_result, Action, Ctx, Done, Feature, IqSpec, Phase, Then};
use super::ClientError;
use crate::wire::Node;

/// The feature has no state; it exists so its iqs have somewhere to
/// answer to.
#[derive(Default)]
pub struct Raw;

impl Feature for Raw {}

/// An iq exactly as the caller built it (its `id` is replaced).
struct External(Node);

impl IqSpec for External {
    type Answer = Node;

    fn request(&self, id: &str) -> Node {
        let mut node = self.0.clone();
        node.attrs.retain(|(k, _)| k != "id");
        node.attrs.push(("id".into(), id.to_string()));
        node
    }

    fn parse(&self, answer: &Node) -> Result<Node, ClientError> {
        expect_result(answer).cloned()
    }
}

/// Sends `node` as is while connected.
pub fn send_node(node: Node, done: Done) -> Then {
    Then::ctx(move |ctx, _| {
        if ctx.phase == Phase::Offline {
            let _ = done.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        vec![Action::SendFor(node, done)]
    })
}

/// Sends the iq `node` under a fresh id and answers `reply` with the
/// server's result, its error, a timeout or the connection's loss.
pub fn send_iq(node: Node, reply: tokio::sync::oneshot::Sender<Result<Node, ClientError>>) -> Then {
    Then::ctx(move |ctx: &mut Ctx, now| {
        if ctx.phase == Phase::Offline {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        vec![
            ctx.send_iq(External(node), now, move |_: &mut Raw, _, answer, _| {
                let _ = reply.send(answer);
                Vec::new()
            }),
        ]
    })
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;
    use crate::client::testing::*;

    #[test]
    fn external_iqs_get_an_id_and_their_answer() {
        let (mut p, now, _) = connected();
        let (reply, mut rx) = oneshot::channel();
        let request = Node::new("iq").attr("xmlns", "usync").attr("type", "get");
        let out = p.on_command(send_iq(request, reply), now);
        let iq = sent(&out)[0].clone();
        assert!(iq.get_attr("id").is_some());
        let error = result_for(&iq);
        let error = Node {
            attrs: vec![
                ("type".into(), "error".into()),
                ("id".into(), error.get_attr("id").unwrap().into()),
            ],
            ..error
        }
        .children(vec![Node::new("error")
            .attr("code", "404")
            .attr("text", "item-not-found")]);
        p.on_node(&error, now);
        assert!(matches!(
            rx.try_recv(),
            Ok(Err(ClientError::Server { ref code, .. })) if code == "404"
        ));

        // Iqs waiting when the connection drops fail at once.
        let (reply, mut rx) = oneshot::channel();
        p.on_command(send_iq(Node::new("iq"), reply), now);
        p.on_disconnected();
        assert!(matches!(rx.try_recv(), Ok(Err(ClientError::NotConnected))));
    }
}
