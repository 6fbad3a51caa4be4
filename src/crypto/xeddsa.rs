//! XEdDSA: Ed25519-style signatures made with X25519 (Montgomery) keys.
//!
//! Spec: "The XEdDSA and VXEdDSA Signature Schemes", Signal, rev. 1, 2016.
//!
//! WhatsApp signs with the same Curve25519 keys it uses for Diffie-Hellman
//! (identity keys, signed prekeys, the Noise certificate chain), so we need
//! signatures over Montgomery keys. We follow the variant libsignal ships
//! (and WhatsApp therefore verifies), which differs from the paper in one
//! detail: the signer does not negate its scalar to force the Edwards sign
//! bit to 0; it keeps `A = a·B` as is and stores A's sign bit in the top bit
//! of signature byte 63 (always 0 in a reduced `s`). The verifier rebuilds A
//! from the Montgomery `u` with that sign bit. A paper-style signature (sign
//! bit 0) therefore verifies here too.
//!
//! Verification is strict where the paper says so and rejects anything
//! malformed instead of panicking: non-canonical `u`, `u` with no Edwards
//! point, small-order keys, non-canonical `s`, and any `R` whose encoding is
//! not exactly the recomputed one.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// `hash1` domain separator of the XEdDSA nonce: 0xFE then 31 × 0xFF
/// (XEdDSA spec §2.5, "hash_i" with i = 1).
const NONCE_HASH_PREFIX: [u8; 32] = {
    let mut prefix = [0xFF; 32];
    prefix[0] = 0xFE;
    prefix
};

/// Signs `message` with the X25519 private key `private`.
pub fn xeddsa_sign(private: &[u8; 32], message: &[u8]) -> [u8; 64] {
    // 64 random bytes of nonce entropy, as libsignal does (spec: Z).
    let mut random = [0u8; 64];
    OsRng.fill_bytes(&mut random);
    sign_with_randomness(private, message, &random)
}

/// The deterministic core of signing, separated so tests can pin `random`.
fn sign_with_randomness(private: &[u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    // X25519 clamps the private key when it multiplies; the Edwards public
    // key must come from the very same scalar so it maps to our `u`.
    let clamped = clamp_integer(*private);
    let a = Scalar::from_bytes_mod_order(clamped);
    let cap_a = EdwardsPoint::mul_base(&a).compress();
    let sign_bit = cap_a.as_bytes()[31] & 0x80;

    let r = Scalar::from_hash(
        Sha512::new()
            .chain_update(NONCE_HASH_PREFIX)
            .chain_update(clamped)
            .chain_update(message)
            .chain_update(random),
    );
    let cap_r = EdwardsPoint::mul_base(&r).compress();
    let h = challenge(cap_r.as_bytes(), cap_a.as_bytes(), message);
    let s = h * a + r;

    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(cap_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    // s < 2^253, so its top bit is free to carry A's sign bit.
    signature[63] |= sign_bit;
    signature
}

/// Verifies an XEdDSA `signature` over `message` by the X25519 public key
/// `public`. Returns false for any malformed key or signature.
pub fn xeddsa_verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    if !is_canonical_u(public) {
        return false;
    }
    let sign_bit = signature[63] >> 7;
    let Some(cap_a_point) = MontgomeryPoint(*public).to_edwards(sign_bit) else {
        return false;
    };
    // A small-order key is nobody's real key, and with it "valid"
    // signatures are trivial to forge.
    if cap_a_point.is_small_order() {
        return false;
    }

    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7F;
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };

    let cap_r_bytes = &signature[..32];
    let cap_a = cap_a_point.compress();
    let h = challenge(cap_r_bytes, cap_a.as_bytes(), message);
    // R' = s·B − h·A; the signature holds iff R' encodes to exactly R.
    let cap_r_check =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &-cap_a_point, &s).compress();
    bool::from(cap_r_check.as_bytes().ct_eq(cap_r_bytes))
}

/// h = SHA-512(R ‖ A ‖ M) mod ℓ.
fn challenge(cap_r: &[u8], cap_a: &[u8], message: &[u8]) -> Scalar {
    Scalar::from_hash(
        Sha512::new()
            .chain_update(cap_r)
            .chain_update(cap_a)
            .chain_update(message),
    )
}

/// True when `u` is a canonical field element: below p = 2^255 − 19
/// (which also means its top bit is clear). The spec rejects `u ≥ p`.
fn is_canonical_u(u: &[u8; 32]) -> bool {
    if u[31] & 0x80 != 0 {
        return false;
    }
    // Only 2^255−19 ..= 2^255−1 remain to exclude: 0x7F, then 30 × 0xFF,
    // then a low byte of at least 0xED (little-endian).
    let high_all_ones = u[31] == 0x7F && u[1..31].iter().all(|&b| b == 0xFF);
    !(high_all_ones && u[0] >= 0xED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;

    #[test]
    fn round_trip() {
        for _ in 0..16 {
            let kp = KeyPair::generate();
            let sig = xeddsa_sign(&kp.private, b"hello");
            assert!(xeddsa_verify(&kp.public, b"hello", &sig));
        }
    }

    #[test]
    fn both_sign_bits_occur_and_verify() {
        let mut seen = [false; 2];
        for _ in 0..64 {
            let kp = KeyPair::generate();
            let sig = xeddsa_sign(&kp.private, b"m");
            seen[usize::from(sig[63] >> 7)] = true;
            assert!(xeddsa_verify(&kp.public, b"m", &sig));
        }
        assert!(seen[0] && seen[1], "both Edwards sign bits should show up");
    }

    #[test]
    fn deterministic_given_randomness_and_randomized_otherwise() {
        let kp = KeyPair::generate();
        let z = [7u8; 64];
        assert_eq!(
            sign_with_randomness(&kp.private, b"x", &z),
            sign_with_randomness(&kp.private, b"x", &z)
        );
        assert_ne!(
            xeddsa_sign(&kp.private, b"x"),
            xeddsa_sign(&kp.private, b"x")
        );
    }

    #[test]
    fn unclamped_private_key_signs_for_its_x25519_public_key() {
        // KeyPair may hold an unclamped private key; X25519 clamps it, and
        // so must signing.
        let kp = KeyPair::from_private([0xFF; 32]);
        let sig = xeddsa_sign(&kp.private, b"clamp");
        assert!(xeddsa_verify(&kp.public, b"clamp", &sig));
    }

    #[test]
    fn tampering_is_rejected() {
        let kp = KeyPair::generate();
        let other = KeyPair::generate();
        let sig = xeddsa_sign(&kp.private, b"message");
        assert!(!xeddsa_verify(&kp.public, b"messagE", &sig));
        assert!(!xeddsa_verify(&other.public, b"message", &sig));
        for i in 0..64 {
            for bit in [0x01u8, 0x80] {
                let mut bad = sig;
                bad[i] ^= bit;
                assert!(
                    !xeddsa_verify(&kp.public, b"message", &bad),
                    "flip {bit:#x} in byte {i}"
                );
            }
        }
    }

    #[test]
    fn malformed_keys_and_signatures_are_rejected() {
        let kp = KeyPair::generate();
        let sig = xeddsa_sign(&kp.private, b"m");
        // Non-canonical u: same point mod p would be u + p.
        let mut p = [0xFFu8; 32];
        p[0] = 0xED;
        p[31] = 0x7F;
        assert!(!xeddsa_verify(&p, b"m", &sig));
        let mut top_bit = kp.public;
        top_bit[31] |= 0x80;
        assert!(!xeddsa_verify(&top_bit, b"m", &sig));
        // Small-order / degenerate keys.
        assert!(!xeddsa_verify(&[0u8; 32], b"m", &sig));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(!xeddsa_verify(&one, b"m", &sig));
        // u = p − 1 (= −1) has no Edwards image.
        let mut minus_one = p;
        minus_one[0] = 0xEC;
        assert!(!xeddsa_verify(&minus_one, b"m", &sig));
        // s ≥ ℓ: s + ℓ is the same scalar mod ℓ but not canonical.
        const ELL: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut big_s = sig;
        big_s[63] &= 0x7F;
        let mut carry = 0u16;
        for (byte, ell) in big_s[32..].iter_mut().zip(ELL) {
            let sum = u16::from(*byte) + u16::from(ell) + carry;
            *byte = sum.to_le_bytes()[0];
            carry = sum >> 8;
        }
        // s + ℓ < 2^254: no carry out, top bit still free for the sign.
        assert_eq!(carry, 0);
        big_s[63] |= sig[63] & 0x80;
        assert!(!xeddsa_verify(&kp.public, b"m", &big_s));
        // Garbage never panics.
        assert!(!xeddsa_verify(&[0xAB; 32], b"m", &[0xCD; 64]));
        assert!(!xeddsa_verify(&kp.public, b"m", &[0u8; 64]));
        assert!(!xeddsa_verify(&kp.public, b"m", &[0xFF; 64]));
    }

    /// Fixed vector from libsignal-protocol-c (libaxolotl-c),
    /// tests/test_curve25519.c, `test_curve25519_signature`: Alice's identity
    /// key signs her ephemeral public key in its 33-byte (0x05-prefixed) form.
    #[test]
    fn libsignal_test_vector() {
        let private: [u8; 32] = [
            0xc0, 0x97, 0x24, 0x84, 0x12, 0xe5, 0x8b, 0xf0, 0x5d, 0xf4, 0x87, 0x96, 0x82, 0x05,
            0x13, 0x27, 0x94, 0x17, 0x8e, 0x36, 0x76, 0x37, 0xf5, 0x81, 0x8f, 0x81, 0xe0, 0xe6,
            0xce, 0x73, 0xe8, 0x65,
        ];
        let public: [u8; 32] = [
            0xab, 0x7e, 0x71, 0x7d, 0x4a, 0x16, 0x3b, 0x7d, 0x9a, 0x1d, 0x80, 0x71, 0xdf, 0xe9,
            0xdc, 0xf8, 0xcd, 0xcd, 0x1c, 0xea, 0x33, 0x39, 0xb6, 0x35, 0x6b, 0xe8, 0x4d, 0x88,
            0x7e, 0x32, 0x2c, 0x64,
        ];
        let message: [u8; 33] = [
            0x05, 0xed, 0xce, 0x9d, 0x9c, 0x41, 0x5c, 0xa7, 0x8c, 0xb7, 0x25, 0x2e, 0x72, 0xc2,
            0xc4, 0xa5, 0x54, 0xd3, 0xeb, 0x29, 0x48, 0x5a, 0x0e, 0x1d, 0x50, 0x31, 0x18, 0xd1,
            0xa8, 0x2d, 0x99, 0xfb, 0x4a,
        ];
        let signature: [u8; 64] = [
            0x5d, 0xe8, 0x8c, 0xa9, 0xa8, 0x9b, 0x4a, 0x11, 0x5d, 0xa7, 0x91, 0x09, 0xc6, 0x7c,
            0x9c, 0x74, 0x64, 0xa3, 0xe4, 0x18, 0x02, 0x74, 0xf1, 0xcb, 0x8c, 0x63, 0xc2, 0x98,
            0x4e, 0x28, 0x6d, 0xfb, 0xed, 0xe8, 0x2d, 0xeb, 0x9d, 0xcd, 0x9f, 0xae, 0x0b, 0xfb,
            0xb8, 0x21, 0x56, 0x9b, 0x3d, 0x90, 0x01, 0xbd, 0x81, 0x30, 0xcd, 0x11, 0xd4, 0x86,
            0xce, 0xf0, 0x47, 0xbd, 0x60, 0xb8, 0x6e, 0x88,
        ];
        assert_eq!(KeyPair::from_private(private).public, public);
        assert!(xeddsa_verify(&public, &message, &signature));
        for i in 0..64 {
            let mut bad = signature;
            bad[i] ^= 0x01;
            assert!(!xeddsa_verify(&public, &message, &bad), "byte {i}");
        }
        // Our own signature with the same key verifies as well.
        assert!(xeddsa_verify(
            &public,
            &message,
            &xeddsa_sign(&private, &message)
        ));
    }
}
