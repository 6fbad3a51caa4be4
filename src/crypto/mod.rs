//! Cryptographic primitives shared by every layer.
//!
//! Owns: Curve25519 key pairs (X25519 Diffie-Hellman), XEdDSA signatures
//! over those same keys, and tiny HKDF / HMAC helpers.
//! Must not touch: sockets, files, protocol state. Pure functions only.

mod keys;
mod x25519;
mod xeddsa;

pub use keys::KeyPair;
pub use xeddsa::{xeddsa_sign, xeddsa_verify};

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HKDF-SHA256 expanding `ikm` to `N` bytes.
pub fn hkdf_sha256<const N: usize>(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; N] {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = [0u8; N];
    // N is a compile-time constant well under HKDF's 255*32 byte limit.
    #[allow(clippy::expect_used)]
    hk.expand(info, &mut out)
        .expect("HKDF output length is within the SHA-256 limit");
    out
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in data {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}
