//! The PostgreSQL implementation of the stores: every session's auth state
//! ([`PgStores`], [`PgAuthStore`]) and the host's records ([`PgRecords`])
//! in one database, so that any node reaching it can bring a session back
//! (`wasp serve --postgres URL`).
//!
//! Owns: the connection pool and the small runtime that drives it
//! (`connect`), the schema and its versioned migrations (`migrate`), the
//! ownership row of each session with its epoch and the check every write
//! makes against it (`fence`), the nodes' leases and the node running
//! each session (`leases`), the tables of auth state (`auth`) and
//! host records (`records`), and the webhook outbox every node delivers
//! from (`outbox`).
//! Must not touch: the meaning of what it keeps (callers hand it bytes
//! and keys, as to the file store), when to write, and who should own a
//! session (the host claims, adopts and hands over; its lease loop says
//! when).

mod auth;
mod connect;
mod fence;
mod leases;
mod migrate;
mod outbox;
mod records;
mod tls;

pub use auth::{PgAuthStore, PgStores};
pub use connect::{Postgres, PostgresConfig};
pub use leases::PgLeases;
pub use outbox::PgOutbox;
pub use records::PgRecords;
