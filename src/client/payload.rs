//! The `ClientPayload` a device sends inside the Noise handshake:
//! registration (not linked yet) or login (linked).
//!
//! Field values follow WhatsApp Web as the public clients send it
//! (wacore-0.7.0 `store/device.rs`, whatsmeow `store/clientpayload.go`).

use prost::Message;

use super::config::ClientConfig;
use super::creds::Creds;
use crate::proto::client_payload::{
    user_agent, web_info, ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent,
    WebInfo,
};
use crate::proto::{device_props, ClientPayload, DeviceProps};
use crate::signal::DJB_KEY_TYPE;
use crate::types::Jid;

/// The WhatsApp Web version we claim (wacore-0.7.0 `Device::new`).
const WA_VERSION: [u32; 3] = [2, 3000, 1_042_742_319];
/// MD5 of "2.3000.1042742319", the `buildHash` WhatsApp Web sends with a
/// registration (whatsmeow `WAVersionContainer.Hash`).
const WA_BUILD_HASH: [u8; 16] = [
    0x24, 0x04, 0x40, 0xf4, 0xd1, 0x45, 0x66, 0xed, 0x04, 0x73, 0x17, 0x3b, 0x94, 0xfc, 0x18, 0xdd,
];

/// The `DeviceProps.platformType` for a browser name.
pub fn platform_type(browser: &str) -> device_props::PlatformType {
    use device_props::PlatformType as P;
    match browser.to_ascii_lowercase().as_str() {
        "chrome" => P::Chrome,
        "firefox" => P::Firefox,
        "ie" => P::Ie,
        "opera" => P::Opera,
        "safari" => P::Safari,
        "edge" => P::Edge,
        "desktop" => P::Desktop,
        _ => P::Unknown,
    }
}

fn base_payload() -> ClientPayload {
    ClientPayload {
        user_agent: Some(UserAgent {
            platform: Some(user_agent::Platform::Web as i32),
            release_channel: Some(user_agent::ReleaseChannel::Release as i32),
            app_version: Some(user_agent::AppVersion {
                primary: Some(WA_VERSION[0]),
                secondary: Some(WA_VERSION[1]),
                tertiary: Some(WA_VERSION[2]),
                ..Default::default()
            }),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some("0.1.0".into()),
            manufacturer: Some(String::new()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1.0".into()),
            locale_language_iso6391: Some("en".into()),
            locale_country_iso31661_alpha2: Some("US".into()),
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        ..Default::default()
    }
}

fn device_props(config: &ClientConfig) -> DeviceProps {
    DeviceProps {
        os: Some(config.device_os.clone()),
        version: Some(device_props::AppVersion {
            primary: Some(0),
            secondary: Some(1),
            tertiary: Some(0),
            ..Default::default()
        }),
        platform_type: Some(platform_type(&config.browser) as i32),
        require_full_sync: Some(false),
    }
}

/// The payload for a device that has no account yet: it carries the
/// registration keys the phone will link.
pub fn registration_payload(creds: &Creds, config: &ClientConfig) -> ClientPayload {
    let spk = &creds.signed_prekey;
    let mut payload = base_payload();
    payload.device_pairing_data = Some(DevicePairingRegistrationData {
        e_regid: Some(creds.registration_id.to_be_bytes().to_vec()),
        e_keytype: Some(vec![DJB_KEY_TYPE]),
        e_ident: Some(creds.identity_key.public.to_vec()),
        // Prekey ids travel as 3 big-endian bytes.
        e_skey_id: Some(spk.id.to_be_bytes()[1..].to_vec()),
        e_skey_val: Some(spk.key_pair.public.to_vec()),
        e_skey_sig: Some(spk.signature.to_vec()),
        build_hash: Some(WA_BUILD_HASH.to_vec()),
        device_props: Some(device_props(config).encode_to_vec()),
    });
    payload.passive = Some(false);
    payload.pull = Some(false);
    let push_name = if creds.push_name.is_empty() {
        &config.push_name
    } else {
        &creds.push_name
    };
    if !push_name.is_empty() {
        payload.push_name = Some(push_name.clone());
    }
    payload
}

/// The payload for a linked device: who it is. `None` if the stored JID
/// is not a valid AD JID (the credentials are then unusable).
pub fn login_payload(jid: &Jid) -> Option<ClientPayload> {
    let mut payload = base_payload();
    payload.username = Some(jid.user.parse().ok()?);
    payload.device = Some(u32::from(jid.device));
    // whatsmeow logs in passive and turns active after <success>.
    payload.passive = Some(true);
    payload.pull = Some(true);
    Some(payload)
}

/// The encoded payload for `creds`: login when paired, else registration.
pub fn encode_payload(creds: &Creds, config: &ClientConfig) -> Option<Vec<u8>> {
    let payload = match creds.jid() {
        Some(jid) => login_payload(jid)?,
        None => registration_payload(creds, config),
    };
    Some(payload.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_payload_names_user_and_device() {
        let jid = |text: &str| text.parse::<Jid>().unwrap();
        let p = login_payload(&jid("15551234567:12@s.whatsapp.net")).unwrap();
        assert_eq!(p.username, Some(15551234567));
        assert_eq!(p.device, Some(12));
        assert_eq!(p.passive, Some(true));
        assert_eq!(p.pull, Some(true));
        assert!(p.device_pairing_data.is_none());
        assert!(login_payload(&jid("abc:1@s.whatsapp.net")).is_none());
        assert!(login_payload(&jid("garbage")).is_none());
    }

    #[test]
    fn platform_names_map_to_device_props() {
        assert_eq!(platform_type("Chrome"), device_props::PlatformType::Chrome);
        assert_eq!(
            platform_type("desktop"),
            device_props::PlatformType::Desktop
        );
        assert_eq!(platform_type("lynx"), device_props::PlatformType::Unknown);
    }
}
