//! Noise_XX_25519_AESGCM_SHA256 as WhatsApp uses it.
//!
//! The handshake state (chaining key, hash, AES-GCM key with its counter)
//! and the two transport ciphers it splits into. The prologue is the
//! connection header.

/// The protocol name, NUL-padded to 32 bytes so it is used as the initial
/// hash directly (WhatsApp Web; whatsmeow `socket.NoiseStartPattern`).
pub const NOISE_XX_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoiseError {
    #[error("decryption failed (bad key, counter or tampered ciphertext)")]
    Decrypt,
    #[error("message counter exhausted")]
    CounterExhausted,
    #[error("no key established yet")]
    NoKey,
}

/// Symmetric handshake state shared by both roles.
pub struct HandshakeState {}

impl HandshakeState {
    /// Starts a handshake: h = ck = protocol name, then mixes the prologue.
    pub fn new(prologue: &[u8]) -> Self {
        let _ = prologue;
        todo!()
    }
    pub fn mix_hash(&mut self, data: &[u8]) {
        let _ = data;
        todo!()
    }
    pub fn mix_key(&mut self, input_key_material: &[u8]) {
        let _ = input_key_material;
        todo!()
    }
    pub fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let _ = plaintext;
        todo!()
    }
    pub fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let _ = ciphertext;
        todo!()
    }
    /// Splits into (initiator-to-responder, responder-to-initiator) ciphers.
    pub fn split(self) -> (CipherState, CipherState) {
        todo!()
    }
}

/// One direction of the transport: AES-256-GCM with a 32-bit counter nonce.
pub struct CipherState {}

impl CipherState {
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let _ = plaintext;
        todo!()
    }
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let _ = ciphertext;
        todo!()
    }
}
