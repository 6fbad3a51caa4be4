//! The session host: many sessions in one process.
//!
//! Owns: the pool of running sessions ([`Host`]), the host's own records
//! (rusqlite, `DATA/wasp.db`), restore on start, capacity admission and
//! the memory alert, and the fan-out of every session's events to
//! subscribers (the API's event streams).
//! Must not touch: HTTP (that is `api`), the WhatsApp protocol (that is
//! `client`). Sessions' auth state stays in their own directories
//! (`store`); the host only decides which sessions run.

mod capacity;
mod error;
mod fanout;
mod http_post;
mod pool;
mod records;
mod turns;
mod webhook;

pub use capacity::{
    derive_max_sessions, process_rss, rss_from_statm, CapacityReport, MemoryReport,
    DEFAULT_SESSION_COST,
};
pub use error::HostError;
pub use fanout::{HostEvent, QrState};
pub use pool::{validate_webhook_url, Counters, CreateSession, Host, HostConfig, SessionInfo};
pub use webhook::{WebhookConfig, WebhookTarget};
