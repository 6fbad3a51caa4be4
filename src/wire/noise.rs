//! Noise_XX_25519_AESGCM_SHA256 as WhatsApp uses it.
//!
//! The handshake state (chaining key, hash, AES-GCM key with its counter)
//! and the two transport ciphers it splits into. The prologue is the
//! connection header.
//!
//! WhatsApp's flavour, checked against wacore-noise 0.7 (`state.rs`) and
//! whatsmeow (`socket/noisehandshake.go`):
//! - h = ck = the 32-byte protocol name (it is exactly HASHLEN, so it is
//!   used as is, not hashed), then MixHash(prologue = [`WA_HEADER`]).
//! - MixKey(ikm): HKDF-SHA256(salt = ck, ikm, info = "") → 64 bytes; the
//!   first 32 are the new ck, the last 32 the new AES-256-GCM key; the
//!   nonce counter restarts at 0.
//! - Nonce: 12 bytes = 8 zero bytes ‖ 32-bit big-endian counter.
//! - Handshake AEAD associated data = h; transport AD = empty.
//! - Split: HKDF(salt = ck, ikm = "") → first 32 bytes encrypt
//!   initiator→responder, last 32 bytes responder→initiator.
//!
//! Keys are stored as 32 raw bytes and the AES key schedule is rebuilt per
//! message: an expanded AES-GCM context costs ~1 KiB, and with thousands of
//! idle connections memory matters more than a sub-microsecond per frame.
//!
//! [`WA_HEADER`]: super::frame::WA_HEADER

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use sha2::{Digest, Sha256};

use crate::crypto::hkdf_sha256;

/// The protocol name, NUL-padded to 32 bytes so it is used as the initial
/// hash directly (WhatsApp Web; whatsmeow `socket.NoiseStartPattern`).
pub const NOISE_XX_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// The XXfallback protocol name (wacore-binary 0.7 `NOISE_PATTERN_XXFALLBACK`;
/// whatsmeow `NoiseXXFallbackStartPattern`). It is longer than 32 bytes, so
/// its SHA-256 is the initial hash. A server that declines a client's Noise
/// IK resume answers with an XX-shaped ServerHello under this name.
pub const NOISE_XX_FALLBACK_NAME: &[u8] = b"Noise_XXfallback_25519_AESGCM_SHA256";

/// Length of the AES-GCM authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoiseError {
    #[error("decryption failed (bad key, counter or tampered ciphertext)")]
    Decrypt,
    #[error("message counter exhausted")]
    CounterExhausted,
    #[error("no key established yet")]
    NoKey,
    #[error("encryption failed (message too long for AES-GCM)")]
    Encrypt,
}

/// Symmetric handshake state shared by both roles.
pub struct HandshakeState {
    /// Transcript hash `h`.
    hash: [u8; 32],
    /// Chaining key `ck` (wacore/whatsmeow call it the salt).
    chaining_key: [u8; 32],
    /// None until the first MixKey: WhatsApp never encrypts before one.
    cipher: Option<CipherState>,
}

impl HandshakeState {
    /// Starts a handshake: h = ck = protocol name, then mixes the prologue.
    pub fn new(prologue: &[u8]) -> Self {
        Self::with_protocol_name(NOISE_XX_NAME, prologue)
    }

    /// Starts a handshake under another protocol name (XXfallback). Per
    /// Noise §5.2 a name of at most 32 bytes is zero-padded, a longer one
    /// is hashed.
    pub fn with_protocol_name(name: &[u8], prologue: &[u8]) -> Self {
        let mut initial = [0u8; 32];
        match initial.get_mut(..name.len()) {
            Some(prefix) => prefix.copy_from_slice(name),
            None => initial = Sha256::digest(name).into(),
        }
        let mut state = HandshakeState {
            hash: initial,
            chaining_key: initial,
            cipher: None,
        };
        state.mix_hash(prologue);
        state
    }

    /// h = SHA-256(h ‖ data).
    pub fn mix_hash(&mut self, data: &[u8]) {
        self.hash = Sha256::new()
            .chain_update(self.hash)
            .chain_update(data)
            .finalize()
            .into();
    }

    /// (ck, k) = HKDF(ck, ikm); the nonce counter restarts.
    pub fn mix_key(&mut self, input_key_material: &[u8]) {
        let okm: [u8; 64] = hkdf_sha256(input_key_material, &self.chaining_key, &[]);
        let (ck, key) = split_halves(&okm);
        self.chaining_key = ck;
        self.cipher = Some(CipherState::new(key));
    }

    /// Encrypts with AD = h, then mixes the ciphertext into h.
    pub fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let cipher = self.cipher.as_mut().ok_or(NoiseError::NoKey)?;
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        cipher.seal_append(&self.hash, plaintext, &mut out)?;
        self.mix_hash(&out);
        Ok(out)
    }

    /// Decrypts with AD = h, then mixes the ciphertext into h.
    pub fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let cipher = self.cipher.as_mut().ok_or(NoiseError::NoKey)?;
        let mut buf = ciphertext.to_vec();
        cipher.open_in_place(&self.hash, &mut buf)?;
        self.mix_hash(ciphertext);
        Ok(buf)
    }

    /// The current transcript hash (for tests and channel binding).
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Splits into (initiator-to-responder, responder-to-initiator) ciphers.
    pub fn split(self) -> (CipherState, CipherState) {
        let okm: [u8; 64] = hkdf_sha256(&[], &self.chaining_key, &[]);
        let (initiator_to_responder, responder_to_initiator) = split_halves(&okm);
        (
            CipherState::new(initiator_to_responder),
            CipherState::new(responder_to_initiator),
        )
    }
}

fn split_halves(okm: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}

/// One direction of the transport: AES-256-GCM with a 32-bit counter nonce.
pub struct CipherState {
    key: [u8; 32],
    /// The nonce of the next message.
    counter: u32,
}

impl CipherState {
    /// A cipher with this key, counter at 0.
    pub fn new(key: [u8; 32]) -> Self {
        CipherState { key, counter: 0 }
    }

    /// Encrypts one transport message (AD empty).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        self.seal_append(&[], plaintext, &mut out)?;
        Ok(out)
    }

    /// Encrypts one transport message and appends ciphertext ‖ tag to
    /// `out`, so a caller can build a whole frame in one allocation.
    pub fn encrypt_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        self.seal_append(&[], plaintext, out)
    }

    /// Decrypts one transport message (AD empty).
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut buf = ciphertext.to_vec();
        self.open_in_place(&[], &mut buf)?;
        Ok(buf)
    }

    /// Decrypts one transport message in place: on success `buf` holds the
    /// plaintext (the tag is cut off).
    pub fn decrypt_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), NoiseError> {
        self.open_in_place(&[], buf)
    }

    /// Takes the nonce for the next message; a counter is never reused.
    fn next_nonce(&mut self) -> Result<[u8; 12], NoiseError> {
        let counter = self.counter;
        self.counter = counter.checked_add(1).ok_or(NoiseError::CounterExhausted)?;
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&counter.to_be_bytes());
        Ok(nonce)
    }

    fn aead(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }

    fn seal_append(
        &mut self,
        ad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), NoiseError> {
        let nonce = self.next_nonce()?;
        let start = out.len();
        out.reserve(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let body = out.get_mut(start..).ok_or(NoiseError::Encrypt)?;
        let tag = self
            .aead()
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), ad, body)
            .map_err(|_| NoiseError::Encrypt)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    fn open_in_place(&mut self, ad: &[u8], buf: &mut Vec<u8>) -> Result<(), NoiseError> {
        let nonce = self.next_nonce()?;
        let body_len = buf.len().checked_sub(TAG_LEN).ok_or(NoiseError::Decrypt)?;
        let (body, tag) = buf.split_at_mut(body_len);
        let tag = Tag::clone_from_slice(tag);
        self.aead()
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), ad, body, &tag)
            .map_err(|_| NoiseError::Decrypt)?;
        buf.truncate(body_len);
        Ok(())
    }

    /// The counter of the next message (for tests).
    #[cfg(test)]
    pub(crate) fn counter(&self) -> u32 {
        self.counter
    }

    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, counter: u32) {
        self.counter = counter;
    }
}

impl std::fmt::Debug for CipherState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys.
        f.debug_struct("CipherState")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;
    use crate::wire::frame::WA_HEADER;

    #[test]
    fn initial_hash_is_name_then_prologue() {
        let hs = HandshakeState::new(&WA_HEADER);
        let expected: [u8; 32] = Sha256::new()
            .chain_update(NOISE_XX_NAME)
            .chain_update(WA_HEADER)
            .finalize()
            .into();
        assert_eq!(hs.handshake_hash(), &expected);
        assert_eq!(hs.chaining_key, *NOISE_XX_NAME);
    }

    #[test]
    fn encrypt_before_mix_key_is_an_error() {
        let mut hs = HandshakeState::new(&WA_HEADER);
        assert_eq!(hs.encrypt_and_hash(b"x"), Err(NoiseError::NoKey));
        assert_eq!(hs.decrypt_and_hash(&[0; 16]), Err(NoiseError::NoKey));
    }

    #[test]
    fn mix_key_matches_hkdf_layout_and_nonce_layout() {
        let mut hs = HandshakeState::new(&WA_HEADER);
        let ikm = [0x42u8; 32];
        let ck0 = hs.chaining_key;
        let h0 = *hs.handshake_hash();
        hs.mix_key(&ikm);
        let okm: [u8; 64] = hkdf_sha256(&ikm, &ck0, &[]);
        assert_eq!(hs.chaining_key[..], okm[..32]);
        // First message: nonce 0, AD = h; check against a direct AES-GCM.
        let ct = hs.encrypt_and_hash(b"payload").unwrap();
        let aead = Aes256Gcm::new_from_slice(&okm[32..]).unwrap();
        let mut expected = b"payload".to_vec();
        aead.encrypt_in_place(Nonce::from_slice(&[0u8; 12]), &h0, &mut expected)
            .unwrap();
        assert_eq!(ct, expected);
        // Second message uses nonce ...0001 and the updated h as AD.
        let h1 = *hs.handshake_hash();
        let ct2 = hs.encrypt_and_hash(b"again").unwrap();
        let mut expected2 = b"again".to_vec();
        let mut nonce = [0u8; 12];
        nonce[11] = 1;
        aead.encrypt_in_place(Nonce::from_slice(&nonce), &h1, &mut expected2)
            .unwrap();
        assert_eq!(ct2, expected2);
    }

    /// Drives both roles of XX by hand and checks they agree on everything.
    #[test]
    fn xx_roles_agree_and_split_in_order() {
        let client_static = KeyPair::generate();
        let server_static = KeyPair::generate();
        let ce = KeyPair::generate();
        let se = KeyPair::generate();

        let mut c = HandshakeState::new(&WA_HEADER);
        let mut s = HandshakeState::new(&WA_HEADER);
        c.mix_hash(&ce.public);
        s.mix_hash(&ce.public);

        s.mix_hash(&se.public);
        s.mix_key(&se.dh(&ce.public));
        let static_ct = s.encrypt_and_hash(&server_static.public).unwrap();
        s.mix_key(&server_static.dh(&ce.public));
        let cert_ct = s.encrypt_and_hash(b"cert").unwrap();

        c.mix_hash(&se.public);
        c.mix_key(&ce.dh(&se.public));
        assert_eq!(
            c.decrypt_and_hash(&static_ct).unwrap(),
            server_static.public
        );
        c.mix_key(&ce.dh(&server_static.public));
        assert_eq!(c.decrypt_and_hash(&cert_ct).unwrap(), b"cert");
        let cs_ct = c.encrypt_and_hash(&client_static.public).unwrap();
        c.mix_key(&client_static.dh(&se.public));
        let payload_ct = c.encrypt_and_hash(b"payload").unwrap();

        assert_eq!(s.decrypt_and_hash(&cs_ct).unwrap(), client_static.public);
        s.mix_key(&se.dh(&client_static.public));
        assert_eq!(s.decrypt_and_hash(&payload_ct).unwrap(), b"payload");
        assert_eq!(c.handshake_hash(), s.handshake_hash());

        let ck = c.chaining_key;
        let (mut c_send, mut c_recv) = c.split();
        let (mut s_recv, mut s_send) = s.split();
        let okm: [u8; 64] = hkdf_sha256(&[], &ck, &[]);
        assert_eq!(c_send.key[..], okm[..32]);
        assert_eq!(c_recv.key[..], okm[32..]);

        for i in 0..3u8 {
            let m = s_recv.decrypt(&c_send.encrypt(&[i; 5]).unwrap()).unwrap();
            assert_eq!(m, [i; 5]);
            let m = c_recv.decrypt(&s_send.encrypt(&[i; 7]).unwrap()).unwrap();
            assert_eq!(m, [i; 7]);
        }
        assert_eq!(c_send.counter(), 3);
    }

    #[test]
    fn transport_rejects_tamper_replay_and_short_input() {
        let key = [9u8; 32];
        let mut tx = CipherState::new(key);
        let mut rx = CipherState::new(key);
        let ct = tx.encrypt(b"hello").unwrap();
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(rx.decrypt(&bad), Err(NoiseError::Decrypt));
        // The failed attempt consumed nonce 0; the genuine message no longer
        // matches (a decrypt failure is fatal for a connection anyway).
        assert_eq!(rx.decrypt(&ct), Err(NoiseError::Decrypt));
        let mut rx = CipherState::new(key);
        assert_eq!(rx.decrypt(&[0u8; 15]), Err(NoiseError::Decrypt));
        assert_eq!(rx.decrypt(&[]), Err(NoiseError::Decrypt));
    }

    #[test]
    fn counter_exhaustion_is_an_error_not_a_wrap() {
        let mut tx = CipherState::new([1u8; 32]);
        tx.set_counter(u32::MAX);
        assert_eq!(tx.encrypt(b"x"), Err(NoiseError::CounterExhausted));
    }

    #[test]
    fn encrypt_into_appends() {
        let mut a = CipherState::new([3u8; 32]);
        let mut b = CipherState::new([3u8; 32]);
        let mut out = vec![0xAA, 0xBB];
        a.encrypt_into(b"data", &mut out).unwrap();
        assert_eq!(out[..2], [0xAA, 0xBB]);
        assert_eq!(out[2..], b.encrypt(b"data").unwrap()[..]);
        let mut rx = CipherState::new([3u8; 32]);
        let mut buf = out[2..].to_vec();
        rx.decrypt_in_place(&mut buf).unwrap();
        assert_eq!(buf, b"data");
    }
}
