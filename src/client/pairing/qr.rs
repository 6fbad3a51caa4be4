//! The QR code a phone scans to link this device.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::time::Instant;

use super::state::{end_attempt, Pairing, QrRotation};
use crate::client::core::{envelope, Action, Ctx, Phase};
use crate::client::creds::Creds;
use crate::client::events::{Event, Status};
use crate::client::payload::platform_type;
use crate::proto::device_props::PlatformType;
use crate::wire::Node;

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

impl Pairing {
    /// `<pair-device>`: the server's refs, each one QR code in turn.
    pub(super) fn on_pair_device(
        &mut self,
        ctx: &mut Ctx,
        iq: &Node,
        pair_device: &Node,
        now: Instant,
    ) -> Vec<Action> {
        let mut out: Vec<Action> = envelope::iq_result(iq)
            .map(Action::Send)
            .into_iter()
            .collect();
        if ctx.creds.paired.is_some() {
            tracing::warn!("pair-device for an already linked device; ignored");
            return out;
        }
        ctx.phase = Phase::Pairing;
        out.push(Action::Status(Status::Qr));
        self.qr = Some(QrRotation::new(pair_device, now));
        let ttl = ctx.config.qr_first_ttl;
        self.show_next_qr(ctx, now, ttl, &mut out);
        out
    }

    pub(super) fn show_next_qr(
        &mut self,
        ctx: &Ctx,
        now: Instant,
        ttl: std::time::Duration,
        out: &mut Vec<Action>,
    ) {
        let Some(rotation) = self.qr.as_mut() else {
            return;
        };
        match rotation.next(now, ttl) {
            Some(reference) => out.push(Action::Emit(Event::Qr {
                code: qr_string(&reference, &ctx.creds, &ctx.config.browser),
                expires_in_secs: ttl.as_secs(),
            })),
            None => {
                // Like whatsmeow and WA Web: once the server's refs are
                // used up the pairing attempt is over; the host decides
                // whether to start a new one.
                self.qr = None;
                out.extend(end_attempt("qr timeout"));
            }
        }
    }
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
