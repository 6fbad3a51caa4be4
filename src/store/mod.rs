//! Persistent state, behind interfaces.
//!
//! Owns: the interfaces to what must survive a restart — each session's
//! auth state ([`AuthStore`], [`AuthStores`]) and the host's records
//! ([`SessionRecords`]) — and their single-node implementations: one
//! directory per session under a data root ([`FileStores`]) with
//! crash-safe atomic writes (write to a temporary file, flush, rename,
//! flush; flushes are group commits shared by concurrent writers,
//! `group_sync`) and two-slot files rewritten in place for state that
//! changes with every message (`slots`), read back through a bounded
//! write-through cache of hot files (`hot_files`), and SQLite for the records
//! ([`SqliteRecords`]); and, for cluster mode, PostgreSQL for both
//! (`postgres`: [`PgStores`], [`PgRecords`]), where every write is fenced
//! by the epoch of the session's owner, and the nodes' [`Leases`] say
//! which node runs each session. [`conformance`] holds the checks
//! every backend must pass.
//! Must not touch: the meaning of what it keeps; callers hand it bytes and
//! keys, and decide when to write.

mod auth;
pub mod conformance;
mod dir;
mod error;
mod files;
mod group_sync;
mod hot_files;
mod leases;
mod modes;
mod names;
mod outbox;
mod postgres;
mod records;
mod slots;
mod sqlite;
mod sqlite_outbox;

pub use auth::{AuthStore, AuthStores};
pub use dir::{DataDir, SessionDir};
pub use error::StoreError;
pub use files::{peer_file, FileAuthStore, FileStores, CREDS_FILE, PREKEYS_FILE};
pub use group_sync::{deferring as deferring_flushes, PendingFlush};
pub use leases::Leases;
pub use modes::create_private_file;
pub use names::valid_session_id;
pub use outbox::{Backlog, Delivery, Head, NewDelivery, WebhookOutbox};
pub use postgres::{
    PgAuthStore, PgLeases, PgOutbox, PgRecords, PgStores, Postgres, PostgresConfig,
};
pub use records::{SessionRecords, SessionRow};
pub use sqlite::{open_database, SqliteRecords};
pub use sqlite_outbox::SqliteOutbox;
