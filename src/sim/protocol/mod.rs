//! The simulator's protocol pieces that need no state: the stanzas the
//! server reads and writes, the phone's cryptography of linking (QR, ADV
//! identities, linking codes), the client's hello payload, the phone's
//! app-state key share and push-name patch, its LID mapping push.
//!
//! Owns: wire shapes and pure computations, each file one concept. Must
//! not touch: `sim::state` or anything above it, sockets, clocks (times
//! are passed in), `crate::client` (written from the protocol, so the
//! client and the simulator cannot share one mistake).

pub mod addressing;
pub mod adv;
pub mod app_state;
pub mod groups;
pub mod hello;
pub mod history_sync;
pub mod key_share;
pub mod lid_sync;
pub mod messages;
pub mod pair_code;
pub mod prekeys;
pub mod qr;
pub mod stanzas;
