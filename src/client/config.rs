//! Client configuration shared by every session of a host.

use std::time::Duration;

use crate::types::{SharedClock, SystemClock};

/// WhatsApp's real chat endpoint (WhatsApp Web's socket URL).
pub const DEFAULT_URL: &str = "wss://web.whatsapp.com/ws/chat";

/// Where sessions connect, whom they trust, how they present themselves
/// and their timers. One `Arc<ClientConfig>` is shared by all sessions.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The chat endpoint (ws:// allowed for a loopback simulator).
    pub url: String,
    /// The certificate root the server's Noise chain must lead to.
    pub root_key: [u8; 32],
    /// Whom TLS trusts for `wss://` and the media hosts: the Mozilla
    /// roots (`wire::socket::shared_tls_config`), shared by every session
    /// of the process; a test authority added for a simulator over TLS.
    pub tls: std::sync::Arc<rustls::ClientConfig>,
    /// Name other users see until the phone syncs the real one.
    pub push_name: String,
    /// `DeviceProps.os`: the name the phone lists this device under.
    pub device_os: String,
    /// Browser shown on the phone: chrome, firefox, safari, edge, opera,
    /// ie, desktop; anything else is "unknown".
    pub browser: String,
    /// Pings go out at a random moment in this window after the last one.
    /// WA Web: `healthCheckInterval` 15 s * (1 + random) = 15-30 s
    /// (wacore `protocol::keepalive`); whatsmeow uses 20-30 s.
    pub keepalive_min: Duration,
    pub keepalive_max: Duration,
    /// A ping not answered within this time means the socket is dead
    /// (wacore `KEEP_ALIVE_RESPONSE_DEADLINE` 20 s).
    pub keepalive_timeout: Duration,
    /// How long an ordinary iq may wait for its answer.
    pub iq_timeout: Duration,
    /// How long logout waits for the server to confirm the removal.
    pub logout_timeout: Duration,
    /// WebSocket connect plus Noise handshake must finish within this.
    pub connect_timeout: Duration,
    /// Reconnect backoff: full jitter over `base * 2^(attempt-1)`, capped.
    pub reconnect_base: Duration,
    pub reconnect_max: Duration,
    /// Lifetime of the first QR code and of each following one
    /// (WA Web: 60 s, then 20 s; wacore/whatsmeow pair handling).
    pub qr_first_ttl: Duration,
    pub qr_next_ttl: Duration,
    /// How long a linking code stays usable once shown, if the phone never
    /// answers (wacore `PAIR_CODE_VALIDITY_SECS`: 180 s).
    pub pair_code_ttl: Duration,
    /// How long to wait for `pair-success` after answering the phone's
    /// `primary_hello` (wacore: 60 s); silence means the phone could not
    /// open our key bundle (mistyped or superseded code).
    pub pair_code_success_timeout: Duration,
    /// Upload one-time prekeys when the server holds fewer than this
    /// (whatsmeow `MinPreKeyCount` 5).
    pub prekey_min_count: u32,
    /// How many to upload then (whatsmeow `WantedPreKeyCount` 50; WA Web
    /// uploads 812, too many to keep for thousands of sessions).
    pub prekey_batch: u32,
    /// Replace the signed prekey at the first login after it is this old
    /// (libsignal suggests between a week and a month).
    pub signed_prekey_rotation: Duration,
    /// Wall-clock time for stanzas and credentials (tests set the date).
    pub clock: SharedClock,
    /// Where media files wait, encrypted, while they are uploaded or
    /// checked after a download (removed once done).
    pub media_dir: std::path::PathBuf,
    /// The largest media file sent or received (WhatsApp takes documents
    /// up to 2 GB; most backends want far less).
    pub max_media_bytes: u64,
    /// A media transfer with no progress for this long fails.
    pub media_stall_timeout: Duration,
    /// How long the record to fetch a received file by its message id is
    /// kept (WhatsApp's hosts keep files for weeks, not forever).
    pub media_retention: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            url: DEFAULT_URL.to_string(),
            root_key: crate::wire::cert::WHATSAPP_ROOT_KEY,
            tls: crate::wire::socket::shared_tls_config(),
            push_name: String::new(),
            device_os: "wasp".to_string(),
            browser: "chrome".to_string(),
            keepalive_min: Duration::from_secs(15),
            keepalive_max: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            iq_timeout: Duration::from_secs(60),
            logout_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(20),
            reconnect_base: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            qr_first_ttl: Duration::from_secs(60),
            qr_next_ttl: Duration::from_secs(20),
            pair_code_ttl: super::pairing::CODE_VALIDITY,
            pair_code_success_timeout: super::pairing::PAIR_SUCCESS_TIMEOUT,
            prekey_min_count: 5,
            prekey_batch: 50,
            signed_prekey_rotation: Duration::from_secs(30 * 24 * 3600),
            clock: SystemClock::shared(),
            media_dir: std::env::temp_dir(),
            max_media_bytes: 100 << 20,
            media_stall_timeout: Duration::from_secs(30),
            media_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl ClientConfig {
    /// Trusts the certificate authorities of a PEM file's contents
    /// besides the Mozilla roots, for `wss://` and the media hosts (a
    /// simulator over TLS, an endpoint behind an operator's own CA); how
    /// many.
    pub fn trust_pem(&mut self, pem: &[u8]) -> Result<usize, String> {
        let certs = crate::types::pem::certificates(pem)?;
        self.tls = crate::types::pem::client_config(&certs)?;
        Ok(certs.len())
    }

    /// Defaults aimed at a simulator on loopback, with short timers so
    /// tests run quickly.
    pub fn for_tests(url: impl Into<String>, root_key: [u8; 32]) -> Self {
        ClientConfig {
            url: url.into(),
            root_key,
            keepalive_min: Duration::from_secs(2),
            keepalive_max: Duration::from_secs(3),
            keepalive_timeout: Duration::from_secs(2),
            iq_timeout: Duration::from_secs(5),
            logout_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            reconnect_base: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(500),
            qr_first_ttl: Duration::from_secs(3),
            qr_next_ttl: Duration::from_secs(1),
            ..ClientConfig::default()
        }
    }
}
