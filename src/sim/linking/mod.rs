//! Linking a companion to a phone: by QR scan or by linking code, then
//! the signed device identity both ways share.
//!
//! Owns: pending pairings and linking-code requests (their rules), the
//! per-connection linking-code state, registering a linked device. Must
//! not touch: sockets (`network::conn` carries the stanzas), the
//! protocol's pure pieces (`protocol::qr`, `protocol::adv`,
//! `protocol::pair_code`), accounts beyond adding the new device.
//!
//! Files: `qr_scan` (refs and scans), `code` (codes typed on the phone),
//! `code_link` (one connection's progress through the code stanzas),
//! `link` (the shared tail: pair-success, signature, registration).

pub(crate) mod code;
pub(crate) mod code_link;
pub(crate) mod link;
pub(crate) mod qr_scan;
