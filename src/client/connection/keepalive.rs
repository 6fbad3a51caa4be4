//! Keepalive: our pings on a jittered cadence, and the server's pings.

use rand::Rng;
use tokio::time::Instant;

use super::state::Connection;
use crate::client::core::{envelope, expect_result, Action, Ctx, Ending, IqSpec, Phase};
use crate::client::ClientError;
use crate::wire::Node;

/// `<iq xmlns="w:p" type="get"><ping/></iq>` (whatsmeow `keepalive.go`;
/// wacore sends it without the child).
pub struct Ping;

impl IqSpec for Ping {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        envelope::iq(id, "w:p", "get", vec![Node::new("ping")])
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        expect_result(answer).map(|_| ())
    }
}

/// The server's `<iq type="get" xmlns="urn:xmpp:ping">`.
pub fn is_server_ping(node: &Node) -> bool {
    node.get_attr("type") == Some("get") && node.get_attr("xmlns") == Some("urn:xmpp:ping")
}

/// Sends a ping; an answer of any kind schedules the next, silence past
/// the keepalive timeout means the socket is dead.
pub fn ping(ctx: &mut Ctx, now: Instant) -> Action {
    let timeout = ctx.config.keepalive_timeout;
    ctx.iq(
        Ping,
        timeout,
        now,
        |conn: &mut Connection, ctx, answer, now| match answer {
            Err(ClientError::Timeout) => vec![Action::End(Ending::Reconnect {
                reason: "keepalive timeout".into(),
                penalty: 0,
            })],
            Err(ClientError::NotConnected) => Vec::new(),
            _ => {
                schedule(conn, ctx, now);
                Vec::new()
            }
        },
    )
}

/// Schedules the next ping at a random moment of the keepalive window
/// (only while logged in).
pub fn schedule(conn: &mut Connection, ctx: &Ctx, now: Instant) {
    if ctx.phase != Phase::Connected {
        return;
    }
    let (min, max) = (ctx.config.keepalive_min, ctx.config.keepalive_max);
    let wait = if max > min {
        rand::thread_rng().gen_range(min..=max)
    } else {
        min
    };
    conn.next_ping = Some(now + wait);
}
