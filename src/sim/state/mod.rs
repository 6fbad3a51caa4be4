//! The simulated network's shared state: every table the simulator keeps,
//! under one lock, and what every part of it needs besides (the clock,
//! the timing knobs, connection ids, the shutdown signal).
//!
//! Owns: [`SimState`] and its tables (`World`, with the data types in the
//! files beside it: accounts, pairings, connections, queues, the phones'
//! Signal side). Must not touch: the rules of linking, routing, prekeys
//! or phones (the modules above read and change the tables through
//! [`SimState::lock`]), sockets, HTTP. Nothing here calls up; the admin
//! operations the public API offers on [`SimState`] live in `sim::api`.
//!
//! The lock is a `std::sync::Mutex`, never held across an `.await`.
//! Connections are reached through small per-connection control channels,
//! so the state never touches a socket itself.

mod accounts;
mod connections;
mod groups;
mod logins;
mod pairings;
mod phone;
mod queues;
mod world;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

pub(crate) use accounts::{Account, Device};
pub use connections::FaultKind;
pub(crate) use connections::{CodeHello, Control, LinkReply, Live, PendingLink};
pub(crate) use groups::{Description, Group, Role, MAX_GROUP_SIZE};
pub use logins::LoginReport;
pub(crate) use logins::Logins;
pub(crate) use pairings::{CodeRequest, Pending};
pub use phone::{PhoneMediaView, PhoneMessage, PhoneReceipt};
pub(crate) use phone::{Received, SentText, MAX_PHONE_LOG, MAX_SENT};
pub(crate) use queues::{push_bounded, Sent};
pub(crate) use world::World;

use crate::sim::config::SimConfig;
use crate::sim::error::SimError;
use crate::sim::media::MediaStore;
use crate::types::{Jid, SharedClock};

/// Timing knobs copied out of [`SimConfig`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub qr_refs: usize,
    pub first_ref_ttl: Duration,
    pub next_ref_ttl: Duration,
    pub pair_timeout: Duration,
    pub handshake_timeout: Duration,
    pub code_ttl: Duration,
}

/// Everything the simulator knows, shared by the admin API and every
/// connection task.
pub struct SimState {
    world: Mutex<World>,
    root_public_key: [u8; 32],
    pub(crate) timing: Timing,
    clock: SharedClock,
    next_conn_id: AtomicU64,
    shutdown: watch::Sender<bool>,
    /// The media hosts' files and upload tokens.
    media: Mutex<MediaStore>,
    /// The largest upload the media hosts take.
    pub(crate) max_media_bytes: usize,
    /// `host:port` the media hosts are reached at (the listener's).
    media_host: OnceLock<String>,
}

impl SimState {
    /// Empty state for a simulator whose certificate root is `root_public_key`.
    pub fn new(config: &SimConfig, root_public_key: [u8; 32]) -> Self {
        SimState {
            world: Mutex::new(World::new(config.clock.clone())),
            root_public_key,
            timing: Timing {
                qr_refs: config.qr_refs.max(1),
                first_ref_ttl: config.first_ref_ttl,
                next_ref_ttl: config.next_ref_ttl,
                pair_timeout: config.pair_timeout,
                handshake_timeout: config.handshake_timeout,
                code_ttl: config.pair_code_ttl,
            },
            clock: config.clock.clone(),
            next_conn_id: AtomicU64::new(1),
            shutdown: watch::channel(false).0,
            media: Mutex::new(MediaStore::new(config.media_store_bytes)),
            max_media_bytes: config.max_media_bytes,
            media_host: OnceLock::new(),
        }
    }

    /// The certificate root clients must trust.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.root_public_key
    }

    /// The tables, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        // A panic elsewhere must not take the whole simulator down with it.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Unix seconds now, by the simulator's clock.
    pub(crate) fn now(&self) -> u64 {
        self.clock.unix_secs()
    }

    /// Reads the companion `jid` names, as the caller wrote it (an admin
    /// request: the JID enters here); `unknown_device` when there is no
    /// such companion.
    pub(crate) fn read_device<T>(
        &self,
        jid: &str,
        read: impl FnOnce(&Device) -> T,
    ) -> Result<T, SimError> {
        let parsed = Jid::parse(jid).ok();
        let world = self.lock();
        parsed
            .and_then(|j| world.resolve(&j))
            .and_then(|address| world.device(&address))
            .map(read)
            .ok_or_else(|| SimError::UnknownDevice(jid.to_owned()))
    }

    /// The media hosts' files and tokens, locked.
    pub(crate) fn media(&self) -> MutexGuard<'_, MediaStore> {
        self.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the media hosts listen (set once the listener is bound).
    pub(crate) fn media_host(&self) -> &str {
        self.media_host.get().map_or("127.0.0.1", String::as_str)
    }

    pub(crate) fn set_media_host(&self, host: String) {
        let _ = self.media_host.set(host);
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn subscribe_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn trigger_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}
