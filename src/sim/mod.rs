//! A simulated WhatsApp server: the server side of the same protocol.
//!
//! Owns: the simulator's certificate root, accounts ("phones") and their
//! linked devices, the chat endpoint at `/ws/chat`, and the JSON admin
//! API under `/sim`. Must not touch: `client` (tests put the two together,
//! the simulator never borrows the client's code).

pub mod pair_code;
