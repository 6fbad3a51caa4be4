//! XEdDSA: Ed25519-style signatures made with X25519 (Montgomery) keys.
//!
//! Spec: "The XEdDSA and VXEdDSA Signature Schemes", Signal, rev. 1, 2016.

/// Signs `message` with the X25519 private key `private`.
pub fn xeddsa_sign(private: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let _ = (private, message);
    todo!("crypto helper implements XEdDSA signing")
}

/// Verifies an XEdDSA `signature` over `message` by the X25519 public key
/// `public`. Returns false for any malformed key or signature.
pub fn xeddsa_verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let _ = (public, message, signature);
    todo!("crypto helper implements XEdDSA verification")
}
