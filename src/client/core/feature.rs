//! Features and the continuations addressed to them.

use std::any::{Any, TypeId};

use tokio::time::Instant;

use super::action::Action;
use super::context::Ctx;
use crate::wire::Node;

/// One part of the session's protocol: its state, the stanzas it handles,
/// its timers. Every method has a default that does nothing, so a feature
/// implements only what it takes part in.
pub trait Feature: Any + Send {
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

/// The features of one session, found by type: how a [`Then`] reaches
/// the feature it is addressed to.
pub trait Features {
    fn find(&mut self, feature: TypeId) -> Option<&mut dyn Any>;
}

/// What to do later, addressed to one feature: with an iq's answer, with
/// the result of blocking work, or on a command from the session's handle.
pub struct Then(Box<Step>);

type Step = dyn FnOnce(&mut dyn Features, &mut Ctx, Instant) -> Vec<Action> + Send;

impl Then {
    /// A step run on feature `F`'s state.
    pub fn to<F: Feature>(
        step: impl FnOnce(&mut F, &mut Ctx, Instant) -> Vec<Action> + Send + 'static,
    ) -> Then {
        Then(Box::new(move |features, ctx, now| {
            match features
                .find(TypeId::of::<F>())
                .and_then(|f| f.downcast_mut::<F>())
            {
                Some(feature) => step(feature, ctx, now),
                None => {
                    tracing::error!(
                        feature = std::any::type_name::<F>(),
                        "continuation for a feature this session lacks"
                    );
                    Vec::new()
                }
            }
        }))
    }

    /// A step that needs only the shared context.
    pub fn ctx(step: impl FnOnce(&mut Ctx, Instant) -> Vec<Action> + Send + 'static) -> Then {
        Then(Box::new(move |_, ctx, now| step(ctx, now)))
    }

    /// A step with nothing left to do.
    pub fn nothing() -> Then {
        Then(Box::new(|_, _, _| Vec::new()))
    }

    pub fn run(self, features: &mut dyn Features, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        (self.0)(features, ctx, now)
    }
}
