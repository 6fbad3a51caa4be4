//! What every feature of a session is built from.
//!
//! Owns: the context features share ([`Ctx`]: configuration, credentials,
//! connection phase, outstanding iqs), the [`Action`]s they hand the run
//! loop, continuations addressed to a feature ([`Then`]), blocking work
//! ([`Work`]), work beside the session ([`Detached`]), and iq specs ([`IqSpec`]: one type per iq that builds the
//! request and reads the answer).
//! Must not touch: any particular feature's state, sockets, the store's
//! contents.
//!
//! A feature (`client::connection`, `client::pairing`, `client::prekeys`,
//! `client::messaging`, `client::raw`) implements [`Feature`]: it claims
//! the stanzas that are its own, runs its timers and reacts to login and
//! disconnection. Whatever must come back to it later — an iq's answer,
//! the result of blocking work, a command from the session's handle — is
//! a [`Then`] addressed to its type, so no central list of iq kinds,
//! work results or commands exists.

mod context;
pub mod envelope;
mod feature;
mod iq;
mod tracker;

pub use context::{
    Action, Ctx, Detached, Done, Ending, Features, Handle, Phase, Then, Weight, Work,
};
pub use feature::Feature;
pub use iq::{expect_result, IqSpec};
pub use tracker::IqTracker;
