//! A simulated WhatsApp server: the server side of the same protocol.
//!
//! Owns: the simulator's certificate root, accounts ("phones") and their
//! linked devices, the chat endpoint at `/ws/chat`, and the JSON admin
//! API under `/sim`. Must not touch: `client` (tests put the two together,
//! the simulator never borrows the client's code). Uses `wire`, `signal`,
//! `crypto`, `proto`, `media` and `types` only.
//!
//! Start one with [`start`]; drive it through [`SimHandle`] (in tests) or
//! the HTTP admin API (which does exactly the same). The same listener
//! serves the media hosts' `/mms/…` uploads and `/v/…` downloads.
//!
//! Where things are, top to bottom (a module uses only those below it;
//! `tests/architecture.rs` checks there are no import circles):
//! - `server` (start, handle), `admin` (HTTP routes), `api` (the public
//!   operations on [`SimState`]);
//! - `network`: the certificate root, the WebSocket transport, one task
//!   per connection, login and live connections, fault injection;
//! - `iq`: answers to a logged-in companion's stanzas, one file per IQ
//!   family;
//! - `linking` (QR scans, linking codes), `accounts` (phones, companions,
//!   device lists), `groups` (the rules of groups and their
//!   notifications);
//! - `routing`: messages, receipts, offline queues, device-list watchers;
//! - `media`: the media hosts (uploads by hash, direct-path downloads,
//!   upload tokens; their own lock beside the tables');
//! - `phone`: the phones as Signal participants;
//! - `prekeys`: the prekey store and bundles;
//! - `state`: every table under one lock, and the clock;
//! - `protocol`: pure wire shapes and linking crypto; `config`, `error`.

mod accounts;
mod admin;
mod api;
mod config;
mod error;
mod groups;
mod iq;
mod linking;
mod media;
mod network;
mod phone;
mod prekeys;
mod protocol;
mod routing;
mod server;
mod state;

#[cfg(test)]
mod fixtures;

pub use accounts::{DeviceInfo, LidStatus};
pub use admin::router;
pub use config::SimConfig;
pub use error::SimError;
pub use groups::admin::{GroupMember, GroupSummary};
pub use network::ca::Authority;
pub use network::tls::TestTls;
pub use network::transport::ServerWebSocket;
pub use phone::history_sync::HistoryShared;
pub use phone::lid_sync::LidsShared;
pub use phone::send::SentByPhone;
pub use phone::send_media::PhoneMedia;
pub use protocol::adv::{issue_device_identity, verify_device_signature, AdvError, IssuedIdentity};
pub use protocol::pair_code;
pub use protocol::qr::{parse_qr, ScannedQr};
pub use server::{start, SimHandle};
pub use state::LoginReport;
pub use state::{FaultKind, PhoneMediaView, PhoneMessage, PhoneReceipt, SimState};
