//! The server's Noise certificate chain: root -> intermediate -> leaf.
//!
//! The leaf's key must equal the server's Noise static key. Verification
//! is always on; what changes between production and tests is only which
//! root public key is trusted.
//!
//! Why: Noise XX alone only proves the server holds *some* static key. The
//! chain binds that key to WhatsApp: a fixed root key signs an intermediate
//! certificate (issuer serial 0 = the root), the intermediate signs the
//! leaf (issuer serial = the intermediate's serial), and the leaf names the
//! static key. Signatures are XEdDSA over the encoded `Details` bytes
//! exactly as received, so we verify before trusting anything decoded from
//! them. Checks follow whatsmeow's `verifyServerCert` (the stricter of the
//! public implementations; wacore 0.7 skips the validity window): both
//! certificates must be inside `notBefore <= now <= notAfter`; a missing
//! `notAfter` counts as expired, a missing `notBefore` as 0.

use prost::Message;

use crate::crypto::{xeddsa_sign, xeddsa_verify, KeyPair};
use crate::proto::cert_chain::noise_certificate::Details;
use crate::proto::cert_chain::NoiseCertificate;
use crate::proto::CertChain;

/// WhatsApp's production certificate root public key (WhatsApp Web
/// `WAWebNoiseCertificate`; also whatsmeow `WACertPubKey`, wacore-noise 0.7
/// `WA_CERT_PUB_KEY`).
pub const WHATSAPP_ROOT_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The issuer serial an intermediate signed by the root carries
/// (whatsmeow `WACertIssuerSerial`).
pub const ROOT_ISSUER_SERIAL: u32 = 0;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("certificate chain is malformed: {0}")]
    Malformed(&'static str),
    #[error("intermediate certificate is not signed by the trusted root key")]
    IntermediateSignature,
    #[error("intermediate certificate has issuer serial {0}, expected the root's ({ROOT_ISSUER_SERIAL})")]
    IntermediateIssuer(u32),
    #[error("leaf certificate is not signed by the intermediate's key")]
    LeafSignature,
    #[error(
        "leaf certificate has issuer serial {got}, expected the intermediate's serial {expected}"
    )]
    LeafIssuer { got: u32, expected: u32 },
    #[error("{cert} certificate has no notAfter")]
    MissingValidity { cert: &'static str },
    #[error("{cert} certificate is not valid before {not_before} (now {now})")]
    NotYetValid {
        cert: &'static str,
        not_before: u64,
        now: u64,
    },
    #[error("{cert} certificate expired at {not_after} (now {now})")]
    Expired {
        cert: &'static str,
        not_after: u64,
        now: u64,
    },
    #[error("leaf certificate key does not match the server's static key")]
    LeafKeyMismatch,
}

/// Issues an encoded `CertChain` (root signs intermediate, intermediate
/// signs leaf) whose leaf key is `leaf_key`. Used by the simulator.
pub fn issue_chain(
    root: &KeyPair,
    intermediate: &KeyPair,
    intermediate_serial: u32,
    leaf_key: &[u8; 32],
    leaf_serial: u32,
    not_before: u64,
    not_after: u64,
) -> Vec<u8> {
    let intermediate_details = Details {
        serial: Some(intermediate_serial),
        issuer_serial: Some(ROOT_ISSUER_SERIAL),
        key: Some(intermediate.public.to_vec()),
        not_before: Some(not_before),
        not_after: Some(not_after),
    };
    let leaf_details = Details {
        serial: Some(leaf_serial),
        issuer_serial: Some(intermediate_serial),
        key: Some(leaf_key.to_vec()),
        not_before: Some(not_before),
        not_after: Some(not_after),
    };
    CertChain {
        intermediate: Some(signed(root, &intermediate_details)),
        leaf: Some(signed(intermediate, &leaf_details)),
    }
    .encode_to_vec()
}

fn signed(issuer: &KeyPair, details: &Details) -> NoiseCertificate {
    let details = details.encode_to_vec();
    let signature = xeddsa_sign(&issuer.private, &details).to_vec();
    NoiseCertificate {
        details: Some(details),
        signature: Some(signature),
    }
}

/// Verifies an encoded `CertChain` against `root_key`: signatures, issuer
/// serials, validity at `now_unix`, and leaf key == `server_static`.
pub fn verify_chain(
    chain: &[u8],
    root_key: &[u8; 32],
    server_static: &[u8; 32],
    now_unix: u64,
) -> Result<(), CertError> {
    let chain = CertChain::decode(chain).map_err(|_| CertError::Malformed("not a CertChain"))?;
    let intermediate = chain
        .intermediate
        .ok_or(CertError::Malformed("no intermediate certificate"))?;
    let leaf = chain
        .leaf
        .ok_or(CertError::Malformed("no leaf certificate"))?;

    // Root -> intermediate. Verify the signature over the raw bytes first;
    // only then is it worth decoding them.
    let (intermediate_raw, intermediate_sig) = parts(
        &intermediate,
        "intermediate certificate has no details",
        "intermediate signature is missing or not 64 bytes",
    )?;
    if !xeddsa_verify(root_key, intermediate_raw, intermediate_sig) {
        return Err(CertError::IntermediateSignature);
    }
    let intermediate = Details::decode(intermediate_raw)
        .map_err(|_| CertError::Malformed("intermediate details do not decode"))?;
    let issuer = intermediate.issuer_serial.unwrap_or(0);
    if issuer != ROOT_ISSUER_SERIAL {
        return Err(CertError::IntermediateIssuer(issuer));
    }
    let intermediate_key: [u8; 32] = intermediate
        .key
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .ok_or(CertError::Malformed("intermediate key is not 32 bytes"))?;
    check_validity(&intermediate, "intermediate", now_unix)?;

    // Intermediate -> leaf.
    let (leaf_raw, leaf_sig) = parts(
        &leaf,
        "leaf certificate has no details",
        "leaf signature is missing or not 64 bytes",
    )?;
    if !xeddsa_verify(&intermediate_key, leaf_raw, leaf_sig) {
        return Err(CertError::LeafSignature);
    }
    let leaf = Details::decode(leaf_raw)
        .map_err(|_| CertError::Malformed("leaf details do not decode"))?;
    let expected = intermediate.serial.unwrap_or(0);
    let got = leaf.issuer_serial.unwrap_or(0);
    if got != expected {
        return Err(CertError::LeafIssuer { got, expected });
    }
    check_validity(&leaf, "leaf", now_unix)?;
    if leaf.key.as_deref() != Some(&server_static[..]) {
        return Err(CertError::LeafKeyMismatch);
    }
    Ok(())
}

/// The raw details bytes and the 64-byte signature of one certificate.
fn parts<'a>(
    cert: &'a NoiseCertificate,
    missing_details: &'static str,
    bad_signature: &'static str,
) -> Result<(&'a [u8], &'a [u8; 64]), CertError> {
    let details = cert
        .details
        .as_deref()
        .ok_or(CertError::Malformed(missing_details))?;
    let signature = cert
        .signature
        .as_deref()
        .and_then(|s| <&[u8; 64]>::try_from(s).ok())
        .ok_or(CertError::Malformed(bad_signature))?;
    Ok((details, signature))
}

fn check_validity(details: &Details, cert: &'static str, now: u64) -> Result<(), CertError> {
    let not_after = details
        .not_after
        .ok_or(CertError::MissingValidity { cert })?;
    let not_before = details.not_before.unwrap_or(0);
    if now < not_before {
        return Err(CertError::NotYetValid {
            cert,
            not_before,
            now,
        });
    }
    if now > not_after {
        return Err(CertError::Expired {
            cert,
            not_after,
            now,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    struct Fixture {
        root: KeyPair,
        intermediate: KeyPair,
        leaf: KeyPair,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                root: KeyPair::generate(),
                intermediate: KeyPair::generate(),
                leaf: KeyPair::generate(),
            }
        }

        fn chain(&self) -> Vec<u8> {
            issue_chain(
                &self.root,
                &self.intermediate,
                7,
                &self.leaf.public,
                8,
                NOW - 10,
                NOW + 10,
            )
        }

        fn verify(&self, chain: &[u8]) -> Result<(), CertError> {
            verify_chain(chain, &self.root.public, &self.leaf.public, NOW)
        }

        /// A chain built from details the test edits, signed properly.
        fn custom(
            &self,
            edit_intermediate: impl Fn(&mut Details),
            edit_leaf: impl Fn(&mut Details),
        ) -> Vec<u8> {
            let mut inter = Details {
                serial: Some(7),
                issuer_serial: Some(0),
                key: Some(self.intermediate.public.to_vec()),
                not_before: Some(NOW - 10),
                not_after: Some(NOW + 10),
            };
            let mut leaf = Details {
                serial: Some(8),
                issuer_serial: Some(7),
                key: Some(self.leaf.public.to_vec()),
                not_before: Some(NOW - 10),
                not_after: Some(NOW + 10),
            };
            edit_intermediate(&mut inter);
            edit_leaf(&mut leaf);
            CertChain {
                intermediate: Some(signed(&self.root, &inter)),
                leaf: Some(signed(&self.intermediate, &leaf)),
            }
            .encode_to_vec()
        }
    }

    #[test]
    fn issued_chain_verifies() {
        let f = Fixture::new();
        assert_eq!(f.verify(&f.chain()), Ok(()));
        // Edges of the validity window are inclusive.
        let chain = f.chain();
        assert_eq!(
            verify_chain(&chain, &f.root.public, &f.leaf.public, NOW - 10),
            Ok(())
        );
        assert_eq!(
            verify_chain(&chain, &f.root.public, &f.leaf.public, NOW + 10),
            Ok(())
        );
    }

    #[test]
    fn wrong_root_is_rejected() {
        let f = Fixture::new();
        let other = KeyPair::generate();
        assert_eq!(
            verify_chain(&f.chain(), &other.public, &f.leaf.public, NOW),
            Err(CertError::IntermediateSignature)
        );
        assert_eq!(
            verify_chain(&f.chain(), &WHATSAPP_ROOT_KEY, &f.leaf.public, NOW),
            Err(CertError::IntermediateSignature)
        );
    }

    #[test]
    fn leaf_signed_by_someone_else_is_rejected() {
        let f = Fixture::new();
        let mut chain = CertChain::decode(&f.chain()[..]).unwrap();
        let rogue = KeyPair::generate();
        let leaf_details = chain.leaf.as_ref().unwrap().details.clone().unwrap();
        chain.leaf.as_mut().unwrap().signature =
            Some(xeddsa_sign(&rogue.private, &leaf_details).to_vec());
        assert_eq!(
            f.verify(&chain.encode_to_vec()),
            Err(CertError::LeafSignature)
        );
    }

    #[test]
    fn tampered_details_are_rejected() {
        let f = Fixture::new();
        let mut chain = CertChain::decode(&f.chain()[..]).unwrap();
        chain
            .intermediate
            .as_mut()
            .unwrap()
            .details
            .as_mut()
            .unwrap()
            .push(0);
        assert_eq!(
            f.verify(&chain.encode_to_vec()),
            Err(CertError::IntermediateSignature)
        );
        let mut chain = CertChain::decode(&f.chain()[..]).unwrap();
        let last = chain
            .leaf
            .as_mut()
            .unwrap()
            .details
            .as_mut()
            .unwrap()
            .last_mut()
            .unwrap();
        *last ^= 1;
        assert_eq!(
            f.verify(&chain.encode_to_vec()),
            Err(CertError::LeafSignature)
        );
    }

    #[test]
    fn intermediate_must_be_issued_by_root() {
        let f = Fixture::new();
        let chain = f.custom(|i| i.issuer_serial = Some(3), |_| {});
        assert_eq!(f.verify(&chain), Err(CertError::IntermediateIssuer(3)));
    }

    #[test]
    fn leaf_issuer_must_be_intermediate_serial() {
        let f = Fixture::new();
        let chain = f.custom(|_| {}, |l| l.issuer_serial = Some(9));
        assert_eq!(
            f.verify(&chain),
            Err(CertError::LeafIssuer {
                got: 9,
                expected: 7
            })
        );
    }

    #[test]
    fn validity_window_is_enforced_for_both() {
        let f = Fixture::new();
        let chain = f.custom(|i| i.not_after = Some(NOW - 1), |_| {});
        assert_eq!(
            f.verify(&chain),
            Err(CertError::Expired {
                cert: "intermediate",
                not_after: NOW - 1,
                now: NOW
            })
        );
        let chain = f.custom(|_| {}, |l| l.not_before = Some(NOW + 1));
        assert_eq!(
            f.verify(&chain),
            Err(CertError::NotYetValid {
                cert: "leaf",
                not_before: NOW + 1,
                now: NOW
            })
        );
        let chain = f.custom(|_| {}, |l| l.not_after = None);
        assert_eq!(
            f.verify(&chain),
            Err(CertError::MissingValidity { cert: "leaf" })
        );
        let chain = f.custom(|i| i.not_after = None, |_| {});
        assert_eq!(
            f.verify(&chain),
            Err(CertError::MissingValidity {
                cert: "intermediate"
            })
        );
        // A missing notBefore means "since the epoch", as in whatsmeow.
        let chain = f.custom(|i| i.not_before = None, |l| l.not_before = None);
        assert_eq!(f.verify(&chain), Ok(()));
    }

    #[test]
    fn leaf_key_must_be_server_static() {
        let f = Fixture::new();
        let other = KeyPair::generate();
        assert_eq!(
            verify_chain(&f.chain(), &f.root.public, &other.public, NOW),
            Err(CertError::LeafKeyMismatch)
        );
        let chain = f.custom(|_| {}, |l| l.key = None);
        assert_eq!(f.verify(&chain), Err(CertError::LeafKeyMismatch));
    }

    #[test]
    fn malformed_chains_are_rejected_without_panic() {
        let f = Fixture::new();
        assert!(matches!(
            f.verify(&[0xFF, 0xFF, 0xFF]),
            Err(CertError::Malformed(_))
        ));
        assert_eq!(
            f.verify(&[]),
            Err(CertError::Malformed("no intermediate certificate"))
        );
        let mut chain = CertChain::decode(&f.chain()[..]).unwrap();
        chain.leaf = None;
        assert_eq!(
            f.verify(&chain.encode_to_vec()),
            Err(CertError::Malformed("no leaf certificate"))
        );
        let mut chain = CertChain::decode(&f.chain()[..]).unwrap();
        chain.intermediate.as_mut().unwrap().signature = Some(vec![0; 63]);
        assert!(matches!(
            f.verify(&chain.encode_to_vec()),
            Err(CertError::Malformed(_))
        ));
        let mut chain = CertChain::decode(&f.chain()[..]).unwrap();
        chain.leaf.as_mut().unwrap().details = None;
        assert!(matches!(
            f.verify(&chain.encode_to_vec()),
            Err(CertError::Malformed(_))
        ));
        let chain = f.custom(|i| i.key = Some(vec![1; 31]), |_| {});
        assert_eq!(
            f.verify(&chain),
            Err(CertError::Malformed("intermediate key is not 32 bytes"))
        );
    }

    #[test]
    fn root_key_constant_is_the_published_one() {
        assert_eq!(
            hex::encode(WHATSAPP_ROOT_KEY),
            "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"
        );
    }
}
