//! The session host: many sessions in one process.
//!
//! Owns: the pool of running sessions ([`Host`]), which sessions exist
//! (through `store::SessionRecords`), restore on start, capacity admission
//! and the memory alert, the fan-out of every session's events to
//! subscribers (the API's event streams), and webhooks with their durable
//! outbox.
//! Must not touch: HTTP (that is `api`), the WhatsApp protocol (that is
//! `client`), what sessions store (`store::AuthStores` hands each
//! session its own store; the host only decides which sessions run).

mod capacity;
mod cluster_capacity;
mod cluster_drain;
mod cluster_leases;
mod cluster_node;
mod cluster_rebalance;
mod cluster_sessions;
mod cluster_state;
mod error;
mod event;
mod fanout;
mod groups;
mod locks;
mod media;
mod media_fetch;
mod pool;
mod running;
mod voice;
mod webhook;

pub use capacity::{
    derive_max_sessions, process_rss, rss_from_statm, CapacityReport, MemoryReport,
    DEFAULT_SESSION_COST,
};
pub use cluster_capacity::{ClusterCapacity, NodeCapacity};
pub use cluster_drain::Drained;
pub use cluster_rebalance::{plan_rebalance, HandedOver, Move};
pub use cluster_sessions::{Elsewhere, Placement};
pub use cluster_state::{NodeInfo, NodeStatus};
pub use error::{HostError, SessionErrorKind};
// What the host hands out of its sessions, in the client's own types.
pub use crate::client::groups::{
    AddressingMode, GroupInfo, GroupParticipant, JoinedGroup, ParticipantAction, ParticipantResult,
    ParticipantRole,
};
pub use crate::client::{Event, IncomingMedia, SentMessage, Status};
pub use event::{HostEvent, QrState};
pub use media::{MediaDownload, SendFile};
pub use pool::{validate_webhook_url, Counters, CreateSession, Host, HostConfig, SessionInfo};
pub use voice::VoiceConverter;
pub use webhook::{AddressGuard, Backlog, IpNet, WebhookConfig, WebhookTarget};
