//! Curve25519 key pairs used for Noise, Signal identity and prekeys.

use rand::rngs::OsRng;
use x25519_dalek::{PublicKey, StaticSecret};

/// An X25519 key pair. The private half is a clamped scalar; the same key
/// pair signs with XEdDSA (see [`super::xeddsa_sign`]).
#[derive(Clone)]
pub struct KeyPair {
    pub private: [u8; 32],
    pub public: [u8; 32],
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        let secret = StaticSecret::random_from_rng(OsRng);
        Self::from_secret(secret)
    }

    /// Rebuilds a key pair from a stored private key.
    pub fn from_private(private: [u8; 32]) -> Self {
        Self::from_secret(StaticSecret::from(private))
    }

    /// Rebuilds a key pair from both stored halves without the scalar
    /// multiplication (for records written by us and loaded per message).
    pub fn from_parts(private: [u8; 32], public: [u8; 32]) -> Self {
        KeyPair { private, public }
    }

    fn from_secret(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret);
        KeyPair {
            private: secret.to_bytes(),
            public: public.to_bytes(),
        }
    }

    /// X25519 Diffie-Hellman with a peer's public key.
    pub fn dh(&self, their_public: &[u8; 32]) -> [u8; 32] {
        super::x25519::x25519(&self.private, their_public)
    }

    /// XEdDSA signature over `message` with this key pair.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        super::xeddsa_sign(&self.private, message)
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private keys.
        f.debug_struct("KeyPair")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}
