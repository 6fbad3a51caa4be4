//! One WhatsApp session: the companion-device state machine.
//!
//! Owns: pairing (QR and linking code), login, keepalive, reconnect with
//! backoff, stream errors, and the events a host subscribes to.
//! Must not touch: other sessions, HTTP, process-wide state.

pub mod pair_code;
