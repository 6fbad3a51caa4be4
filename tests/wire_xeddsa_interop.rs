//! XEdDSA interop with an independent implementation: wacore-libsignal
//! (whatsapp-rust's fork of Signal's libsignal curve25519), reached through
//! the `whatsapp-rust` dev-dependency. Signatures must verify both ways.

use wasp::crypto::{xeddsa_sign, xeddsa_verify, KeyPair};
use whatsapp_rust::wacore::crypto::calculate_curve_signature;
use whatsapp_rust::wacore::libsignal::protocol::{PrivateKey, PublicKey};

fn their_keys(ours: &KeyPair) -> (PrivateKey, PublicKey) {
    let private = PrivateKey::deserialize(&ours.private).expect("32-byte private key");
    let public = private.public_key().expect("public key derivation");
    (private, public)
}

#[test]
fn same_public_key_from_same_private_key() {
    for _ in 0..16 {
        let ours = KeyPair::generate();
        let (_, theirs) = their_keys(&ours);
        assert_eq!(theirs.public_key_bytes(), ours.public);
    }
}

#[test]
fn our_signatures_verify_with_libsignal() {
    for i in 0..64u32 {
        let ours = KeyPair::generate();
        let (_, their_public) = their_keys(&ours);
        let message = format!("message number {i}").repeat(i as usize);
        let signature = xeddsa_sign(&ours.private, message.as_bytes());
        assert!(their_public.verify_signature(message.as_bytes(), &signature));

        let mut tampered = signature;
        tampered[usize::try_from(i).unwrap() % 64] ^= 0x04;
        assert!(!their_public.verify_signature(message.as_bytes(), &tampered));
    }
}

#[test]
fn libsignal_signatures_verify_with_ours() {
    let mut sign_bits = [false; 2];
    for i in 0..64u32 {
        let ours = KeyPair::generate();
        let (their_private, _) = their_keys(&ours);
        let message = format!("other message {i}");
        let signature =
            calculate_curve_signature(&their_private, message.as_bytes()).expect("libsignal signs");
        sign_bits[usize::from(signature[63] >> 7)] = true;
        assert!(xeddsa_verify(&ours.public, message.as_bytes(), &signature));
        assert!(!xeddsa_verify(&ours.public, b"different", &signature));
    }
    // Both Edwards sign bits were exercised, so the sign-bit convention
    // (top bit of byte 63) is what was checked.
    assert!(sign_bits[0] && sign_bits[1]);
}
