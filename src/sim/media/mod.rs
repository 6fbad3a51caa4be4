//! The simulated media servers ("mmg"): `media_conn` hands a companion
//! the host and an upload token; uploads are stored by the hash they are
//! named by and served back at the direct path the upload answered with,
//! until they expire.
//!
//! Owns: the stored blobs, the upload tokens, the HTTP routes (`routes`).
//! Must not touch: messages (a blob is bytes; only clients know its key),
//! the world's tables (media has its own lock, so a 50 MB upload never
//! holds up message routing).
//!
//! Shapes: whatsmeow `mediaconn.go` and `upload.go` (the upload URL and
//! its JSON answer), `download.go` (the download URL), wacore
//! `iq/mediaconn.rs`.

pub(crate) mod routes;
mod store;

pub(crate) use store::{MediaStore, AUTH_TTL_SECS};
