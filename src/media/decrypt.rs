//! Streaming verification and decryption of a downloaded file.
//!
//! A download is checked before any of its plaintext is used: the
//! [`Verifier`] reads the whole upload (ciphertext ‖ MAC) and checks the
//! MAC and the encrypted hash; only then does the [`Decryptor`] read it
//! again and hand out plaintext, checking the padding and the plaintext
//! hash at the end. Both hold back the trailing MAC as it streams past,
//! so either can be fed the file exactly as downloaded, in any pieces.

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use aes::Aes256;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::encrypt::{new_mac, MAC_LEN};
use super::keys::{MediaKey, MediaKeys};
use super::kind::MediaKind;

/// Why a downloaded file is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("the file's length ({0} bytes) is not whole blocks plus a MAC")]
    BadLength(u64),
    #[error("the file's MAC does not match: damaged, or not encrypted under this key")]
    BadMac,
    #[error("the file's SHA-256 does not match the message's fileEncSha256")]
    EncHashMismatch,
    #[error("the decrypted file's padding is invalid")]
    BadPadding,
    #[error("the decrypted file's SHA-256 does not match the message's fileSha256")]
    HashMismatch,
}

/// Keeps the last [`MAC_LEN`] bytes of a stream back: what passes is the
/// ciphertext, what stays is the MAC once the stream ends.
#[derive(Default)]
struct TailHold {
    tail: Vec<u8>,
}

impl TailHold {
    /// Takes `chunk`; calls `pass` with the bytes now known not to be the
    /// MAC.
    fn push(&mut self, chunk: &[u8], mut pass: impl FnMut(&[u8])) {
        if chunk.len() >= MAC_LEN {
            pass(&self.tail);
            let (body, tail) = chunk.split_at(chunk.len() - MAC_LEN);
            pass(body);
            self.tail.clear();
            self.tail.extend_from_slice(tail);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > MAC_LEN {
                let cut = self.tail.len() - MAC_LEN;
                pass(&self.tail[..cut]);
                self.tail.drain(..cut);
            }
        }
    }
}

/// Checks an upload's MAC and hash without decrypting it.
pub struct Verifier {
    mac: Hmac<Sha256>,
    enc_hash: Sha256,
    hold: TailHold,
    length: u64,
}

impl Verifier {
    pub fn new(media_key: &MediaKey, kind: MediaKind) -> Verifier {
        let keys = MediaKeys::expand(media_key, kind);
        let mut mac = new_mac(&keys.mac_key);
        mac.update(&keys.iv);
        Verifier {
            mac,
            enc_hash: Sha256::new(),
            hold: TailHold::default(),
            length: 0,
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.enc_hash.update(chunk);
        self.length += chunk.len() as u64;
        let mac = &mut self.mac;
        self.hold.push(chunk, |body| mac.update(body));
    }

    /// Whether the whole upload was intact: its MAC, and its hash when the
    /// message gave one.
    pub fn finish(self, file_enc_sha256: Option<&[u8]>) -> Result<(), MediaError> {
        let body = self.length.saturating_sub(MAC_LEN as u64);
        if self.length < (MAC_LEN + 16) as u64 || body % 16 != 0 {
            return Err(MediaError::BadLength(self.length));
        }
        let mac = self.mac.finalize().into_bytes();
        if !bool::from(mac[..MAC_LEN].ct_eq(&self.hold.tail)) {
            return Err(MediaError::BadMac);
        }
        if let Some(expected) = file_enc_sha256 {
            if self.enc_hash.finalize().as_slice() != expected {
                return Err(MediaError::EncHashMismatch);
            }
        }
        Ok(())
    }
}

/// Decrypts an upload already checked by a [`Verifier`].
pub struct Decryptor {
    cipher: Aes256,
    chain: [u8; 16],
    hold: TailHold,
    /// Ciphertext short of a whole block.
    pending: Vec<u8>,
    /// The last decrypted block, held until the stream ends: it carries
    /// the padding.
    last: Option<[u8; 16]>,
    plain_hash: Sha256,
}

impl Decryptor {
    pub fn new(media_key: &MediaKey, kind: MediaKind) -> Decryptor {
        let keys = MediaKeys::expand(media_key, kind);
        Decryptor {
            cipher: Aes256::new(GenericArray::from_slice(&keys.cipher_key)),
            chain: keys.iv,
            hold: TailHold::default(),
            pending: Vec::with_capacity(16),
            last: None,
            plain_hash: Sha256::new(),
        }
    }

    /// Decrypts `chunk` of the upload, appending plaintext to `out`.
    pub fn update(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut hold = std::mem::take(&mut self.hold);
        hold.push(chunk, |body| self.feed(body, out));
        self.hold = hold;
    }

    /// Decrypts ciphertext `body` (the MAC already held back).
    fn feed(&mut self, mut body: &[u8], out: &mut Vec<u8>) {
        while !body.is_empty() {
            let take = (16 - self.pending.len()).min(body.len());
            self.pending.extend_from_slice(&body[..take]);
            body = &body[take..];
            if self.pending.len() == 16 {
                let mut block = [0u8; 16];
                block.copy_from_slice(&self.pending);
                self.pending.clear();
                let plain = self.decrypt_block(block);
                if let Some(previous) = self.last.replace(plain) {
                    self.plain_hash.update(previous);
                    out.extend_from_slice(&previous);
                }
            }
        }
    }

    /// Strips the padding into `out` and checks the plaintext's hash when
    /// the message gave one.
    pub fn finish(
        mut self,
        out: &mut Vec<u8>,
        file_sha256: Option<&[u8]>,
    ) -> Result<(), MediaError> {
        if !self.pending.is_empty() {
            return Err(MediaError::BadLength(self.pending.len() as u64));
        }
        let last = self.last.ok_or(MediaError::BadLength(0))?;
        let pad = usize::from(last[15]);
        if pad == 0 || pad > 16 || last[16 - pad..].iter().any(|&b| usize::from(b) != pad) {
            return Err(MediaError::BadPadding);
        }
        self.plain_hash.update(&last[..16 - pad]);
        out.extend_from_slice(&last[..16 - pad]);
        if let Some(expected) = file_sha256 {
            if self.plain_hash.finalize().as_slice() != expected {
                return Err(MediaError::HashMismatch);
            }
        }
        Ok(())
    }

    fn decrypt_block(&mut self, block: [u8; 16]) -> [u8; 16] {
        let mut ga = GenericArray::from(block);
        self.cipher.decrypt_block(&mut ga);
        let mut plain: [u8; 16] = ga.into();
        for (p, c) in plain.iter_mut().zip(self.chain) {
            *p ^= c;
        }
        self.chain = block;
        plain
    }
}

/// Verifies and decrypts a whole upload held in memory.
pub fn decrypt(
    upload: &[u8],
    media_key: &MediaKey,
    kind: MediaKind,
    file_enc_sha256: Option<&[u8]>,
    file_sha256: Option<&[u8]>,
) -> Result<Vec<u8>, MediaError> {
    let mut verifier = Verifier::new(media_key, kind);
    verifier.update(upload);
    verifier.finish(file_enc_sha256)?;
    let mut decryptor = Decryptor::new(media_key, kind);
    let mut out = Vec::with_capacity(upload.len());
    decryptor.update(upload, &mut out);
    decryptor.finish(&mut out, file_sha256)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{encrypt, encrypted_len};

    #[test]
    fn every_size_round_trips_in_any_pieces() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 1000, 65_537] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let (upload, info) = encrypt(&plain, MediaKind::Document);
            assert_eq!(upload.len() as u64, encrypted_len(len as u64));
            assert_eq!(info.file_length, len as u64);
            let whole = decrypt(
                &upload,
                &info.media_key,
                MediaKind::Document,
                Some(&info.file_enc_sha256),
                Some(&info.file_sha256),
            )
            .unwrap();
            assert_eq!(whole, plain);
            // Fed in odd pieces (smaller than the MAC, across blocks).
            for piece in [1, 3, 9, 10, 11, 16, 17, 4096] {
                let mut verifier = Verifier::new(&info.media_key, MediaKind::Document);
                let mut decryptor = Decryptor::new(&info.media_key, MediaKind::Document);
                let mut out = Vec::new();
                for chunk in upload.chunks(piece) {
                    verifier.update(chunk);
                    decryptor.update(chunk, &mut out);
                }
                verifier.finish(Some(&info.file_enc_sha256)).unwrap();
                decryptor.finish(&mut out, Some(&info.file_sha256)).unwrap();
                assert_eq!(out, plain, "len {len}, pieces of {piece}");
            }
        }
    }

    #[test]
    fn tampering_truncation_and_wrong_keys_are_refused() {
        let plain = b"an invoice, as a PDF would be".repeat(40);
        let (upload, info) = encrypt(&plain, MediaKind::Image);
        let key = info.media_key;
        let check = |bytes: &[u8], kind: MediaKind| {
            decrypt(
                bytes,
                &key,
                kind,
                Some(&info.file_enc_sha256),
                Some(&info.file_sha256),
            )
        };
        let mut flipped = upload.clone();
        flipped[20] ^= 1;
        assert_eq!(check(&flipped, MediaKind::Image), Err(MediaError::BadMac));
        let mut bad_tag = upload.clone();
        let last = bad_tag.len() - 1;
        bad_tag[last] ^= 1;
        assert_eq!(check(&bad_tag, MediaKind::Image), Err(MediaError::BadMac));
        assert!(matches!(
            check(&upload[..upload.len() - 5], MediaKind::Image),
            Err(MediaError::BadLength(_))
        ));
        assert!(matches!(
            check(&upload[..16], MediaKind::Image),
            Err(MediaError::BadLength(_))
        ));
        assert!(matches!(
            check(&[], MediaKind::Image),
            Err(MediaError::BadLength(0))
        ));
        // Another kind's keys (a document's label) do not open an image.
        assert_eq!(check(&upload, MediaKind::Document), Err(MediaError::BadMac));
        // A sticker is an image to the keys.
        assert_eq!(check(&upload, MediaKind::Sticker).unwrap(), plain);
        // The message's hashes must match too.
        let wrong = [0u8; 32];
        assert_eq!(
            decrypt(&upload, &key, MediaKind::Image, Some(&wrong), None),
            Err(MediaError::EncHashMismatch)
        );
        assert_eq!(
            decrypt(&upload, &key, MediaKind::Image, None, Some(&wrong)),
            Err(MediaError::HashMismatch)
        );
    }
}
