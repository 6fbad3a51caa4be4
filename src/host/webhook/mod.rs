//! Webhooks: every event with a destination is committed to a durable
//! outbox (`outbox`) before any attempt, then delivered per endpoint
//! (`delivery`) over a minimal HTTP client (`http_post`) that connects
//! only to addresses the guard allows (`address_guard`). Bodies are
//! signed with HMAC-SHA256 when a secret is set; failures are retried
//! with exponential backoff; a restart re-sends what was pending.
//! This file wires those parts together for the host.
//! Must not touch: sessions, the fan-out (it only hands events over).

mod address_guard;
mod config;
mod delivery;
mod http_post;
mod outbox;

use crate::store::WebhookOutbox;
use crate::types::SharedClock;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use address_guard::{AddressGuard, IpNet};
// The media fetcher reaches out the same way: same guard, same roots.
pub use crate::store::Backlog;
pub use config::WebhookConfig;
pub(super) use http_post::{connect, split_url, tls_config, PostError};
pub use outbox::{OutboxFeed, WebhookTarget};

use super::HostError;
use delivery::Delivery;
use outbox::Outbox;

pub struct Webhooks {
    outbox: Arc<Outbox>,
    delivery: Arc<Delivery>,
    guard: AddressGuard,
}

impl Webhooks {
    /// Delivers from `rows`; `sweep`, for an outbox other nodes write
    /// too, says how often to look for rows this node did not write.
    pub fn new(
        rows: Arc<dyn WebhookOutbox>,
        config: WebhookConfig,
        clock: SharedClock,
        sweep: Option<Duration>,
    ) -> Webhooks {
        let outbox = Arc::new(Outbox::new(rows, config.global.clone()));
        let guard = config.guard.clone();
        let delivery = Delivery::new(outbox.clone(), config, clock, sweep);
        Webhooks {
            outbox,
            delivery,
            guard,
        }
    }

    /// Starts delivering (first what an earlier run left) and the outbox
    /// writer, fed by the returned sender.
    pub fn start(&self) -> OutboxFeed {
        self.delivery.start();
        let delivery = Arc::downgrade(&self.delivery);
        self.outbox.start_writer(move |urls| {
            if let Some(delivery) = delivery.upgrade() {
                delivery.committed(urls);
            }
        })
    }

    /// Sets (or clears) the webhook of one session.
    pub fn set_target(&self, session: &str, target: Option<WebhookTarget>) {
        self.outbox.set_target(session, target);
    }

    /// Refuses a session's webhook URL whose host is a literal address the
    /// guard refuses (names are checked when resolved, at delivery).
    pub fn check_url(&self, url: &str) -> Result<(), HostError> {
        let target = http_post::split_url(url).ok_or_else(|| bad_url(url))?;
        self.guard
            .check_literal(&target.host)
            .map_err(|why| HostError::InvalidWebhook(format!("{url:?}: {why}")))
    }

    /// Forgets session `id`'s webhook: its pending rows are deleted and an
    /// attempt in flight for one of them is abandoned.
    pub fn drop_session(&self, id: &str) -> Result<usize, HostError> {
        self.set_target(id, None);
        self.delivery.drop_session(id)
    }

    /// Rows not delivered yet (and not given up).
    pub fn pending(&self) -> Result<u64, HostError> {
        Ok(self.outbox.rows().pending()?)
    }

    /// What is pending for session `id`'s own webhook.
    pub fn backlog(&self, id: &str) -> Result<Backlog, HostError> {
        Ok(self.outbox.rows().backlog(id)?)
    }

    /// Attempts answered 2xx and attempts that failed, since start.
    pub fn attempts(&self) -> (u64, u64) {
        (
            self.delivery.delivered.load(Ordering::Relaxed),
            self.delivery.failed.load(Ordering::Relaxed),
        )
    }
}

/// Webhooks go to `http://` or `https://host[:port]/path` URLs.
pub fn validate_url(url: &str) -> Result<(), HostError> {
    http_post::split_url(url)
        .map(|_| ())
        .ok_or_else(|| bad_url(url))
}

fn bad_url(url: &str) -> HostError {
    HostError::InvalidWebhook(format!("{url:?}: use an http[s]://host[:port]/path URL"))
}
