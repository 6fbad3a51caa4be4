//! Ending the session on request: logging out (the server removes this
//! companion device, then the credentials are wiped) or shutting down
//! (the credentials stay for the next start).

use tokio::time::Instant;

use super::state::Connection;
use crate::client::core::{
    envelope, expect_result, Action, Ctx, Done, Ending, IqSpec, Phase, Then,
};
use crate::client::ClientError;
use crate::types::Jid;
use crate::wire::Node;

/// `<iq xmlns="md" type="set"><remove-companion-device jid reason/></iq>`:
/// unlink this device (wacore-0.7.0 `iq/devices.rs`).
pub struct RemoveCompanionDevice {
    pub own: Jid,
}

impl IqSpec for RemoveCompanionDevice {
    type Answer = ();

    fn request(&self, id: &str) -> Node {
        envelope::iq(
            id,
            "md",
            "set",
            vec![Node::new("remove-companion-device")
                .attr("jid", self.own.to_string())
                .attr("reason", "user_initiated")],
        )
    }

    fn parse(&self, answer: &Node) -> Result<(), ClientError> {
        expect_result(answer).map(|_| ())
    }
}

/// The logout command: online and linked, the server is asked to remove
/// this device (waiting at most the logout timeout); otherwise the device
/// is unlinked locally. Either way the session ends logged out.
pub fn logout(done: Done) -> Then {
    Then::to::<Connection>(move |_, ctx, now| start(ctx, done, now))
}

/// The answer, a timeout or the connection's loss all end in the same
/// place: the user asked to unlink, and a dead socket does not change
/// that.
fn start(ctx: &mut Ctx, done: Done, now: Instant) -> Vec<Action> {
    let own = ctx.creds.jid().cloned();
    let (Phase::Connected, Some(own)) = (ctx.phase, own) else {
        // Not online (or never linked): nothing to tell the server.
        return vec![logged_out(Some(done))];
    };
    let timeout = ctx.config.logout_timeout;
    let spec = RemoveCompanionDevice { own };
    vec![ctx.iq(
        spec,
        timeout,
        now,
        move |_: &mut Connection, _, answer, _| {
            if let Err(ClientError::Timeout) = answer {
                tracing::warn!("logout not confirmed by the server in time; wiping anyway");
            }
            vec![logged_out(Some(done))]
        },
    )]
}

/// The shutdown command: the connection closes cleanly and the session
/// task ends; the credentials stay.
pub fn shutdown(done: Done) -> Then {
    Then::ctx(move |_, _| {
        vec![Action::End(Ending::Stop {
            failed: false,
            reason: "shutdown".into(),
            done: Some(done),
        })]
    })
}

fn logged_out(done: Option<Done>) -> Action {
    Action::End(Ending::LoggedOut {
        reason: "logout".into(),
        done,
    })
}
