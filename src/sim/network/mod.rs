//! Connections: the server's certificate root, the WebSocket transport,
//! the per-connection task, TLS for `wss://`, logging in, the registry of live connections
//! and fault injection.
//!
//! Owns: everything tied to one client connection's life. Must not touch:
//! the answers to what a logged-in device says (`iq`, `routing`), the
//! rules of linking (`linking`); the connection task carries both.

pub(crate) mod ca;
pub(crate) mod conn;
pub(crate) mod faults;
pub(crate) mod login;
pub(crate) mod tls;
pub(crate) mod transport;
