//! The state every feature of a session shares.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::action::Action;
use super::feature::{Feature, Then};
use super::iq::{IqSpec, IqTracker};
use crate::client::config::ClientConfig;
use crate::client::creds::Creds;
use crate::client::ClientError;
use crate::types::DeviceAddress;

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No connection.
    Offline,
    /// Handshake done, waiting for pair-device or success.
    Handshaken,
    /// Showing QR codes.
    Pairing,
    /// Linked; waiting for the server's 515 restart.
    Paired,
    /// Logged in.
    Connected,
}

/// Shared by every feature of one session.
pub struct Ctx {
    pub config: Arc<ClientConfig>,
    /// The device's credentials; a feature that changes them also returns
    /// [`Action::SaveCreds`] before anything that depends on the change.
    pub creds: Creds,
    pub phase: Phase,
    pub iqs: IqTracker,
}

impl Ctx {
    pub fn new(creds: Creds, config: Arc<ClientConfig>) -> Ctx {
        Ctx {
            config,
            creds,
            phase: Phase::Offline,
            iqs: IqTracker::new(),
        }
    }

    /// Seconds since the epoch, by the configured clock.
    pub fn unix_now(&self) -> u64 {
        self.config.clock.unix_secs()
    }

    /// This device, once linked.
    pub fn own_device(&self) -> Option<DeviceAddress> {
        DeviceAddress::from_jid(&self.creds.paired.as_ref()?.jid)
    }

    /// Sends the iq `spec` describes; its answer (or `Timeout` after
    /// `timeout`, or `NotConnected` when the connection drops first) is
    /// handed to `then` on feature `F`.
    pub fn iq<S: IqSpec, F: Feature>(
        &mut self,
        spec: S,
        timeout: Duration,
        now: Instant,
        then: impl FnOnce(&mut F, &mut Ctx, Result<S::Answer, ClientError>, Instant) -> Vec<Action>
            + Send
            + 'static,
    ) -> Action {
        let id = self.iqs.next_id();
        let request = spec.request(&id);
        self.iqs.track(
            id,
            now + timeout,
            Box::new(move |answer| {
                let answer = answer.and_then(|node| spec.parse(node));
                Then::to::<F>(move |feature, ctx, now| then(feature, ctx, answer, now))
            }),
        );
        Action::Send(request)
    }

    /// [`Ctx::iq`] with the configured iq timeout.
    pub fn send_iq<S: IqSpec, F: Feature>(
        &mut self,
        spec: S,
        now: Instant,
        then: impl FnOnce(&mut F, &mut Ctx, Result<S::Answer, ClientError>, Instant) -> Vec<Action>
            + Send
            + 'static,
    ) -> Action {
        let timeout = self.config.iq_timeout;
        self.iq(spec, timeout, now, then)
    }
}
