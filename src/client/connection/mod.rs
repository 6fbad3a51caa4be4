//! The connection as such: logging in, keeping the socket alive, how the
//! server ends a connection, and logging out.
//!
//! Owns: `<success>` and `<failure>` answering a login, `<stream:error>`,
//! the end of the stream, the server's pings, edge routing (`<ib>`), our
//! keepalive pings, and the logout command.
//! Must not touch: pairing, prekeys, messages — other features react to
//! the login through [`Feature::on_login`].

mod endings;
mod keepalive;
mod login;
mod logout;
mod state;
#[cfg(test)]
mod tests;

use tokio::time::Instant;

use super::core::{envelope, Action, Ctx, Ending, Feature};
use crate::wire::Node;

pub use logout::{logout, shutdown};
pub use state::Connection;

impl Feature for Connection {
    fn on_node(&mut self, ctx: &mut Ctx, node: &Node, now: Instant) -> Option<Vec<Action>> {
        Some(match node.tag.as_str() {
            "success" => {
                let out = login::on_success(ctx, node, now);
                if !out.is_empty() {
                    keepalive::schedule(self, ctx, now);
                }
                out
            }
            "failure" => endings::on_failure(node),
            "stream:error" => endings::on_stream_error(node),
            "xmlstreamend" => vec![Action::End(Ending::Reconnect {
                reason: "server ended the stream".into(),
                penalty: 0,
            })],
            "ib" => login::on_ib(ctx, node),
            "iq" if keepalive::is_server_ping(node) => envelope::iq_result(node)
                .map(Action::Send)
                .into_iter()
                .collect(),
            _ => return None,
        })
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.next_ping
    }

    fn on_timer(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        if self.next_ping.is_some_and(|t| t <= now) {
            self.next_ping = None;
            return vec![keepalive::ping(ctx, now)];
        }
        Vec::new()
    }

    fn on_disconnected(&mut self, _ctx: &mut Ctx) {
        *self = Connection::default();
    }
}
