//! wasp — WhatsApp Session Pool.
//!
//! A native-protocol WhatsApp multi-device session engine. The crate is
//! layered; data flows from the top of this list to the bottom and back,
//! and a module never imports one above it:
//!
//! | module   | owns                                                        |
//! |----------|-------------------------------------------------------------|
//! | `api`    | the HTTP API: routes, JSON errors, auth, event streams      |
//! | `host`   | the session pool: records, restore, capacity, alerts        |
//! | `cluster`| membership, heartbeats and placement across nodes (Redis)   |
//! | `client` | one WhatsApp session: pairing, login, keepalive, reconnect  |
//! | `signal` | Signal protocol state and crypto (identity, prekeys, ...)   |
//! | `wire`   | WebSocket transport, frames, Noise, binary nodes            |
//! | `store`  | per-session directories with crash-safe atomic files        |
//!
//! Foundation modules sit beneath every layer: `proto` (generated
//! protobufs), `crypto` (Curve25519 keys, XEdDSA, small KDF helpers) and
//! `media` (media files encrypted and verified as WhatsApp does, pure).
//!
//! `sim` sits beside the stack: the server side of the same protocol, a
//! simulated WhatsApp network for tests and benchmarks. It uses `wire`,
//! `crypto` and `proto`, never `client`.
//!
//! See ARCHITECTURE.md at the repository root for the whole picture.

// Nothing from outside may panic the process: library code returns
// errors instead of unwrapping (tests may unwrap).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod client;
pub mod cluster;
pub mod crypto;
pub mod host;
pub mod media;
pub mod proto;
pub mod signal;
pub mod sim;
pub mod store;
pub mod types;
pub mod wire;
