//! The phone's half of the linking-code key exchange: answering a typed
//! code with its `primary_hello`, then opening the companion's key bundle
//! and deriving the ADV secret the companion derived.
//!
//! Owns: [`PrimaryPending`] (the phone's state between the two steps) and
//! [`PairCodeLinked`] (what it learns). Pure. Must not touch: the flow's
//! bookkeeping (`linking`) or sockets.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

use super::code::{canonical_code, open_with_code, seal_with_code};
use super::error::{bad, SimPairCodeError};
use super::stanzas::{parse_companion_finish, CompanionHelloRequest, REG, WRAPPED_BUNDLE_LEN};
use crate::crypto::{hkdf_sha256, KeyPair};
use crate::sim::protocol::stanzas::server_jid;
use crate::wire::Node;

/// Source: wacore `prepare_key_bundle`, whatsmeow `handleCodePairNotification`.
pub(super) const BUNDLE_KEY_LABEL: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
const ADV_SECRET_LABEL: &[u8] = b"adv_secret";

/// The phone's state between its `primary_hello` and the companion's
/// `companion_finish`.
pub struct PrimaryPending {
    /// Digits of the account's phone number.
    pub phone: String,
    pub link_ref: Vec<u8>,
    pub companion_noise_pub: [u8; 32],
    pub platform_display: String,
    /// The companion's ephemeral key as the typed code decrypted it (a
    /// different key altogether when the code was wrong).
    companion_ephemeral: [u8; 32],
    phone_ephemeral: KeyPair,
    phone_identity: KeyPair,
}

impl std::fmt::Debug for PrimaryPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrimaryPending")
            .field("phone", &self.phone)
            .field("link_ref", &String::from_utf8_lossy(&self.link_ref))
            .finish_non_exhaustive()
    }
}

/// The phone's user typed `code` for the pending request `req`: decrypt the
/// companion's ephemeral key with it, make the phone's ephemeral key, wrap
/// it with the same code and build the notification for the companion:
///
/// ```text
/// <notification from="s.whatsapp.net" type="link_code_companion_reg" id=NOTIFICATION_ID>
///   <link_code_companion_reg stage="primary_hello">
///     <link_code_pairing_wrapped_primary_ephemeral_pub>80 bytes
///     <primary_identity_pub>the phone's identity public key
///     <link_code_pairing_ref>REF
/// ```
///
/// A mistyped code cannot be noticed here (AES-CTR has no tag); it
/// surfaces in [`primary_finish`] as [`SimPairCodeError::BundleRejected`].
/// Add a `t` attribute if the caller's notifications carry one.
pub fn primary_hello(
    code: &str,
    req: &CompanionHelloRequest,
    phone_identity: &KeyPair,
    link_ref: &[u8],
    notification_id: &str,
) -> Result<(PrimaryPending, Node), SimPairCodeError> {
    let code = canonical_code(code)?;
    let companion_ephemeral = open_with_code(&code, &req.wrapped_companion_ephemeral);
    let phone_ephemeral = KeyPair::generate();
    let wrapped = seal_with_code(&code, &phone_ephemeral.public);
    let notification = Node::new("notification")
        .attr("from", server_jid())
        .attr("type", REG)
        .attr("id", notification_id)
        .children(vec![Node::new(REG)
            .attr("stage", "primary_hello")
            .children(vec![
                Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                    .bytes(wrapped.to_vec()),
                Node::new("primary_identity_pub").bytes(phone_identity.public.to_vec()),
                Node::new("link_code_pairing_ref").bytes(link_ref.to_vec()),
            ])]);
    let pending = PrimaryPending {
        phone: req.phone.clone(),
        link_ref: link_ref.to_vec(),
        companion_noise_pub: req.companion_noise_pub,
        platform_display: req.platform_display.clone(),
        companion_ephemeral,
        phone_ephemeral,
        phone_identity: phone_identity.clone(),
    };
    Ok((pending, notification))
}

/// A device linked by code, as the phone learnt it.
#[derive(Clone, PartialEq, Eq)]
pub struct PairCodeLinked {
    pub phone: String,
    pub companion_identity_pub: [u8; 32],
    pub companion_noise_pub: [u8; 32],
    pub platform_display: String,
    /// Keys the HMAC of the `pair-success` the server sends next.
    pub adv_secret: [u8; 32],
}

impl std::fmt::Debug for PairCodeLinked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The ADV secret stays out of logs.
        f.debug_struct("PairCodeLinked")
            .field("phone", &self.phone)
            .field(
                "companion_identity_pub",
                &hex::encode(self.companion_identity_pub),
            )
            .field("platform_display", &self.platform_display)
            .finish_non_exhaustive()
    }
}

/// The phone opens the companion's key bundle and derives the ADV secret.
///
/// The bundle is `salt ‖ nonce ‖ AES-256-GCM(key, nonce, companion identity
/// ‖ phone identity ‖ 32 random bytes)` with key = HKDF-SHA256(ephemeral
/// DH, salt, "link_code_pairing_key_bundle_encryption_key"), no associated
/// data. Both identities in it must match the stanza and this phone. The
/// ADV secret is HKDF-SHA256(ephemeral DH ‖ identity DH ‖ random, no salt,
/// "adv_secret"): the same 32 bytes the companion derived.
pub fn primary_finish(
    pending: &PrimaryPending,
    finish_iq: &Node,
) -> Result<PairCodeLinked, SimPairCodeError> {
    let finish = parse_companion_finish(finish_iq)?;
    if finish.phone != pending.phone {
        return Err(SimPairCodeError::WrongFlow("phone number"));
    }
    if finish.link_ref != pending.link_ref {
        return Err(SimPairCodeError::WrongFlow("pairing ref"));
    }
    let ephemeral_dh = pending.phone_ephemeral.dh(&pending.companion_ephemeral);
    if ephemeral_dh.iter().all(|b| *b == 0) {
        return Err(SimPairCodeError::WeakCompanionKey);
    }
    let bundle = open_bundle(&ephemeral_dh, &finish.wrapped_key_bundle)?;
    let (companion_in_bundle, rest) = bundle.split_at(32);
    let (phone_in_bundle, random) = rest.split_at(32);
    if companion_in_bundle != finish.companion_identity_pub {
        return Err(SimPairCodeError::IdentityMismatch("companion"));
    }
    if phone_in_bundle != pending.phone_identity.public {
        return Err(SimPairCodeError::IdentityMismatch("phone"));
    }
    let identity_dh = pending.phone_identity.dh(&finish.companion_identity_pub);
    let mut ikm = Vec::with_capacity(96);
    ikm.extend_from_slice(&ephemeral_dh);
    ikm.extend_from_slice(&identity_dh);
    ikm.extend_from_slice(random);
    // HKDF without salt (RFC 5869: a zero-filled salt; an empty HMAC key
    // is the same key).
    let adv_secret = hkdf_sha256::<32>(&ikm, b"", ADV_SECRET_LABEL);
    Ok(PairCodeLinked {
        phone: pending.phone.clone(),
        companion_identity_pub: finish.companion_identity_pub,
        companion_noise_pub: pending.companion_noise_pub,
        platform_display: pending.platform_display.clone(),
        adv_secret,
    })
}

fn open_bundle(ephemeral_dh: &[u8; 32], wrapped: &[u8]) -> Result<Vec<u8>, SimPairCodeError> {
    if wrapped.len() != WRAPPED_BUNDLE_LEN {
        return Err(bad("wrapped key bundle has the wrong length"));
    }
    let (salt, rest) = wrapped.split_at(32);
    let (nonce, sealed) = rest.split_at(12);
    let key = hkdf_sha256::<32>(ephemeral_dh, salt, BUNDLE_KEY_LABEL);
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| SimPairCodeError::BundleRejected)?;
    cipher
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| SimPairCodeError::BundleRejected)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{
        finish_iq, finish_iq_with, good_hello_children, hello_iq, hello_iq_with, PHONE,
    };
    use super::super::stanzas::parse_companion_hello;
    use super::*;
    use proptest::prelude::*;

    /// One primary_hello (two PBKDF2 runs) shared by the finish tests.
    struct Flow {
        companion_ephemeral: KeyPair,
        phone_identity: KeyPair,
        pending: PrimaryPending,
        notification: Node,
    }

    fn flow(typed_code: &str) -> Flow {
        let companion_ephemeral = KeyPair::generate();
        let req =
            parse_companion_hello(&hello_iq("ABCDEFGH", &companion_ephemeral.public)).unwrap();
        let phone_identity = KeyPair::generate();
        let (pending, notification) =
            primary_hello(typed_code, &req, &phone_identity, b"REF", "n1").unwrap();
        Flow {
            companion_ephemeral,
            phone_identity,
            pending,
            notification,
        }
    }

    #[test]
    fn finish_derives_the_companions_adv_secret_and_rejects_bad_bundles() {
        let f = flow("abcd-efgh");
        // The notification, read by hand.
        assert_eq!(f.notification.tag, "notification");
        assert_eq!(f.notification.get_attr("type"), Some(REG));
        assert_eq!(f.notification.get_attr("id"), Some("n1"));
        let reg = f.notification.child(REG).unwrap();
        assert_eq!(reg.get_attr("stage"), Some("primary_hello"));
        let field = |tag| reg.child(tag).unwrap().content_bytes().unwrap();
        assert_eq!(field("primary_identity_pub"), f.phone_identity.public);
        assert_eq!(field("link_code_pairing_ref"), b"REF");
        let wrapped: [u8; 80] = field("link_code_pairing_wrapped_primary_ephemeral_pub")
            .try_into()
            .unwrap();
        let phone_ephemeral = open_with_code("ABCDEFGH", &wrapped);

        // The companion's derivation, from the spec.
        let companion_identity = KeyPair::generate();
        let ephemeral_dh = f.companion_ephemeral.dh(&phone_ephemeral);
        let random = [0x5au8; 32];
        let ikm = [
            &ephemeral_dh[..],
            &companion_identity.dh(&f.phone_identity.public)[..],
            &random[..],
        ]
        .concat();
        let expected = hkdf_sha256::<32>(&ikm, &[0u8; 32], b"adv_secret");

        let finish = finish_iq(
            &ephemeral_dh,
            &companion_identity,
            &f.phone_identity.public,
            b"REF",
            &random,
        );
        let linked = primary_finish(&f.pending, &finish).unwrap();
        assert_eq!(linked.adv_secret, expected);
        assert_eq!(linked.companion_identity_pub, companion_identity.public);
        assert_eq!(linked.companion_noise_pub, [5; 32]);
        assert_eq!(linked.phone, PHONE);
        assert!(!format!("{linked:?}").contains(&hex::encode(expected)));

        // Another ref, another bundle key, another phone identity.
        let other_ref = finish_iq(
            &ephemeral_dh,
            &companion_identity,
            &f.phone_identity.public,
            b"X",
            &random,
        );
        assert_eq!(
            primary_finish(&f.pending, &other_ref),
            Err(SimPairCodeError::WrongFlow("pairing ref"))
        );
        let other_key = finish_iq(
            &[1; 32],
            &companion_identity,
            &f.phone_identity.public,
            b"REF",
            &random,
        );
        assert_eq!(
            primary_finish(&f.pending, &other_key),
            Err(SimPairCodeError::BundleRejected)
        );
        let other_phone = finish_iq(
            &ephemeral_dh,
            &companion_identity,
            &[8; 32],
            b"REF",
            &random,
        );
        assert_eq!(
            primary_finish(&f.pending, &other_phone),
            Err(SimPairCodeError::IdentityMismatch("phone"))
        );

        // A bundle naming another companion than the stanza.
        let mut swapped = finish.clone();
        if let crate::wire::Content::Nodes(regs) = &mut swapped.content {
            if let crate::wire::Content::Nodes(children) = &mut regs[0].content {
                children[1] = Node::new("companion_identity_public").bytes(vec![9; 32]);
            }
        }
        assert_eq!(
            primary_finish(&f.pending, &swapped),
            Err(SimPairCodeError::IdentityMismatch("companion"))
        );
    }

    #[test]
    fn a_mistyped_code_is_caught_when_the_bundle_does_not_open() {
        let f = flow("ABCDEFGJ");
        let reg = f.notification.child(REG).unwrap();
        let wrapped: [u8; 80] = reg
            .child("link_code_pairing_wrapped_primary_ephemeral_pub")
            .and_then(Node::content_bytes)
            .unwrap()
            .try_into()
            .unwrap();
        // The companion unwraps with its own (right) code.
        let phone_ephemeral = open_with_code("ABCDEFGH", &wrapped);
        let ephemeral_dh = f.companion_ephemeral.dh(&phone_ephemeral);
        let companion_identity = KeyPair::generate();
        let finish = finish_iq(
            &ephemeral_dh,
            &companion_identity,
            &f.phone_identity.public,
            b"REF",
            &[0; 32],
        );
        assert_eq!(
            primary_finish(&f.pending, &finish),
            Err(SimPairCodeError::BundleRejected)
        );
    }

    #[test]
    fn a_bad_typed_code_is_refused_before_any_work() {
        let req = parse_companion_hello(&hello_iq_with(good_hello_children())).unwrap();
        let err = primary_hello("1234", &req, &KeyPair::generate(), b"R", "n").unwrap_err();
        assert_eq!(err, SimPairCodeError::BadCode);
    }

    fn finish_with_bundle(bundle: Vec<u8>) -> Node {
        finish_iq_with(bundle, &[1; 32], b"REF")
    }

    /// A pending flow made without PBKDF2, for the fuzz-style test below.
    fn cheap_pending() -> PrimaryPending {
        PrimaryPending {
            phone: PHONE.into(),
            link_ref: b"REF".to_vec(),
            companion_noise_pub: [0; 32],
            platform_display: "Chrome (Linux)".into(),
            companion_ephemeral: KeyPair::generate().public,
            phone_ephemeral: KeyPair::generate(),
            phone_identity: KeyPair::generate(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn garbage_bundles_are_errors_not_panics(bundle in proptest::collection::vec(any::<u8>(), 0..200)) {
            let len = bundle.len();
            let result = primary_finish(&cheap_pending(), &finish_with_bundle(bundle));
            match result {
                Err(SimPairCodeError::BadRequest(_)) => prop_assert_ne!(len, WRAPPED_BUNDLE_LEN),
                Err(SimPairCodeError::BundleRejected) => prop_assert_eq!(len, WRAPPED_BUNDLE_LEN),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
