//! The linking code itself: what the phone's user may type, and the
//! PBKDF2-keyed AES-CTR wrapping of an ephemeral key under it.
//!
//! Owns: the code alphabet, its canonical form and the key wrapping
//! (wacore `CROCKFORD_ALPHABET`, `PAIR_CODE_PBKDF2_ITERATIONS`; whatsmeow
//! `linkingBase32`, `pair-code.go`). Must not touch: stanzas or the key
//! bundle (`stanzas`, `primary`).

use aes::cipher::{KeyIvInit, StreamCipher};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

use super::error::SimPairCodeError;

/// Characters a linking code may contain (Crockford base32 minus 0 I O U).
/// Source: wacore `CROCKFORD_ALPHABET`, whatsmeow `linkingBase32`.
const LINK_CODE_CHARS: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// Source: wacore `PAIR_CODE_PBKDF2_ITERATIONS`, whatsmeow `2<<16`.
const CODE_KDF_ROUNDS: u32 = 131_072;
/// salt 32 ‖ CTR IV 16 ‖ key 32. Source: wacore, whatsmeow.
pub(super) const WRAPPED_KEY_LEN: usize = 80;

/// Whether what the phone's user typed can be a linking code at all
/// (checked before any key derivation).
pub fn check_code(typed: &str) -> Result<(), SimPairCodeError> {
    canonical_code(typed).map(drop)
}

/// Upper-cases what the phone's user typed and drops `-` and spaces.
pub(super) fn canonical_code(typed: &str) -> Result<String, SimPairCodeError> {
    let mut code = String::with_capacity(8);
    for c in typed.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let upper = c.to_ascii_uppercase();
        if !upper.is_ascii() || !LINK_CODE_CHARS.contains(&(upper as u8)) || code.len() == 8 {
            return Err(SimPairCodeError::BadCode);
        }
        code.push(upper);
    }
    if code.len() != 8 {
        return Err(SimPairCodeError::BadCode);
    }
    Ok(code)
}

fn code_cipher(code: &str, salt: &[u8; 32], iv: &[u8; 16]) -> ctr::Ctr128BE<aes::Aes256> {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(code.as_bytes(), salt, CODE_KDF_ROUNDS, &mut key);
    ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &(*iv).into())
}

/// `salt ‖ iv ‖ AES-256-CTR(PBKDF2(code, salt), iv, public)`.
pub(super) fn seal_with_code(code: &str, public: &[u8; 32]) -> [u8; WRAPPED_KEY_LEN] {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    let mut sealed = *public;
    code_cipher(code, &salt, &iv).apply_keystream(&mut sealed);
    let mut out = [0u8; WRAPPED_KEY_LEN];
    out[..32].copy_from_slice(&salt);
    out[32..48].copy_from_slice(&iv);
    out[48..].copy_from_slice(&sealed);
    out
}

pub(super) fn open_with_code(code: &str, wrapped: &[u8; WRAPPED_KEY_LEN]) -> [u8; 32] {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    let mut public = [0u8; 32];
    salt.copy_from_slice(&wrapped[..32]);
    iv.copy_from_slice(&wrapped[32..48]);
    public.copy_from_slice(&wrapped[48..]);
    code_cipher(code, &salt, &iv).apply_keystream(&mut public);
    public
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;

    #[test]
    fn codes_typed_on_the_phone_are_canonicalized() {
        assert_eq!(canonical_code("abcd-efgh").unwrap(), "ABCDEFGH");
        for bad in [
            "ABCDEFG",
            "ABCDEFGHJ",
            "ABCD0EFG",
            "ABCDIEFG",
            "ÄBCDEFGH",
            "",
        ] {
            assert_eq!(
                canonical_code(bad),
                Err(SimPairCodeError::BadCode),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn code_wrapping_round_trips() {
        let public = KeyPair::generate().public;
        let sealed = seal_with_code("ZZZZ1111", &public);
        assert_eq!(open_with_code("ZZZZ1111", &sealed), public);
    }
}
