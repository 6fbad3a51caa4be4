//! Starting and stopping a simulator: one listener for the chat
//! WebSocket and the admin API, and the handle tests hold.
//!
//! Owns: [`start`] and [`SimHandle`]. Must not touch: what the routes
//! do (`admin`, `network::conn`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::sim::accounts::{DeviceInfo, LidStatus};
use crate::sim::admin::router;
use crate::sim::config::SimConfig;
use crate::sim::error::SimError;
use crate::sim::groups::admin::GroupSummary;
use crate::sim::network::ca::Authority;
use crate::sim::network::tls::{TestTls, TlsListener};
use crate::sim::phone::send::SentByPhone;
use crate::sim::state::{FaultKind, PhoneMessage, PhoneReceipt, SimState};

/// Starts a simulator: binds the listener, issues the server's
/// certificate chain, serves until [`SimHandle::shutdown`].
pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
    let authority = match &config.root_key_file {
        Some(path) => Authority::load_or_create(path)?,
        None => Authority::generate(),
    };
    let identity = Arc::new(authority.issue_server_identity(config.clock.unix_secs()));
    let state = Arc::new(SimState::new(&config, authority.root_public_key()));
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let app = router(state.clone(), identity);
    let tls = match config.tls_listen {
        Some(at) => {
            let TestTls { server, ca_pem } = TestTls::generate().map_err(std::io::Error::other)?;
            let tcp = TcpListener::bind(at).await?;
            let listener = TlsListener::new(tcp, server, config.handshake_timeout)?;
            let tls_addr = axum::serve::Listener::local_addr(&listener)?;
            // Clients over wss:// fetch media over https: the hosts are
            // the TLS endpoint then.
            state.set_media_host(tls_addr.to_string());
            let server = serve_until_shutdown(&state, listener, app.clone());
            tracing::info!(addr = %tls_addr, "simulator listening over TLS");
            Some(TlsEndpoint {
                addr: tls_addr,
                ca_pem,
                server,
            })
        }
        None => {
            state.set_media_host(addr.to_string());
            None
        }
    };
    let server = serve_until_shutdown(&state, listener, app);
    tracing::info!(%addr, root = %hex::encode(state.root_public_key()), "simulator listening");
    Ok(SimHandle {
        addr,
        state,
        server,
        tls,
    })
}

/// Serves `app` on `listener` until the simulator shuts down.
fn serve_until_shutdown<L>(
    state: &SimState,
    listener: L,
    app: axum::Router,
) -> JoinHandle<std::io::Result<()>>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let mut stop = state.subscribe_shutdown();
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
    })
}

/// The chat endpoint over TLS, when configured.
struct TlsEndpoint {
    addr: SocketAddr,
    ca_pem: String,
    server: JoinHandle<std::io::Result<()>>,
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    server: JoinHandle<std::io::Result<()>>,
    tls: Option<TlsEndpoint>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The chat endpoint clients connect to: `ws://ADDR/ws/chat`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr)
    }

    /// The chat endpoint over TLS, `wss://127.0.0.1:PORT/ws/chat`, when
    /// `SimConfig::tls_listen` was set.
    pub fn wss_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|tls| format!("wss://{}/ws/chat", tls.addr))
    }

    /// The certificate clients of [`SimHandle::wss_url`] must trust (PEM).
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.ca_pem.as_str())
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

    /// `POST /sim/phones/{phone}/lid`: the account's chats move to LID.
    pub fn set_lid_migrated(&self, phone: &str, migrated: bool) -> Result<LidStatus, SimError> {
        self.state.set_lid_migrated(phone, migrated)
    }

    /// `POST /sim/phones/{phone}/history-sync`.
    pub fn share_history(
        &self,
        phone: &str,
        contacts: &[String],
        inline: bool,
    ) -> Result<crate::sim::HistoryShared, SimError> {
        self.state.share_history(phone, contacts, inline)
    }

    /// `POST /sim/phones/{phone}/lid-mappings`.
    pub fn share_lid_mappings(
        &self,
        phone: &str,
        contacts: &[String],
    ) -> Result<crate::sim::LidsShared, SimError> {
        self.state.share_lid_mappings(phone, contacts)
    }

    /// `POST /sim/phones/{phone}/messages` with `media`.
    pub fn phone_send_media(
        &self,
        phone: &str,
        to: &str,
        media: crate::sim::PhoneMedia,
    ) -> Result<SentByPhone, SimError> {
        self.state.phone_send_media(phone, to, media)
    }

    /// `POST /sim/media/expire`.
    pub fn expire_media(&self, direct_path: &str) -> Result<(), SimError> {
        self.state.expire_media(direct_path)
    }

    /// Every file on the media hosts expires; how many did.
    pub fn expire_all_media(&self) -> usize {
        self.state.expire_all_media()
    }

    /// `POST /sim/phones/{phone}/clear-chats`.
    pub fn phone_clear_chats(&self, phone: &str) -> Result<(), SimError> {
        self.state.phone_clear_chats(phone)
    }

    /// Damages one byte of a stored media file.
    pub fn corrupt_media(&self, direct_path: &str, offset: usize) -> Result<(), SimError> {
        self.state.corrupt_media(direct_path, offset)
    }

    /// `GET /sim/phones/{phone}/lid`.
    pub fn lid_status(&self, phone: &str) -> Result<LidStatus, SimError> {
        self.state.lid_status(phone)
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

    /// `POST /sim/groups`: phone `creator` creates a group.
    pub fn create_group(
        &self,
        creator: &str,
        subject: &str,
        members: &[String],
    ) -> Result<GroupSummary, SimError> {
        self.state.create_group(creator, subject, members, None)
    }

    /// `GET /sim/groups/{group}`.
    pub fn group(&self, group: &str) -> Result<GroupSummary, SimError> {
        self.state.group(group)
    }

    /// `POST /sim/devices/{jid}/fault`.
    pub fn fault(&self, device_jid: &str, kind: FaultKind) -> Result<(), SimError> {
        self.state.fault(device_jid, kind)
    }

    /// Stops accepting, closes every connection, waits for the server.
    pub async fn shutdown(self) {
        self.state.trigger_shutdown();
        let servers = std::iter::once(self.server).chain(self.tls.map(|tls| tls.server));
        for server in servers {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("simulator server ended with an error: {e}"),
                Err(e) => tracing::warn!("simulator server task failed: {e}"),
            }
        }
    }
}
