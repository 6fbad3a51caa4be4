//! Streaming encryption: plaintext in pieces of any size, ciphertext out
//! block by block, the MAC and both hashes computed on the way, so a file
//! of any length needs one 16-byte block of state.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes256;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::keys::{MediaKey, MediaKeys};
use super::kind::MediaKind;

/// Bytes of the truncated MAC that ends every uploaded file.
pub const MAC_LEN: usize = 10;

/// The size of the upload for a plaintext of `len` bytes: PKCS#7 pads to
/// the next whole block (a full block when already aligned), then the MAC.
pub const fn encrypted_len(len: u64) -> u64 {
    (len / 16 + 1) * 16 + MAC_LEN as u64
}

/// What a message says of an encrypted file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    pub media_key: MediaKey,
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of the upload, ciphertext and MAC (`fileEncSha256`).
    pub file_enc_sha256: [u8; 32],
    /// The plaintext's length (`fileLength`).
    pub file_length: u64,
}

/// Encrypts one file.
pub struct Encryptor {
    media_key: MediaKey,
    cipher: Aes256,
    /// The previous ciphertext block (the IV at first): CBC chaining.
    chain: [u8; 16],
    /// Plaintext short of a whole block.
    pending: [u8; 16],
    pending_len: usize,
    mac: Hmac<Sha256>,
    plain_hash: Sha256,
    enc_hash: Sha256,
    length: u64,
}

impl Encryptor {
    /// A file of kind `kind` under a fresh random key.
    pub fn new(kind: MediaKind) -> Encryptor {
        Encryptor::with_key(MediaKeys::generate_key(), kind)
    }

    /// A file of kind `kind` under `media_key`.
    pub fn with_key(media_key: MediaKey, kind: MediaKind) -> Encryptor {
        let keys = MediaKeys::expand(&media_key, kind);
        let mut mac = new_mac(&keys.mac_key);
        mac.update(&keys.iv);
        Encryptor {
            media_key,
            cipher: Aes256::new(GenericArray::from_slice(&keys.cipher_key)),
            chain: keys.iv,
            pending: [0; 16],
            pending_len: 0,
            mac,
            plain_hash: Sha256::new(),
            enc_hash: Sha256::new(),
            length: 0,
        }
    }

    /// Encrypts `plaintext`, appending whole ciphertext blocks to `out`.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) {
        self.plain_hash.update(plaintext);
        self.length += plaintext.len() as u64;
        while !plaintext.is_empty() {
            let take = (16 - self.pending_len).min(plaintext.len());
            self.pending[self.pending_len..self.pending_len + take]
                .copy_from_slice(&plaintext[..take]);
            self.pending_len += take;
            plaintext = &plaintext[take..];
            if self.pending_len == 16 {
                let block = self.pending;
                self.encrypt_block(block, out);
                self.pending_len = 0;
            }
        }
    }

    /// Pads and encrypts the last block, appends the MAC to `out` and
    /// returns what the message needs.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Encrypted {
        // PKCS#7: a whole block of padding when the plaintext is aligned.
        let pad = 16 - self.pending_len;
        let mut block = self.pending;
        block[self.pending_len..].fill(pad as u8);
        self.encrypt_block(block, out);
        let mac = self.mac.finalize().into_bytes();
        let tag = &mac[..MAC_LEN];
        self.enc_hash.update(tag);
        out.extend_from_slice(tag);
        Encrypted {
            media_key: self.media_key,
            file_sha256: self.plain_hash.finalize().into(),
            file_enc_sha256: self.enc_hash.finalize().into(),
            file_length: self.length,
        }
    }

    fn encrypt_block(&mut self, mut block: [u8; 16], out: &mut Vec<u8>) {
        for (b, c) in block.iter_mut().zip(self.chain) {
            *b ^= c;
        }
        let mut ga = GenericArray::from(block);
        self.cipher.encrypt_block(&mut ga);
        self.chain = ga.into();
        self.mac.update(&self.chain);
        self.enc_hash.update(self.chain);
        out.extend_from_slice(&self.chain);
    }
}

pub(super) fn new_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// Encrypts a whole file held in memory: the upload and what the message
/// says of it.
pub fn encrypt(plaintext: &[u8], kind: MediaKind) -> (Vec<u8>, Encrypted) {
    let mut encryptor = Encryptor::new(kind);
    let mut out = Vec::with_capacity(encrypted_len(plaintext.len() as u64) as usize);
    encryptor.update(plaintext, &mut out);
    let info = encryptor.finish(&mut out);
    (out, info)
}
