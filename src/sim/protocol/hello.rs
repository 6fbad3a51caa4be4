//! What a connecting client asks for in its `ClientPayload` (the last
//! Noise handshake message): to register a new companion (pairing) or to
//! log in as a linked one.
//!
//! Owns: reading and checking the payload, and the [`Registration`] a
//! pairing companion presents. Pure: bytes in, values out. Must not touch:
//! state or sockets (`network::conn` acts on the answer).

use prost::Message as _;

use crate::crypto::xeddsa_verify;
use crate::proto::client_payload::DevicePairingRegistrationData;
use crate::proto::ClientPayload;
use crate::signal::DJB_KEY_TYPE;

/// A signed prekey as registered or uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPreKey {
    pub id: u32,
    pub public: [u8; 32],
    pub signature: [u8; 64],
}

/// What a companion registered in its pairing `ClientPayload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The Noise static key of the registering connection.
    pub noise_key: [u8; 32],
    pub identity_key: [u8; 32],
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
}

/// What the client's `ClientPayload` asks for.
#[derive(Debug, PartialEq)]
pub enum Hello {
    Register(Registration),
    Login { username: u64, device: u32 },
}

/// Classifies the handshake payload; `Err` is why it is unacceptable.
pub fn classify_payload(noise_key: [u8; 32], payload: &[u8]) -> Result<Hello, String> {
    let payload =
        ClientPayload::decode(payload).map_err(|e| format!("undecodable ClientPayload: {e}"))?;
    if let Some(username) = payload.username {
        let device = payload.device.unwrap_or(0);
        if device == 0 {
            return Err("login for device 0 (the phone itself) is not a companion".into());
        }
        return Ok(Hello::Login { username, device });
    }
    let data = payload
        .device_pairing_data
        .ok_or("payload has neither username nor devicePairingData")?;
    Ok(Hello::Register(parse_registration(noise_key, &data)?))
}

fn parse_registration(
    noise_key: [u8; 32],
    data: &DevicePairingRegistrationData,
) -> Result<Registration, String> {
    fn field<'a>(v: &'a Option<Vec<u8>>, name: &str, len: usize) -> Result<&'a [u8], String> {
        match v.as_deref() {
            Some(b) if b.len() == len => Ok(b),
            Some(b) => Err(format!("{name} has {} bytes, expected {len}", b.len())),
            None => Err(format!("{name} missing")),
        }
    }
    let regid = field(&data.e_regid, "eRegid", 4)?;
    if field(&data.e_keytype, "eKeytype", 1)? != [DJB_KEY_TYPE] {
        return Err("eKeytype is not 5 (Curve25519)".into());
    }
    let identity_key: [u8; 32] = to_array(field(&data.e_ident, "eIdent", 32)?);
    let skey_id = field(&data.e_skey_id, "eSkeyId", 3)?;
    let skey_val: [u8; 32] = to_array(field(&data.e_skey_val, "eSkeyVal", 32)?);
    let skey_sig: [u8; 64] = to_array(field(&data.e_skey_sig, "eSkeySig", 64)?);
    // Signal signs the serialized public key: type byte, then the key.
    let signed = [&[DJB_KEY_TYPE][..], &skey_val].concat();
    if !xeddsa_verify(&identity_key, &signed, &skey_sig) {
        return Err("signed prekey signature does not verify with eIdent".into());
    }
    Ok(Registration {
        noise_key,
        identity_key,
        registration_id: u32::from_be_bytes(to_array(regid)),
        signed_prekey: SignedPreKey {
            id: u32::from_be_bytes([0, skey_id[0], skey_id[1], skey_id[2]]),
            public: skey_val,
            signature: skey_sig,
        },
    })
}

/// Infallible once the length has been checked.
fn to_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyPair;

    fn registration_data(identity: &KeyPair, skey: &KeyPair) -> DevicePairingRegistrationData {
        let signed = [&[DJB_KEY_TYPE][..], &skey.public].concat();
        DevicePairingRegistrationData {
            e_regid: Some(1234u32.to_be_bytes().to_vec()),
            e_keytype: Some(vec![DJB_KEY_TYPE]),
            e_ident: Some(identity.public.to_vec()),
            e_skey_id: Some(vec![0, 0, 1]),
            e_skey_val: Some(skey.public.to_vec()),
            e_skey_sig: Some(identity.sign(&signed).to_vec()),
            build_hash: None,
            device_props: None,
        }
    }

    #[test]
    fn registration_payload_is_read_and_its_prekey_signature_checked() {
        let identity = KeyPair::generate();
        let skey = KeyPair::generate();
        let payload = ClientPayload {
            device_pairing_data: Some(registration_data(&identity, &skey)),
            ..Default::default()
        };
        let hello = classify_payload([7; 32], &payload.encode_to_vec()).unwrap();
        let Hello::Register(reg) = hello else {
            panic!("expected a registration, got {hello:?}")
        };
        assert_eq!(reg.noise_key, [7; 32]);
        assert_eq!(reg.identity_key, identity.public);
        assert_eq!(reg.registration_id, 1234);
        assert_eq!(reg.signed_prekey.id, 1);

        let mut forged = registration_data(&identity, &skey);
        forged.e_skey_sig = Some(KeyPair::generate().sign(&skey.public).to_vec());
        let payload = ClientPayload {
            device_pairing_data: Some(forged),
            ..Default::default()
        };
        let err = classify_payload([7; 32], &payload.encode_to_vec()).unwrap_err();
        assert!(err.contains("signature"), "{err}");
    }

    #[test]
    fn login_payloads_and_garbage_are_classified() {
        let login = ClientPayload {
            username: Some(15550001111),
            device: Some(3),
            ..Default::default()
        };
        assert_eq!(
            classify_payload([0; 32], &login.encode_to_vec()),
            Ok(Hello::Login {
                username: 15550001111,
                device: 3
            })
        );
        let phone_itself = ClientPayload {
            username: Some(15550001111),
            ..Default::default()
        };
        assert!(classify_payload([0; 32], &phone_itself.encode_to_vec()).is_err());
        assert!(classify_payload([0; 32], &ClientPayload::default().encode_to_vec()).is_err());
        assert!(classify_payload([0; 32], &[0xff, 0xff, 0xff]).is_err());
        let short = ClientPayload {
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(vec![1]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = classify_payload([0; 32], &short.encode_to_vec()).unwrap_err();
        assert!(err.contains("eRegid"), "{err}");
    }
}
