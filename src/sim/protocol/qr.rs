//! Reading the QR string a companion shows, as the phone's camera would.
//!
//! Format (WhatsApp Web `WAWebLinkDeviceQrcode`; whatsapp-rust
//! `PairUtils::make_qr_data`): `ref,base64(noise pub),base64(identity
//! pub),base64(adv secret)` optionally followed by `,client_type`, all
//! base64 standard with padding. Phones also accept the
//! native-camera deep-link prefix in front of it.
//!
//! Owns: reading the QR string. Pure. Must not touch: the pairing it names
//! (`linking::qr_scan`).

use base64::prelude::{Engine as _, BASE64_STANDARD};

use crate::sim::error::SimError;

/// Deep-link prefix a QR may carry (whatsapp-rust
/// `companion_reg::NATIVE_CAMERA_DEEP_LINK_PREFIX`).
const DEEP_LINK_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// What the phone learns from a companion's QR code.
#[derive(Clone, PartialEq, Eq)]
pub struct ScannedQr {
    /// The pair-device ref the server handed that companion.
    pub pairing_ref: String,
    /// The companion's Noise static public key.
    pub noise_key: [u8; 32],
    /// The companion's Signal identity public key.
    pub identity_key: [u8; 32],
    /// The secret the phone keys its HMAC over the device identity with.
    pub adv_secret: [u8; 32],
}

impl std::fmt::Debug for ScannedQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The ADV secret stays out of logs.
        f.debug_struct("ScannedQr")
            .field("pairing_ref", &self.pairing_ref)
            .field("noise_key", &hex::encode(self.noise_key))
            .field("identity_key", &hex::encode(self.identity_key))
            .finish_non_exhaustive()
    }
}

/// Parses a companion's QR string.
pub fn parse_qr(qr: &str) -> Result<ScannedQr, SimError> {
    let body = qr.trim();
    let body = body.strip_prefix(DEEP_LINK_PREFIX).unwrap_or(body);
    let mut fields = body.split(',');
    let mut next = |name: &str| -> Result<&str, SimError> {
        match fields.next() {
            Some(field) if !field.is_empty() => Ok(field),
            _ => Err(SimError::InvalidQr(format!("missing {name} field"))),
        }
    };
    let pairing_ref = next("ref")?.to_string();
    let noise_key = decode_key(next("noise key")?, "noise key")?;
    let identity_key = decode_key(next("identity key")?, "identity key")?;
    let adv_secret = decode_key(next("adv secret")?, "adv secret")?;
    // A trailing client-type field (and anything after it) is informative.
    Ok(ScannedQr {
        pairing_ref,
        noise_key,
        identity_key,
        adv_secret,
    })
}

fn decode_key(field: &str, name: &str) -> Result<[u8; 32], SimError> {
    let bytes = BASE64_STANDARD
        .decode(field)
        .map_err(|e| SimError::InvalidQr(format!("{name} is not base64: {e}")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| SimError::InvalidQr(format!("{name} has {} bytes, expected 32", bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qr_of(r: &str, noise: [u8; 32], ident: [u8; 32], adv: [u8; 32]) -> String {
        format!(
            "{r},{},{},{}",
            BASE64_STANDARD.encode(noise),
            BASE64_STANDARD.encode(ident),
            BASE64_STANDARD.encode(adv)
        )
    }

    #[test]
    fn four_field_qr_yields_the_keys() {
        let qr = qr_of("2@abc", [1; 32], [2; 32], [3; 32]);
        let scanned = parse_qr(&qr).unwrap();
        assert_eq!(scanned.pairing_ref, "2@abc");
        assert_eq!(scanned.noise_key, [1; 32]);
        assert_eq!(scanned.identity_key, [2; 32]);
        assert_eq!(scanned.adv_secret, [3; 32]);
    }

    #[test]
    fn client_type_suffix_and_deep_link_prefix_are_accepted() {
        let qr = format!(
            "{DEEP_LINK_PREFIX}{},1",
            qr_of("2@r", [4; 32], [5; 32], [6; 32])
        );
        let scanned = parse_qr(&qr).unwrap();
        assert_eq!(scanned.pairing_ref, "2@r");
        assert_eq!(scanned.noise_key, [4; 32]);
    }

    #[test]
    fn too_few_fields_is_an_error() {
        let key = BASE64_STANDARD.encode([1u8; 32]);
        let err = parse_qr(&format!("2@r,{key},{key}")).unwrap_err();
        assert_eq!(err.code(), "invalid_qr");
        assert!(err.to_string().contains("adv secret"), "{err}");
    }

    #[test]
    fn empty_and_garbage_fields_are_errors() {
        assert_eq!(parse_qr("").unwrap_err().code(), "invalid_qr");
        assert_eq!(parse_qr(",,,").unwrap_err().code(), "invalid_qr");
        let bad_b64 = "2@r,!!!,!!!,!!!";
        assert!(parse_qr(bad_b64)
            .unwrap_err()
            .to_string()
            .contains("base64"));
    }

    #[test]
    fn wrong_key_length_is_an_error() {
        let qr = format!(
            "2@r,{},{},{}",
            BASE64_STANDARD.encode([1u8; 16]),
            BASE64_STANDARD.encode([2u8; 32]),
            BASE64_STANDARD.encode([3u8; 32])
        );
        let err = parse_qr(&qr).unwrap_err();
        assert!(err.to_string().contains("16 bytes"), "{err}");
    }
}
