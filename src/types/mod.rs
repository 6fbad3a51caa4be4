//! The vocabulary every layer shares: JIDs, device addresses, phone
//! numbers, message ids, WhatsApp's server names, the clock, and
//! certificate authorities read from PEM.
//!
//! Owns: what these values are, how they parse and how they print.
//! Must not touch: I/O of any kind, the binary wire form of a JID (that is
//! `wire::binary`), what a stanza means.
//!
//! Everything above uses these types instead of strings: a JID is parsed
//! once, where it enters (a stanza attribute, an API field), and printed
//! once, where it leaves.

pub mod clock;
mod device;
mod jid;
mod message_id;
pub mod pem;
mod phone;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use device::DeviceAddress;
pub use jid::{write_canonical as jid_text, Jid, JidError, JidRef, Server, STATUS_BROADCAST_USER};
pub use message_id::MessageId;
pub use phone::{PhoneError, PhoneNumber};
