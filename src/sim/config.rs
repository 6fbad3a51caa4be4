//! How a simulator runs: where it listens, its certificate root, its
//! clock and the timing knobs of pairing.
//!
//! Owns: [`SimConfig`] and its defaults. Must not touch: anything that
//! runs (`server` starts a simulator from it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::{SharedClock, SystemClock};

/// How a simulator runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Where to serve the chat endpoint over TLS too (`wss://`), with a
    /// fresh test certificate (`SimHandle::tls_ca_pem`); the media hosts
    /// then speak https there.
    pub tls_listen: Option<SocketAddr>,
    /// Keep the certificate root's private key in this file (created when
    /// missing) so restarts stay trusted; a fresh root per start if `None`.
    pub root_key_file: Option<PathBuf>,
    /// Refs per `<pair-device>` (WhatsApp sends 6: whatsapp-rust
    /// `pair.rs` tests, WA Web `Handle/PairDevice.js`).
    pub qr_refs: usize,
    /// How long the first ref is scannable (60 s on WhatsApp).
    pub first_ref_ttl: Duration,
    /// How long each later ref is scannable (20 s on WhatsApp).
    pub next_ref_ttl: Duration,
    /// How long a scan waits for the companion's `<pair-device-sign>`.
    pub pair_timeout: Duration,
    /// How long a client may take to complete the Noise handshake.
    pub handshake_timeout: Duration,
    /// How long a linking code can be typed after the companion asked
    /// for it (wacore `PAIR_CODE_VALIDITY_SECS`: 180 s). The companion's
    /// pairing connection stays open at least that long.
    pub pair_code_ttl: Duration,
    /// The date the simulated network lives at: every timestamp it writes
    /// (stanzas' `t`, certificates, device identities, key lists) reads
    /// it. Intervals (ref lifetimes, timeouts) use tokio's clock instead.
    pub clock: SharedClock,
    /// The largest file the media hosts take in one upload.
    pub max_media_bytes: usize,
    /// What the media hosts keep in all; the oldest files go past it.
    pub media_store_bytes: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_listen: None,
            root_key_file: None,
            qr_refs: 6,
            first_ref_ttl: Duration::from_secs(60),
            next_ref_ttl: Duration::from_secs(20),
            pair_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(20),
            pair_code_ttl: Duration::from_secs(180),
            clock: SystemClock::shared(),
            // WhatsApp takes documents up to 2 GB; the simulator keeps
            // memory in check instead.
            max_media_bytes: 128 << 20,
            media_store_bytes: 1 << 30,
        }
    }
}
