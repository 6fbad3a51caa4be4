//! Linking by code, as the server and the phone play it: the simulator's
//! half of the 8-character "link code" flow.
//!
//! Owns: reading `companion_hello` / `companion_finish`, the server's
//! answers, the phone's `primary_hello` notification, opening the key
//! bundle and deriving the same ADV secret as the companion. Pure: stanza
//! `Node`s in, stanzas and key material out; no sockets, tasks or clocks.
//! Must not touch: `crate::client` (these files are written from the
//! protocol, not from our client, so the two cannot share a mistake).
//!
//! Files: `stanzas` reads and writes the stanzas, `code` turns a typed
//! code into keys, `primary` is the phone's half of the key exchange,
//! `error` says why a step is refused.
//!
//! How the simulator drives it:
//! 1. A companion sends `companion_hello`: [`parse_companion_hello`]. If it
//!    fails, answer an iq error 400 `bad-request`. Otherwise keep the
//!    request under the phone number, make a ref with [`new_link_ref`], and
//!    answer [`companion_hello_result`].
//! 2. The phone's user types a code (`POST /sim/phones/{phone}/pair-code`):
//!    [`primary_hello`] with the request kept for that phone. Send the
//!    returned notification to the companion and keep the [`PrimaryPending`]
//!    under the ref. Slow (two PBKDF2 runs): use `spawn_blocking`.
//! 3. The companion sends `companion_finish`: [`parse_companion_finish`]
//!    finds the ref; answer [`companion_finish_result`] at once (the real
//!    server acknowledges the bundle before the phone opens it), then
//!    [`primary_finish`]. On success the phone knows the companion identity
//!    and the ADV secret: go on with `pair-success` as for a QR scan, its
//!    HMAC keyed by [`PairCodeLinked::adv_secret`]. On
//!    [`SimPairCodeError::BundleRejected`] (the usual sign of a mistyped
//!    code) the real phone tells the companion nothing: send nothing.
//!
//! Protocol facts: wacore-0.7.0 `src/pair_code.rs` (whatsapp-rust) and
//! whatsmeow `pair-code.go`, which describe the companion; the phone does
//! the mirror image of each step.

mod code;
mod error;
mod primary;
mod stanzas;

#[cfg(test)]
mod fixtures;

pub use code::check_code;
pub use error::SimPairCodeError;
pub use primary::{primary_finish, primary_hello, PairCodeLinked, PrimaryPending};
pub use stanzas::{
    companion_finish_result, companion_hello_result, companion_reg_stage, new_link_ref,
    parse_companion_finish, parse_companion_hello, CompanionFinishRequest, CompanionHelloRequest,
};
