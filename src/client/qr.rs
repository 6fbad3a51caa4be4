//! The QR code a phone scans to link this device.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::creds::Creds;
use super::payload::platform_type;
use crate::proto::device_props::PlatformType;

/// The companion client type WhatsApp Web appends as the QR's fifth field
/// (wacore-0.7.0 `companion_reg::CompanionWebClientType::wire_byte`; the
/// four-field form is rejected by phones since tulir/whatsmeow#1110).
pub fn client_type_char(browser: &str) -> char {
    match platform_type(browser) {
        PlatformType::Chrome => '1',
        PlatformType::Edge => '2',
        PlatformType::Firefox => '3',
        PlatformType::Ie => '4',
        PlatformType::Opera => '5',
        PlatformType::Safari => '6',
        PlatformType::Desktop => '7',
        PlatformType::Unknown => '9',
    }
}

/// `ref,base64(noise pub),base64(identity pub),base64(adv secret),type`
/// with standard, padded base64, as WhatsApp Web composes it.
pub fn qr_string(reference: &str, creds: &Creds, browser: &str) -> String {
    format!(
        "{reference},{},{},{},{}",
        STANDARD.encode(creds.noise_key.public),
        STANDARD.encode(creds.identity_key.public),
        STANDARD.encode(creds.adv_secret_key),
        client_type_char(browser)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::creds::tests_support::creds_without_signature;

    #[test]
    fn qr_has_five_fields_with_padded_standard_base64() {
        let creds = creds_without_signature();
        let qr = qr_string("2@abc+/=", &creds, "chrome");
        let parts: Vec<&str> = qr.split(',').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0], "2@abc+/=");
        assert_eq!(STANDARD.decode(parts[1]).unwrap(), creds.noise_key.public);
        assert_eq!(
            STANDARD.decode(parts[2]).unwrap(),
            creds.identity_key.public
        );
        assert_eq!(STANDARD.decode(parts[3]).unwrap(), creds.adv_secret_key);
        // 32 bytes -> 44 characters ending in one '=' pad.
        assert!(parts[1..4]
            .iter()
            .all(|p| p.len() == 44 && p.ends_with('=')));
        assert_eq!(parts[4], "1");
        assert!(qr_string("r", &creds, "netscape").ends_with(",9"));
    }
}
