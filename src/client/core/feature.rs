//! The interface every feature implements.

use tokio::time::Instant;

use super::context::{Action, Ctx};
use crate::wire::Node;

/// One part of the session's protocol: its state, the stanzas it handles,
/// its timers. Every method has a default that does nothing, so a feature
/// implements only what it takes part in.
pub trait Feature: std::any::Any + Send {
    /// Handles `node` if it is this feature's; `None` leaves it to the
    /// next feature (the dispatcher asks them in a fixed order).
    fn on_node(&mut self, ctx: &mut Ctx, node: &Node, now: Instant) -> Option<Vec<Action>> {
        let _ = (ctx, node, now);
        None
    }

    /// The session has just logged in (after `<success>`).
    fn on_login(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        let _ = (ctx, now);
        Vec::new()
    }

    /// When [`Feature::on_timer`] must run next.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Called when the earliest deadline of any feature has passed; each
    /// feature checks its own.
    fn on_timer(&mut self, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        let _ = (ctx, now);
        Vec::new()
    }

    /// The connection is gone: forget per-connection state and answer
    /// whoever still waits on it.
    fn on_disconnected(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }
}
