//! The simulated phones as Signal participants: they encrypt, decrypt,
//! keep sessions, send texts and receipts, answer retry receipts and send
//! each new companion the account's app-state key share.
//!
//! Owns: the phones' behaviour (their data lives in `state`). Must not
//! touch: companions' traffic beyond handing them copies (`routing`
//! routes what companions send), sockets.
//!
//! Files: `send` (texts and read receipts the admin API orders),
//! `send_media` (a file, put on the media hosts, and its message),
//! `outgoing` (a message and its copy stanza), `deliver` (one copy to
//! one device), `inbox` (a phone receives a copy; `decrypt`), `group_inbox` and
//! `group_send` (group texts and the phone's sender keys),
//! `receipts` (a phone receives a receipt; retries), `encrypt`,
//! `key_share`, `lid_sync` (the contacts' LIDs pushed to the companions),
//! `history_sync` (a history chunk with those LIDs, uploaded, announced),
//! `media_retry` (an expired file uploaded again for a companion),
//! `admin` (inbox and receipts listed, reinstall).

pub(crate) mod admin;
pub(crate) mod content;
pub(crate) mod decrypt;
pub(crate) mod deliver;
pub(crate) mod encrypt;
pub(crate) mod group_inbox;
pub(crate) mod group_send;
pub(crate) mod history_sync;
pub(crate) mod inbox;
pub(crate) mod key_share;
pub(crate) mod lid_sync;
pub(crate) mod media_retry;
pub(crate) mod outgoing;
pub(crate) mod receipts;
pub(crate) mod send;
pub(crate) mod send_media;
