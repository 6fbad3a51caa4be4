//! A simulated WhatsApp server: the server side of the same protocol.
//!
//! Owns: the simulator's certificate root, accounts ("phones") and their
//! linked devices, the chat endpoint at `/ws/chat`, and the JSON admin
//! API under `/sim`. Must not touch: `client` (tests put the two together,
//! the simulator never borrows the client's code). Uses `wire`, `crypto`
//! and `proto` only.
//!
//! Start one with [`start`]; drive it through [`SimHandle`] (in tests) or
//! the HTTP admin API (which does exactly the same).

mod admin;
mod adv;
mod app_state;
mod ca;
mod code_link;
mod conn;
mod error;
mod key_share;
pub mod pair_code;
mod qr;
mod stanza;
mod state;
mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use admin::router;
pub use adv::{issue_device_identity, verify_device_signature, AdvError, IssuedIdentity};
pub use ca::Authority;
pub use error::SimError;
pub use qr::{parse_qr, ScannedQr};
pub use state::{
    device_jid, parse_device_jid, DeviceInfo, FaultKind, PhoneMessage, PhoneReceipt, SentByPhone,
    SimState, SERVER_JID,
};
pub use transport::ServerWebSocket;

/// How a simulator runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
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
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            root_key_file: None,
            qr_refs: 6,
            first_ref_ttl: Duration::from_secs(60),
            next_ref_ttl: Duration::from_secs(20),
            pair_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(20),
            pair_code_ttl: Duration::from_secs(180),
        }
    }
}

/// Starts a simulator: binds the listener, issues the server's
/// certificate chain, serves until [`SimHandle::shutdown`].
pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
    let authority = match &config.root_key_file {
        Some(path) => Authority::load_or_create(path)?,
        None => Authority::generate(),
    };
    let identity = Arc::new(authority.issue_server_identity(state::unix_now()));
    let state = Arc::new(SimState::new(&config, authority.root_public_key()));
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let app = router(state.clone(), identity);
    let mut stop = state.subscribe_shutdown();
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
    });
    tracing::info!(%addr, root = %hex::encode(state.root_public_key()), "simulator listening");
    Ok(SimHandle {
        addr,
        state,
        server,
    })
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    server: JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The chat endpoint clients connect to: `ws://ADDR/ws/chat`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr)
    }

    /// Base URL of the admin API: `http://ADDR`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The certificate root clients must trust.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.state.root_public_key()
    }

    /// The shared state (what the admin API drives).
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// `POST /sim/phones`.
    pub async fn create_phone(&self, phone: Option<String>) -> Result<String, SimError> {
        self.state.create_phone(phone)
    }

    /// `POST /sim/phones/{phone}/scan`: returns the new device JID.
    pub async fn scan(&self, phone: &str, qr: &str) -> Result<String, SimError> {
        self.state.scan(phone, qr).await
    }

    /// `POST /sim/phones/{phone}/pair-code`: returns the new device JID
    /// (see [`SimState::enter_pair_code`]).
    pub async fn enter_pair_code(&self, phone: &str, code: &str) -> Result<String, SimError> {
        self.state.enter_pair_code(phone, code).await
    }

    /// `GET /sim/phones/{phone}/devices`.
    pub fn devices(&self, phone: &str) -> Result<Vec<DeviceInfo>, SimError> {
        self.state.devices(phone)
    }

    /// `POST /sim/phones/{phone}/messages`: the phone sends a text.
    pub fn phone_send(&self, phone: &str, to: &str, text: &str) -> Result<SentByPhone, SimError> {
        self.state.phone_send(phone, to, text, None)
    }

    /// `GET /sim/phones/{phone}/messages`.
    pub fn phone_messages(&self, phone: &str) -> Result<Vec<PhoneMessage>, SimError> {
        self.state.phone_messages(phone)
    }

    /// `GET /sim/phones/{phone}/receipts`.
    pub fn phone_receipts(&self, phone: &str) -> Result<Vec<PhoneReceipt>, SimError> {
        self.state.phone_receipts(phone)
    }

    /// `POST /sim/phones/{phone}/read`.
    pub fn phone_read(&self, phone: &str, ids: &[String]) -> Result<usize, SimError> {
        self.state.phone_read(phone, ids)
    }

    /// `POST /sim/devices/{jid}/fault`.
    pub fn fault(&self, device_jid: &str, kind: FaultKind) -> Result<(), SimError> {
        self.state.fault(device_jid, kind)
    }

    /// Stops accepting, closes every connection, waits for the server.
    pub async fn shutdown(self) {
        self.state.trigger_shutdown();
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("simulator server ended with an error: {e}"),
            Err(e) => tracing::warn!("simulator server task failed: {e}"),
        }
    }
}
