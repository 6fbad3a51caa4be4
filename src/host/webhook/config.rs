//! How webhooks are delivered: the global webhook, the retry policy, the
//! timeouts and concurrency of attempts, trusted CAs and the address
//! guard. Plain settings; `main.rs` fills them from flags.
//! Must not touch: anything at run time.

use std::time::Duration;

use super::address_guard::AddressGuard;
use super::outbox::WebhookTarget;

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Receives every event of every session and the host's own. Set by
    /// the operator, so the address guard does not apply to it.
    pub global: Option<WebhookTarget>,
    /// First retry delay; doubled per failed attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// After this many failed attempts a delivery is given up (kept in
    /// the table with `dead = 1` for inspection).
    pub max_attempts: u32,
    /// Resolving and connecting, per attempt.
    pub connect_timeout: Duration,
    /// One whole attempt, connecting included.
    pub attempt_timeout: Duration,
    /// Attempts in flight at once, across all endpoints.
    pub concurrency: usize,
    /// Certificate authorities trusted for https webhooks besides the
    /// Mozilla roots (DER).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Which addresses sessions' webhooks may reach (off by default;
    /// `wasp serve` turns it on when it listens beyond loopback).
    pub guard: AddressGuard,
}

impl WebhookConfig {
    /// Adds every certificate of a PEM file's contents as a trusted CA.
    pub fn trust_pem(&mut self, pem: &[u8]) -> Result<usize, String> {
        let certs = crate::types::pem::certificates(pem)?;
        let n = certs.len();
        self.extra_roots.extend(certs);
        Ok(n)
    }

    /// The delay before retry number `attempts` (1 after the first
    /// failure): `retry_base` doubled per attempt, at most `retry_max`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            global: None,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(600),
            max_attempts: 20,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(15),
            concurrency: 64,
            extra_roots: Vec::new(),
            guard: AddressGuard::default(),
        }
    }
}
