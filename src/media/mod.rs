//! Media files as WhatsApp encrypts them: each file under its own random
//! 32-byte key, expanded per kind of media into an IV, an AES-256-CBC key
//! and an HMAC-SHA256 key; the upload is the ciphertext followed by the
//! first 10 bytes of the MAC over IV ‖ ciphertext (whatsmeow `upload.go`
//! and `download.go`, Baileys `messages-media.ts`).
//!
//! Owns: the kinds of media and their key labels (`kind`), the key
//! expansion (`keys`), streaming encryption with the two hashes a message
//! carries (`encrypt`) and streaming verification and decryption
//! (`decrypt`), the media messages that point at a file (`message`:
//! the five protobufs read into one shape and written from it), and what
//! a message says of its file besides: an image's size and thumbnail
//! (`preview`), a voice note's duration (`ogg`) and waveform
//! (`waveform`); and the sealed request and answer that ask the phone to
//! upload an expired file again (`retry`). Must not touch: sockets, files, processes, the media
//! hosts or the messages' delivery (that is `client` and `host`). Pure: every
//! step takes bytes and returns bytes, in pieces of any size, so a file of
//! any length passes through a fixed buffer.

mod decrypt;
mod encrypt;
mod keys;
mod kind;
mod message;
mod ogg;
mod preview;
mod retry;
mod waveform;

pub use decrypt::{decrypt, Decryptor, MediaError, Verifier};
pub use encrypt::{encrypt, encrypted_len, Encrypted, Encryptor, MAC_LEN};
pub use keys::{MediaKey, MediaKeys};
pub use kind::MediaKind;
pub use message::MediaMessage;
pub use ogg::OpusDuration;
pub use preview::{image_preview, ImagePreview, MAX_DECODE_BYTES, THUMBNAIL_SIDE};
pub use retry::{
    open_answer, open_request, seal_answer, seal_request, RetryError, RetryOutcome, Sealed,
    RETRY_IV_LEN,
};
pub use waveform::{Waveform, BARS as WAVEFORM_BARS};
