//! Verifying the phone's `<pair-success>` and answering it.
//!
//! Protocol facts (whatsmeow `pair.go`, wacore-0.7.0 `pair.rs`):
//! - `<device-identity>` holds an `ADVSignedDeviceIdentityHMAC` whose
//!   HMAC-SHA256 under the ADV secret covers `details` (prefixed with
//!   [6, 5] for hosted accounts);
//! - `details` is an `ADVSignedDeviceIdentity`; its account signature is
//!   XEdDSA by `accountSignatureKey` over [6, 0] ++ details ++ our identity
//!   public key ([6, 5] when hosted);
//! - we add a device signature over [6, 1] ++ details ++ identity public ++
//!   accountSignatureKey ([6, 6] when hosted) and send the identity back
//!   without the account signature key, tagged with the `keyIndex` of the
//!   inner `ADVDeviceIdentity`;
//! - a bad HMAC or signature is answered with iq error 401 "not-authorized",
//!   an unreadable message with 500 "internal-error".

use prost::Message;
use subtle::ConstantTimeEq;

use super::state::Pairing;
use crate::client::core::{Action, Ctx, Ending, Phase};
use crate::client::creds::{Creds, PairedIdentity};
use crate::client::events::{Event, Status};
use crate::client::ClientError;
use crate::crypto::{hmac_sha256, xeddsa_verify};
use crate::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};
use crate::types::Jid;
use crate::wire::Node;

const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
const HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 5];
const HOSTED_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 6];

/// Why a pair-success was refused, and the iq error that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRejection {
    pub code: u16,
    pub text: &'static str,
    pub detail: String,
}

impl PairRejection {
    fn internal(detail: impl Into<String>) -> Self {
        PairRejection {
            code: 500,
            text: "internal-error",
            detail: detail.into(),
        }
    }
    fn unauthorized(detail: impl Into<String>) -> Self {
        PairRejection {
            code: 401,
            text: "not-authorized",
            detail: detail.into(),
        }
    }
}

/// A verified pairing: what to store and what to send back.
#[derive(Debug, Clone)]
pub struct VerifiedPairing {
    pub identity: PairedIdentity,
    /// The phone says the account's 1:1 chats are on LID
    /// (`<client-props>`: `ClientPairingProps.isChatDbLidMigrated`;
    /// whatsapp-rust `pair.rs`).
    pub lid_migrated: bool,
    /// Encoded `ADVSignedDeviceIdentity` for `<pair-device-sign>`.
    pub reply_identity: Vec<u8>,
    pub key_index: u32,
}

/// Checks the `<pair-success>` child of a pairing iq against our keys.
/// Pure: nothing is stored, nothing is sent.
pub fn verify_pair_success(
    creds: &Creds,
    pair_success: &Node,
) -> Result<VerifiedPairing, PairRejection> {
    let container_bytes = pair_success
        .child("device-identity")
        .and_then(Node::content_bytes)
        .ok_or_else(|| PairRejection::internal("pair-success has no device-identity"))?;
    let container = AdvSignedDeviceIdentityHmac::decode(container_bytes)
        .map_err(|e| PairRejection::internal(format!("bad device identity container: {e}")))?;
    let hosted = container.account_type == Some(AdvEncryptionType::Hosted as i32);
    let details = container.details.as_deref().unwrap_or_default();
    let their_hmac = container.hmac.as_deref().unwrap_or_default();

    let hmac_prefix: &[u8] = if hosted {
        &HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        &[]
    };
    let our_hmac = hmac_sha256(&creds.adv_secret_key, &[hmac_prefix, details]);
    if !bool::from(our_hmac.as_slice().ct_eq(their_hmac)) {
        return Err(PairRejection::unauthorized(
            "device identity HMAC does not match our ADV secret",
        ));
    }

    let mut signed = AdvSignedDeviceIdentity::decode(details)
        .map_err(|e| PairRejection::internal(format!("bad signed device identity: {e}")))?;
    let inner = signed.details.clone().unwrap_or_default();
    let account_key: [u8; 32] = signed
        .account_signature_key
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| PairRejection::unauthorized("account signature key is not 32 bytes"))?;
    let account_signature: [u8; 64] = signed
        .account_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| PairRejection::unauthorized("account signature is not 64 bytes"))?;

    let (account_prefix, device_prefix) = if hosted {
        (
            HOSTED_ACCOUNT_SIGNATURE_PREFIX,
            HOSTED_DEVICE_SIGNATURE_PREFIX,
        )
    } else {
        (ACCOUNT_SIGNATURE_PREFIX, DEVICE_SIGNATURE_PREFIX)
    };
    let identity_public = creds.identity_key.public;
    let signed_message = [&account_prefix[..], &inner, &identity_public].concat();
    if !xeddsa_verify(&account_key, &signed_message, &account_signature) {
        return Err(PairRejection::unauthorized(
            "account signature over the device identity is invalid",
        ));
    }

    let device_identity = AdvDeviceIdentity::decode(inner.as_slice())
        .map_err(|e| PairRejection::internal(format!("bad device identity details: {e}")))?;
    let key_index = device_identity.key_index.unwrap_or(0);

    let (jid, lid) = device_jids(pair_success)?;

    let to_sign = [&device_prefix[..], &inner, &identity_public, &account_key].concat();
    signed.device_signature = Some(creds.identity_key.sign(&to_sign).to_vec());
    let account = signed.encode_to_vec();
    // The server already knows the account key; the reply leaves it out.
    signed.account_signature_key = None;
    let reply_identity = signed.encode_to_vec();

    let attr_of = |tag: &str, key: &str| {
        pair_success
            .child(tag)
            .and_then(|n| n.get_attr(key))
            .unwrap_or_default()
            .to_string()
    };
    let lid_migrated = pair_success
        .child("client-props")
        .and_then(Node::content_bytes)
        .and_then(|b| crate::proto::ClientPairingProps::decode(b).ok())
        .and_then(|p| p.is_chat_db_lid_migrated)
        .unwrap_or(false);
    Ok(VerifiedPairing {
        lid_migrated,
        identity: PairedIdentity {
            jid,
            lid,
            account,
            platform: attr_of("platform", "name"),
            business_name: attr_of("biz", "name"),
        },
        reply_identity,
        key_index,
    })
}

/// Our new device JID (a numeric user: it becomes the login payload's
/// username) and LID from `<device jid lid>`.
fn device_jids(pair_success: &Node) -> Result<(Jid, Option<Jid>), PairRejection> {
    let device = pair_success
        .child("device")
        .ok_or_else(|| PairRejection::internal("pair-success has no device"))?;
    let jid = device
        .get_attr("jid")
        .and_then(|j| Jid::parse(j).ok())
        .filter(|j| j.user.parse::<u64>().is_ok())
        .ok_or_else(|| PairRejection::internal("pair-success device jid is missing or invalid"))?;
    let lid = device
        .get_attr("lid")
        .and_then(|l| Jid::parse(l).ok())
        .filter(|l| !l.user.is_empty());
    Ok((jid, lid))
}

/// `<iq type="result"><pair-device-sign><device-identity key-index>`.
pub fn pair_sign_reply(iq_id: &str, pairing: &VerifiedPairing) -> Node {
    Node::new("iq")
        .attr("to", Jid::server().to_string())
        .attr("type", "result")
        .attr("id", iq_id)
        .children(vec![Node::new("pair-device-sign").children(vec![
            Node::new("device-identity")
                .attr("key-index", pairing.key_index.to_string())
                .bytes(pairing.reply_identity.clone()),
        ])])
}

/// `<iq type="error"><error code text/></iq>` refusing a pairing.
pub fn pair_error_reply(iq_id: &str, rejection: &PairRejection) -> Node {
    Node::new("iq")
        .attr("to", Jid::server().to_string())
        .attr("type", "error")
        .attr("id", iq_id)
        .children(vec![Node::new("error")
            .attr("code", rejection.code.to_string())
            .attr("text", rejection.text)])
}

impl Pairing {
    /// `<pair-success>`: the phone linked us. Verified before anything is
    /// stored; a forged one stores nothing and ends the attempt.
    pub(super) fn on_pair_success(
        &mut self,
        ctx: &mut Ctx,
        iq: &Node,
        pair_success: &Node,
    ) -> Vec<Action> {
        let id = iq.get_attr("id").unwrap_or_default();
        if ctx.creds.paired.is_some() {
            tracing::warn!("pair-success for an already linked device; ignored");
            return Vec::new();
        }
        self.qr = None;
        match verify_pair_success(&ctx.creds, pair_success) {
            Ok(pairing) => {
                let reply = pair_sign_reply(id, &pairing);
                let jid = pairing.identity.jid.clone();
                let creds = &mut ctx.creds;
                if !pairing.identity.business_name.is_empty() && creds.push_name.is_empty() {
                    creds.push_name = pairing.identity.business_name.clone();
                }
                creds.paired = Some(pairing.identity);
                creds.lid_migrated |= pairing.lid_migrated;
                // A new link starts with no prekeys on the server.
                creds.first_unuploaded_prekey_id = creds.next_prekey_id;
                ctx.phase = Phase::Paired;
                if let Some(flow) = self.code.take() {
                    flow.fail(ClientError::AlreadyLinked);
                }
                vec![
                    Action::SaveCreds,
                    Action::Send(reply),
                    Action::Status(Status::Connecting),
                    Action::Emit(Event::Paired { jid }),
                ]
            }
            Err(rejection) => {
                tracing::warn!(detail = %rejection.detail, "pair-success rejected");
                if let Some(flow) = self.code.take() {
                    flow.fail(ClientError::Pairing(rejection.detail.clone()));
                }
                vec![
                    Action::Send(pair_error_reply(id, &rejection)),
                    Action::End(Ending::Stop {
                        failed: true,
                        reason: format!("pairing failed: {}", rejection.detail),
                        done: None,
                    }),
                ]
            }
        }
    }
}

/// Test helpers acting as the phone: build what a primary device sends.
#[cfg(test)]
pub(crate) mod phone {
    use super::*;
    use crate::crypto::KeyPair;

    /// A `<pair-success>` node for `creds`, signed by `account` and MACed
    /// with `adv_secret`.
    pub fn pair_success(
        creds: &Creds,
        account: &KeyPair,
        adv_secret: &[u8; 32],
        key_index: u32,
    ) -> Node {
        let inner = AdvDeviceIdentity {
            raw_id: Some(42),
            timestamp: Some(1_700_000_000),
            key_index: Some(key_index),
            account_type: Some(AdvEncryptionType::E2ee as i32),
            device_type: Some(AdvEncryptionType::E2ee as i32),
        }
        .encode_to_vec();
        let msg = [
            &ACCOUNT_SIGNATURE_PREFIX[..],
            &inner,
            &creds.identity_key.public,
        ]
        .concat();
        let signed = AdvSignedDeviceIdentity {
            details: Some(inner),
            account_signature_key: Some(account.public.to_vec()),
            account_signature: Some(account.sign(&msg).to_vec()),
            device_signature: None,
        }
        .encode_to_vec();
        let hmac = hmac_sha256(adv_secret, &[&signed]);
        let container = AdvSignedDeviceIdentityHmac {
            details: Some(signed),
            hmac: Some(hmac.to_vec()),
            account_type: Some(AdvEncryptionType::E2ee as i32),
        }
        .encode_to_vec();
        pair_success_node(container)
    }

    pub fn pair_success_node(container: Vec<u8>) -> Node {
        Node::new("pair-success").children(vec![
            Node::new("device-identity").bytes(container),
            Node::new("platform").attr("name", "android"),
            Node::new("biz").attr("name", ""),
            Node::new("device")
                .attr("jid", "15551234567:7@s.whatsapp.net")
                .attr("lid", "88776655:7@lid"),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::phone::*;
    use super::*;
    use crate::client::creds::tests_support::creds_without_signature;
    use crate::crypto::KeyPair;

    fn container(node: &Node) -> AdvSignedDeviceIdentityHmac {
        let bytes = node
            .child("device-identity")
            .unwrap()
            .content_bytes()
            .unwrap();
        AdvSignedDeviceIdentityHmac::decode(bytes).unwrap()
    }

    #[test]
    fn wrong_adv_secret_is_rejected_before_any_signature_work() {
        let creds = creds_without_signature();
        // The HMAC check needs no XEdDSA, so this runs before the signature
        // code exists: build the container by hand with a bogus signature.
        let signed = AdvSignedDeviceIdentity {
            details: Some(vec![1, 2, 3]),
            account_signature_key: Some(vec![0; 32]),
            account_signature: Some(vec![0; 64]),
            device_signature: None,
        }
        .encode_to_vec();
        let hmac = hmac_sha256(&[0xAB; 32], &[&signed]);
        let node = pair_success_node(
            AdvSignedDeviceIdentityHmac {
                details: Some(signed),
                hmac: Some(hmac.to_vec()),
                account_type: None,
            }
            .encode_to_vec(),
        );
        let err = verify_pair_success(&creds, &node).unwrap_err();
        assert_eq!((err.code, err.text), (401, "not-authorized"));
    }

    #[test]
    fn garbage_and_missing_identity_are_internal_errors() {
        let creds = creds_without_signature();
        let err = verify_pair_success(&creds, &pair_success_node(vec![0xFF; 7])).unwrap_err();
        assert_eq!(err.code, 500);
        let err = verify_pair_success(&creds, &Node::new("pair-success")).unwrap_err();
        assert_eq!(err.code, 500);
        let reply = pair_error_reply("abc", &err);
        assert_eq!(reply.get_attr("type"), Some("error"));
        assert_eq!(reply.child("error").unwrap().get_attr("code"), Some("500"));
    }

    #[test]
    fn valid_pair_success_is_accepted_and_countersigned() {
        let creds = creds_without_signature();
        let account = KeyPair::generate();
        let node = pair_success(&creds, &account, &creds.adv_secret_key, 3);
        let ok = verify_pair_success(&creds, &node).unwrap();
        assert_eq!(ok.key_index, 3);
        assert_eq!(ok.identity.jid.to_string(), "15551234567:7@s.whatsapp.net");
        assert_eq!(
            ok.identity.lid.as_ref().map(|l| l.to_string()).as_deref(),
            Some("88776655:7@lid")
        );
        assert_eq!(ok.identity.platform, "android");

        let reply = AdvSignedDeviceIdentity::decode(ok.reply_identity.as_slice()).unwrap();
        assert!(reply.account_signature_key.is_none());
        let stored = AdvSignedDeviceIdentity::decode(ok.identity.account.as_slice()).unwrap();
        assert_eq!(
            stored.account_signature_key.as_deref(),
            Some(&account.public[..])
        );
        let inner = stored.details.unwrap();
        let msg = [
            &[6u8, 1][..],
            &inner,
            &creds.identity_key.public,
            &account.public,
        ]
        .concat();
        let sig: [u8; 64] = reply.device_signature.unwrap().try_into().unwrap();
        assert!(xeddsa_verify(&creds.identity_key.public, &msg, &sig));

        let iq = pair_sign_reply("id1", &ok);
        let di = iq
            .child("pair-device-sign")
            .unwrap()
            .child("device-identity")
            .unwrap();
        assert_eq!(di.get_attr("key-index"), Some("3"));
    }

    #[test]
    fn flipped_hmac_or_signature_is_rejected() {
        let creds = creds_without_signature();
        let account = KeyPair::generate();
        let good = pair_success(&creds, &account, &creds.adv_secret_key, 0);

        let mut c = container(&good);
        if let Some(h) = c.hmac.as_mut() {
            h[0] ^= 1;
        }
        let err = verify_pair_success(&creds, &pair_success_node(c.encode_to_vec())).unwrap_err();
        assert_eq!((err.code, err.text), (401, "not-authorized"));
        assert!(err.detail.contains("HMAC"));

        // Flip a signature byte and re-MAC, as a forger holding the ADV
        // secret but not the account key would.
        let c = container(&good);
        let mut signed = AdvSignedDeviceIdentity::decode(c.details.as_deref().unwrap()).unwrap();
        if let Some(s) = signed.account_signature.as_mut() {
            s[10] ^= 1;
        }
        let details = signed.encode_to_vec();
        let forged = AdvSignedDeviceIdentityHmac {
            hmac: Some(hmac_sha256(&creds.adv_secret_key, &[&details]).to_vec()),
            details: Some(details),
            account_type: c.account_type,
        };
        let err =
            verify_pair_success(&creds, &pair_success_node(forged.encode_to_vec())).unwrap_err();
        assert_eq!((err.code, err.text), (401, "not-authorized"));
        assert!(err.detail.contains("signature"));

        // Signed for another device's identity key.
        let other = creds_without_signature();
        let foreign = pair_success(&other, &account, &creds.adv_secret_key, 0);
        assert!(verify_pair_success(&creds, &foreign).is_err());
    }
}
