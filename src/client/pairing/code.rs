//! Linking by phone number: the companion side of the 8-character
//! "link code" flow, the second way (after the QR code) to pair a device.
//!
//! Owns: the linking code, the companion's ephemeral key and its wrapping,
//! the `companion_hello` / `companion_finish` stanzas, the key bundle, and
//! the ADV secret this flow derives. Pure: stanza [`Node`]s in, stanzas and
//! key material out. Must not touch: sockets, tasks, clocks, the store; the
//! session's run loop owns those (and the timers listed below).
//!
//! How a run loop drives it:
//! 1. [`PhoneNumber::parse`] the number the user gave (clear error if bad).
//! 2. [`companion_hello`] → a [`CompanionHello`] (code + wrapped ephemeral).
//!    It runs PBKDF2 with 2^17 rounds: call it from `spawn_blocking`.
//! 3. Send [`companion_hello_iq`]; feed the answer to
//!    [`parse_companion_hello_result`] to get the pairing ref. Show the user
//!    [`CompanionHello::display_code`] (the `pair_code` event) for at most
//!    [`CODE_VALIDITY`].
//! 4. When a `<notification type="link_code_companion_reg">` arrives
//!    ([`is_pair_code_notification`]), ack it, then [`parse_notification`].
//!    For [`PairCodeNotification::PrimaryHello`], call [`companion_finish`]
//!    (PBKDF2 again: `spawn_blocking`), REPLACE the stored ADV secret with
//!    [`CompanionFinish::adv_secret`], then send [`CompanionFinish::iq`].
//!    Accept at most [`MAX_PRIMARY_HELLO_ATTEMPTS`] per code.
//! 5. The ordinary `pair-success` flow follows, exactly as for QR pairing,
//!    with its HMAC keyed by that new ADV secret. If no `pair-success` comes
//!    within [`PAIR_SUCCESS_TIMEOUT`], the phone could not open the bundle
//!    (mistyped or superseded code): the phone never tells us, so give up
//!    and offer a new code.
//!
//! Protocol facts come from wacore-0.7.0 `src/pair_code.rs` (whatsapp-rust)
//! and whatsmeow `pair-code.go`; the two agree on every byte used here.

use std::time::Duration;

use aes::cipher::{KeyIvInit, StreamCipher};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

use crate::crypto::{hkdf_sha256, KeyPair};
use crate::types::{Jid, PhoneError, PhoneNumber};
use crate::wire::Node;

/// Linking-code alphabet: Crockford base32 without 0, I, O, U.
/// Source: wacore-0.7.0 pair_code.rs `CROCKFORD_ALPHABET`, whatsmeow `linkingBase32`.
pub const CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// Characters in a linking code (40 bits of entropy).
pub const CODE_LEN: usize = 8;
/// PBKDF2-HMAC-SHA256 rounds turning the code into an AES key.
/// Source: wacore `PAIR_CODE_PBKDF2_ITERATIONS` = 131072, whatsmeow `2<<16`.
pub const PBKDF2_ROUNDS: u32 = 1 << 17;
/// Wrapped ephemeral key: salt (32) ‖ AES-CTR IV (16) ‖ encrypted key (32).
/// Source: wacore `encrypt_ephemeral_pub`, whatsmeow `generateCompanionEphemeralKey`.
pub const WRAPPED_EPHEMERAL_LEN: usize = WRAP_SALT_LEN + WRAP_IV_LEN + 32;
/// How long the server honours a code. Source: wacore `PAIR_CODE_VALIDITY_SECS`.
pub const CODE_VALIDITY: Duration = Duration::from_secs(180);
/// `primary_hello`s handled per code before giving up.
/// Source: wacore `PAIR_CODE_MAX_PRIMARY_HELLO_ATTEMPTS` (WA Web's limit of 3).
pub const MAX_PRIMARY_HELLO_ATTEMPTS: u32 = 3;
/// How long to wait for `pair-success` after answering a `primary_hello`.
/// Source: wacore `PAIR_CODE_PRIMARY_HELLO_PAIR_SUCCESS_TIMEOUT_SECS`.
pub const PAIR_SUCCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// `type` attribute of the server's pair-code notifications.
pub const NOTIFICATION_TYPE: &str = "link_code_companion_reg";

const WRAP_SALT_LEN: usize = 32;
const WRAP_IV_LEN: usize = 16;
const BUNDLE_SALT_LEN: usize = 32;
const BUNDLE_IV_LEN: usize = 12;
/// Source: wacore `prepare_key_bundle`, whatsmeow `handleCodePairNotification`.
const BUNDLE_KEY_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// Source: as above (HKDF info for the ADV secret; no salt).
const ADV_SECRET_INFO: &[u8] = b"adv_secret";
const REG_TAG: &str = "link_code_companion_reg";

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Everything that can go wrong in the linking-code flow, companion side.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PairCodeError {
    #[error("invalid linking code: {0}")]
    InvalidCode(&'static str),
    #[error("invalid phone number: {0}")]
    InvalidPhone(#[from] PhoneError),
    #[error("the server refused the linking-code request: {code} {text}")]
    Refused { code: String, text: String },
    #[error("malformed {stanza}: {problem}")]
    Malformed {
        stanza: &'static str,
        problem: String,
    },
    #[error("unexpected link_code_companion_reg stage {0:?}")]
    UnexpectedStage(String),
    #[error("primary_hello carries another pairing ref (a stale or foreign code)")]
    RefMismatch,
    #[error("the phone's ephemeral key yields no shared secret (low-order point)")]
    WeakPrimaryKey,
    #[error("AES-GCM could not seal the key bundle")]
    Seal,
}

/// A fresh random linking code: 8 characters of [`CODE_ALPHABET`].
pub fn generate_code() -> String {
    let mut random = [0u8; CODE_LEN];
    OsRng.fill_bytes(&mut random);
    random
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b & 0x1f)]))
        .collect()
}

/// Checks a code somebody typed and returns its canonical form: upper
/// case, without the `-` or spaces people add for readability
/// (`abcd-efgh` → `ABCDEFGH`). The canonical form is what PBKDF2 hashes.
pub fn normalize_code(input: &str) -> Result<String, PairCodeError> {
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.chars().count() != CODE_LEN {
        return Err(PairCodeError::InvalidCode("must be 8 characters"));
    }
    if !code.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return Err(PairCodeError::InvalidCode(
            "only 1-9 and A-Z without I, O and U are allowed",
        ));
    }
    Ok(code)
}

/// The key that wraps an ephemeral key: PBKDF2-HMAC-SHA256(code, salt).
fn code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(code.as_bytes(), salt, PBKDF2_ROUNDS, &mut key);
    key
}

/// Encrypts an ephemeral public key under the code, with a fresh salt and
/// IV: `salt ‖ iv ‖ AES-256-CTR(PBKDF2(code, salt), iv, key)`. Slow (PBKDF2).
pub fn wrap_ephemeral(code: &str, public: &[u8; 32]) -> [u8; WRAPPED_EPHEMERAL_LEN] {
    let mut salt = [0u8; WRAP_SALT_LEN];
    let mut iv = [0u8; WRAP_IV_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    let mut body = *public;
    let key = code_key(code, &salt);
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut body);
    let mut wrapped = [0u8; WRAPPED_EPHEMERAL_LEN];
    wrapped[..WRAP_SALT_LEN].copy_from_slice(&salt);
    wrapped[WRAP_SALT_LEN..WRAP_SALT_LEN + WRAP_IV_LEN].copy_from_slice(&iv);
    wrapped[WRAP_SALT_LEN + WRAP_IV_LEN..].copy_from_slice(&body);
    wrapped
}

/// Reverses [`wrap_ephemeral`]. AES-CTR has no integrity check: a wrong
/// code yields a different, equally plausible key, and only the key
/// bundle's AES-GCM tag (checked by the phone) reveals the mistake.
/// Errors only on a wrong length. Slow (PBKDF2).
pub fn unwrap_ephemeral(code: &str, wrapped: &[u8]) -> Result<[u8; 32], PairCodeError> {
    let bad_len = || PairCodeError::Malformed {
        stanza: "wrapped ephemeral key",
        problem: format!("{} bytes, expected {WRAPPED_EPHEMERAL_LEN}", wrapped.len()),
    };
    let fixed: &[u8; WRAPPED_EPHEMERAL_LEN] = wrapped.try_into().map_err(|_| bad_len())?;
    let (salt, rest) = fixed.split_at(WRAP_SALT_LEN);
    let (iv, body) = rest.split_at(WRAP_IV_LEN);
    let iv: [u8; WRAP_IV_LEN] = iv.try_into().map_err(|_| bad_len())?;
    let mut public: [u8; 32] = body.try_into().map_err(|_| bad_len())?;
    let key = code_key(code, salt);
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut public);
    Ok(public)
}

/// The companion's half of a started linking-code flow. Keep it until the
/// flow ends; it holds the ephemeral private key.
pub struct CompanionHello {
    /// The canonical 8-character code (see [`Self::display_code`]).
    pub code: String,
    ephemeral: KeyPair,
    wrapped_ephemeral: [u8; WRAPPED_EPHEMERAL_LEN],
}

impl CompanionHello {
    /// The code as people read it: `ABCD-EFGH`.
    pub fn display_code(&self) -> String {
        let half = self.code.chars().count() / 2;
        let head: String = self.code.chars().take(half).collect();
        let tail: String = self.code.chars().skip(half).collect();
        format!("{head}-{tail}")
    }

    /// The companion ephemeral public key (plain, before wrapping).
    pub fn ephemeral_public(&self) -> &[u8; 32] {
        &self.ephemeral.public
    }

    /// The wrapped ephemeral key sent in `companion_hello`.
    pub fn wrapped_ephemeral(&self) -> &[u8; WRAPPED_EPHEMERAL_LEN] {
        &self.wrapped_ephemeral
    }
}

impl std::fmt::Debug for CompanionHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompanionHello")
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

/// Starts a flow: uses `code` (checked with [`normalize_code`]) or a fresh
/// random one, makes an ephemeral key pair and wraps it under the code.
/// Slow (PBKDF2): call from `spawn_blocking`.
pub fn companion_hello(code: Option<&str>) -> Result<CompanionHello, PairCodeError> {
    let code = match code {
        Some(given) => normalize_code(given)?,
        None => generate_code(),
    };
    let ephemeral = KeyPair::generate();
    let wrapped_ephemeral = wrap_ephemeral(&code, &ephemeral.public);
    Ok(CompanionHello {
        code,
        ephemeral,
        wrapped_ephemeral,
    })
}

/// The stage-1 request:
///
/// ```text
/// <iq xmlns="md" type="set" to="s.whatsapp.net" id=ID>
///   <link_code_companion_reg jid="PHONE@s.whatsapp.net" stage="companion_hello"
///                            should_show_push_notification="true">
///     <link_code_pairing_wrapped_companion_ephemeral_pub>80 bytes</…>
///     <companion_server_auth_key_pub>noise static public key</…>
///     <companion_platform_id>e.g. "1" (Chrome)</…>
///     <companion_platform_display>"Browser (OS)", e.g. "Chrome (Linux)"</…>
///     <link_code_pairing_nonce>one 0x00 byte</…>
/// ```
///
/// `platform_id` is one character the server knows ("1" Chrome, "2" Edge,
/// "3" Firefox, ...); the server answers 400 to a display that is not
/// `Browser (OS)` with a browser and OS it knows.
pub fn companion_hello_iq(
    hello: &CompanionHello,
    iq_id: &str,
    phone: &PhoneNumber,
    noise_pub: &[u8; 32],
    platform_id: &str,
    platform_display: &str,
) -> Node {
    let reg = Node::new(REG_TAG)
        .attr("jid", phone.jid().to_string())
        .attr("stage", "companion_hello")
        .attr("should_show_push_notification", "true")
        .children(vec![
            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                .bytes(hello.wrapped_ephemeral.to_vec()),
            Node::new("companion_server_auth_key_pub").bytes(noise_pub.to_vec()),
            Node::new("companion_platform_id").bytes(platform_id.as_bytes()),
            Node::new("companion_platform_display").bytes(platform_display.as_bytes()),
            // A single zero byte, not ASCII '0'. Source: wacore
            // `build_companion_hello_iq`, whatsmeow `[]byte{0}`.
            Node::new("link_code_pairing_nonce").bytes(vec![0u8]),
        ]);
    md_set_iq(iq_id, reg)
}

fn md_set_iq(iq_id: &str, child: Node) -> Node {
    Node::new("iq")
        .attr("xmlns", "md")
        .attr("type", "set")
        .attr("to", Jid::server().to_string())
        .attr("id", iq_id)
        .children(vec![child])
}

/// Reads the server's answer to `companion_hello`:
/// `<iq type="result"><link_code_companion_reg><link_code_pairing_ref>REF`.
/// Returns the opaque pairing ref; an `<iq type="error">` becomes
/// [`PairCodeError::Refused`] (429 rate-overlimit, 452 not available to this
/// account, 400 bad request or per-number throttling, ...).
pub fn parse_companion_hello_result(node: &Node) -> Result<Vec<u8>, PairCodeError> {
    const STANZA: &str = "companion_hello answer";
    if node.tag != "iq" {
        return Err(malformed(STANZA, format!("<{}> is not an <iq>", node.tag)));
    }
    match node.get_attr("type") {
        Some("result") => {}
        Some("error") => {
            let error = node.child("error");
            let attr = |key| {
                error
                    .and_then(|e| e.get_attr(key))
                    .unwrap_or_default()
                    .to_owned()
            };
            return Err(PairCodeError::Refused {
                code: attr("code"),
                text: attr("text"),
            });
        }
        other => return Err(malformed(STANZA, format!("iq type {other:?}"))),
    }
    let reg = node
        .child(REG_TAG)
        .ok_or_else(|| malformed(STANZA, format!("no <{REG_TAG}>")))?;
    let pairing_ref = child_bytes(reg, "link_code_pairing_ref", STANZA)?;
    if pairing_ref.is_empty() {
        return Err(malformed(STANZA, "empty <link_code_pairing_ref>".into()));
    }
    Ok(pairing_ref.to_vec())
}

/// What the phone sent once the user typed the code (stage `primary_hello`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryHello {
    pub pairing_ref: Vec<u8>,
    pub wrapped_primary_ephemeral: [u8; WRAPPED_EPHEMERAL_LEN],
    pub primary_identity_pub: [u8; 32],
}

/// A `link_code_companion_reg` notification, by stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairCodeNotification {
    /// The phone accepted a code: answer with [`companion_finish`].
    PrimaryHello(PrimaryHello),
    /// The server asks the companion to show a new code (WA Web makes a new
    /// one and starts over). Ignore it if the ref is not the current one.
    RefreshCode {
        pairing_ref: Vec<u8>,
        force_manual_refresh: bool,
    },
}

/// Whether `node` is a pair-code notification (route it to
/// [`parse_notification`]). It still needs the usual `<ack>`.
pub fn is_pair_code_notification(node: &Node) -> bool {
    node.tag == "notification" && node.get_attr("type") == Some(NOTIFICATION_TYPE)
}

/// Parses `<notification type="link_code_companion_reg">`:
///
/// ```text
/// <notification type="link_code_companion_reg" from="s.whatsapp.net" id=…>
///   <link_code_companion_reg stage="primary_hello">
///     <link_code_pairing_wrapped_primary_ephemeral_pub>80 bytes</…>
///     <primary_identity_pub>32 bytes</…>
///     <link_code_pairing_ref>REF</…>
/// ```
///
/// or `stage="refresh_code"` with only the ref (and an optional
/// `force_manual_refresh="true"`). Cheap: no key derivation here, so the
/// run loop can check the ref before paying for PBKDF2.
pub fn parse_notification(node: &Node) -> Result<PairCodeNotification, PairCodeError> {
    const STANZA: &str = "link_code_companion_reg notification";
    if !is_pair_code_notification(node) {
        return Err(malformed(
            STANZA,
            format!("<{}> is not a pair-code notification", node.tag),
        ));
    }
    let reg = node
        .child(REG_TAG)
        .ok_or_else(|| malformed(STANZA, format!("no <{REG_TAG}>")))?;
    let pairing_ref = child_bytes(reg, "link_code_pairing_ref", STANZA)?.to_vec();
    match reg.get_attr("stage") {
        Some("primary_hello") => Ok(PairCodeNotification::PrimaryHello(PrimaryHello {
            pairing_ref,
            wrapped_primary_ephemeral: child_array(
                reg,
                "link_code_pairing_wrapped_primary_ephemeral_pub",
                STANZA,
            )?,
            primary_identity_pub: child_array(reg, "primary_identity_pub", STANZA)?,
        })),
        Some("refresh_code") => Ok(PairCodeNotification::RefreshCode {
            pairing_ref,
            force_manual_refresh: reg.get_attr("force_manual_refresh") == Some("true"),
        }),
        other => Err(PairCodeError::UnexpectedStage(
            other.unwrap_or_default().to_owned(),
        )),
    }
}

/// The stage-2 answer and the secret it commits to.
pub struct CompanionFinish {
    /// `companion_finish` IQ to send (see [`companion_finish`]).
    pub iq: Node,
    /// The new ADV secret: replaces the one made at registration, and keys
    /// the HMAC of the coming `pair-success`.
    pub adv_secret: [u8; 32],
    /// The phone's identity key as it announced it; `pair-success` should
    /// come signed by the same account.
    pub primary_identity_pub: [u8; 32],
}

impl std::fmt::Debug for CompanionFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the ADV secret.
        f.debug_struct("CompanionFinish")
            .field("iq", &self.iq)
            .field(
                "primary_identity_pub",
                &hex::encode(self.primary_identity_pub),
            )
            .finish_non_exhaustive()
    }
}

/// Stage 2, after the phone's `primary_hello`. Checks the ref, unwraps the
/// phone's ephemeral key with the code, and builds
///
/// ```text
/// <iq xmlns="md" type="set" to="s.whatsapp.net" id=ID>
///   <link_code_companion_reg jid="PHONE@s.whatsapp.net" stage="companion_finish">
///     <link_code_pairing_wrapped_key_bundle>salt(32) ‖ iv(12) ‖ AES-GCM(bundle)</…>
///     <companion_identity_public>our identity public key</…>
///     <link_code_pairing_ref>REF</…>
/// ```
///
/// where bundle = our identity pub ‖ phone identity pub ‖ 32 random bytes,
/// sealed with HKDF(ephemeral DH, salt, "link_code_pairing_key_bundle_encryption_key")
/// and no associated data; and ADV secret = HKDF(ephemeral DH ‖ identity DH
/// ‖ random, no salt, "adv_secret"). Slow (PBKDF2): call from `spawn_blocking`.
pub fn companion_finish(
    hello: &CompanionHello,
    pairing_ref: &[u8],
    primary: &PrimaryHello,
    identity: &KeyPair,
    iq_id: &str,
    phone: &PhoneNumber,
) -> Result<CompanionFinish, PairCodeError> {
    if primary.pairing_ref != pairing_ref {
        return Err(PairCodeError::RefMismatch);
    }
    let primary_ephemeral = unwrap_ephemeral(&hello.code, &primary.wrapped_primary_ephemeral)?;
    let ephemeral_shared = hello.ephemeral.dh(&primary_ephemeral);
    // A genuine peer never yields an all-zero secret; a low-order point
    // does. Not checked by the references; refusing costs nothing.
    if ephemeral_shared == [0u8; 32] {
        return Err(PairCodeError::WeakPrimaryKey);
    }
    let identity_shared = identity.dh(&primary.primary_identity_pub);

    let mut random = [0u8; 32];
    OsRng.fill_bytes(&mut random);
    let mut secret_input = [0u8; 96];
    secret_input[..32].copy_from_slice(&ephemeral_shared);
    secret_input[32..64].copy_from_slice(&identity_shared);
    secret_input[64..].copy_from_slice(&random);
    // No salt: an empty HMAC key equals RFC 5869's default of 32 zero bytes.
    let adv_secret = hkdf_sha256::<32>(&secret_input, &[], ADV_SECRET_INFO);

    let mut bundle = [0u8; 96];
    bundle[..32].copy_from_slice(&identity.public);
    bundle[32..64].copy_from_slice(&primary.primary_identity_pub);
    bundle[64..].copy_from_slice(&random);
    let wrapped_bundle = seal_bundle(&ephemeral_shared, &bundle)?;

    let reg = Node::new(REG_TAG)
        .attr("jid", phone.jid().to_string())
        .attr("stage", "companion_finish")
        .children(vec![
            Node::new("link_code_pairing_wrapped_key_bundle").bytes(wrapped_bundle),
            Node::new("companion_identity_public").bytes(identity.public.to_vec()),
            Node::new("link_code_pairing_ref").bytes(pairing_ref.to_vec()),
        ]);
    Ok(CompanionFinish {
        iq: md_set_iq(iq_id, reg),
        adv_secret,
        primary_identity_pub: primary.primary_identity_pub,
    })
}

/// `salt ‖ iv ‖ AES-256-GCM(HKDF(shared, salt, info), iv, bundle)`.
fn seal_bundle(ephemeral_shared: &[u8; 32], bundle: &[u8]) -> Result<Vec<u8>, PairCodeError> {
    let mut salt = [0u8; BUNDLE_SALT_LEN];
    let mut iv = [0u8; BUNDLE_IV_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    let key = hkdf_sha256::<32>(ephemeral_shared, &salt, BUNDLE_KEY_INFO);
    let sealed = Aes256Gcm::new(&key.into())
        .encrypt(&Nonce::from(iv), bundle)
        .map_err(|_| PairCodeError::Seal)?;
    let mut wrapped = Vec::with_capacity(BUNDLE_SALT_LEN + BUNDLE_IV_LEN + sealed.len());
    wrapped.extend_from_slice(&salt);
    wrapped.extend_from_slice(&iv);
    wrapped.extend_from_slice(&sealed);
    Ok(wrapped)
}

fn malformed(stanza: &'static str, problem: String) -> PairCodeError {
    PairCodeError::Malformed { stanza, problem }
}

fn child_bytes<'a>(
    parent: &'a Node,
    tag: &str,
    stanza: &'static str,
) -> Result<&'a [u8], PairCodeError> {
    parent
        .child(tag)
        .ok_or_else(|| malformed(stanza, format!("no <{tag}>")))?
        .content_bytes()
        .ok_or_else(|| malformed(stanza, format!("<{tag}> holds no bytes")))
}

fn child_array<const N: usize>(
    parent: &Node,
    tag: &str,
    stanza: &'static str,
) -> Result<[u8; N], PairCodeError> {
    let bytes = child_bytes(parent, tag, stanza)?;
    bytes.try_into().map_err(|_| {
        malformed(
            stanza,
            format!("<{tag}> has {} bytes, expected {N}", bytes.len()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Content;
    use proptest::prelude::*;

    fn phone() -> PhoneNumber {
        PhoneNumber::parse("15551234567").unwrap()
    }

    #[test]
    fn generated_codes_are_valid_and_differ() {
        let a = generate_code();
        let b = generate_code();
        assert_eq!(normalize_code(&a).unwrap(), a);
        assert_eq!(a.len(), CODE_LEN);
        // 40 random bits: equal codes mean the generator is broken.
        assert_ne!(a, b);
    }

    #[test]
    fn codes_are_normalized_and_checked() {
        assert_eq!(normalize_code("abcd-efgh").unwrap(), "ABCDEFGH");
        assert_eq!(normalize_code(" 1234 5678 ").unwrap(), "12345678");
        assert_eq!(normalize_code("VWXYZ123").unwrap(), "VWXYZ123");
        for bad in [
            "",
            "ABCDEFG",
            "ABCDEFGHJ",
            "ABCD0123",
            "ABCDEFGI",
            "ABCDEFGO",
            "ABCDEFGU",
        ] {
            assert!(
                matches!(normalize_code(bad), Err(PairCodeError::InvalidCode(_))),
                "{bad:?} must be refused"
            );
        }
        // Multi-byte characters must not slip through a byte-length check.
        assert!(normalize_code("ABCDEFGÄ").is_err());
    }

    #[test]
    fn wrap_round_trips_and_a_wrong_code_gives_another_key() {
        let public = KeyPair::generate().public;
        let wrapped = wrap_ephemeral("ABCDEFGH", &public);
        assert_eq!(unwrap_ephemeral("ABCDEFGH", &wrapped).unwrap(), public);
        assert_ne!(unwrap_ephemeral("ABCDEFGJ", &wrapped).unwrap(), public);
    }

    #[test]
    fn hello_iq_has_the_documented_shape() {
        let hello = companion_hello(Some("abcd-efgh")).unwrap();
        assert_eq!(hello.code, "ABCDEFGH");
        assert_eq!(hello.display_code(), "ABCD-EFGH");
        let iq = companion_hello_iq(&hello, "7", &phone(), &[9; 32], "1", "Chrome (Linux)");
        assert_eq!(iq.tag, "iq");
        for (k, v) in [
            ("xmlns", "md"),
            ("type", "set"),
            ("to", "s.whatsapp.net"),
            ("id", "7"),
        ] {
            assert_eq!(iq.get_attr(k), Some(v), "iq {k}");
        }
        let reg = iq.child("link_code_companion_reg").unwrap();
        assert_eq!(reg.get_attr("jid"), Some("15551234567@s.whatsapp.net"));
        assert_eq!(reg.get_attr("stage"), Some("companion_hello"));
        assert_eq!(reg.get_attr("should_show_push_notification"), Some("true"));
        let bytes = |tag| reg.child(tag).unwrap().content_bytes().unwrap();
        let wrapped = bytes("link_code_pairing_wrapped_companion_ephemeral_pub");
        assert_eq!(wrapped, hello.wrapped_ephemeral());
        assert_eq!(bytes("companion_server_auth_key_pub"), &[9; 32]);
        assert_eq!(bytes("companion_platform_id"), b"1");
        assert_eq!(bytes("companion_platform_display"), b"Chrome (Linux)");
        assert_eq!(bytes("link_code_pairing_nonce"), &[0]);
        // The wrapped key is the ephemeral public key under the code.
        assert_eq!(
            unwrap_ephemeral("ABCDEFGH", wrapped).unwrap(),
            *hello.ephemeral_public()
        );
    }

    #[test]
    fn a_bad_custom_code_is_refused_before_any_work() {
        assert!(matches!(
            companion_hello(Some("0000")),
            Err(PairCodeError::InvalidCode(_))
        ));
    }

    fn result_iq(reg_children: Vec<Node>) -> Node {
        Node::new("iq")
            .attr("type", "result")
            .attr("id", "7")
            .children(vec![Node::new(REG_TAG).children(reg_children)])
    }

    #[test]
    fn hello_result_yields_the_ref_or_a_clear_error() {
        let ok = result_iq(vec![
            Node::new("link_code_pairing_ref").bytes(b"2@ref".to_vec())
        ]);
        assert_eq!(parse_companion_hello_result(&ok).unwrap(), b"2@ref");

        let refused = Node::new("iq")
            .attr("type", "error")
            .children(vec![Node::new("error")
                .attr("code", "429")
                .attr("text", "rate-overlimit")]);
        assert_eq!(
            parse_companion_hello_result(&refused),
            Err(PairCodeError::Refused {
                code: "429".into(),
                text: "rate-overlimit".into()
            })
        );
        for bad in [
            result_iq(vec![]),
            result_iq(vec![Node::new("link_code_pairing_ref")]),
            result_iq(vec![Node::new("link_code_pairing_ref").bytes(vec![])]),
            Node::new("iq").attr("type", "result"),
            Node::new("iq"),
            Node::new("message").attr("type", "result"),
        ] {
            assert!(
                matches!(
                    parse_companion_hello_result(&bad),
                    Err(PairCodeError::Malformed { .. })
                ),
                "{bad:?}"
            );
        }
    }

    fn primary_hello_node(children: Vec<Node>, stage: &str) -> Node {
        Node::new("notification")
            .attr("type", NOTIFICATION_TYPE)
            .attr("from", "s.whatsapp.net")
            .attr("id", "n1")
            .children(vec![Node::new(REG_TAG)
                .attr("stage", stage)
                .children(children)])
    }

    fn primary_children(wrapped: &[u8], identity: &[u8], pairing_ref: &[u8]) -> Vec<Node> {
        vec![
            Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(wrapped.to_vec()),
            Node::new("primary_identity_pub").bytes(identity.to_vec()),
            Node::new("link_code_pairing_ref").bytes(pairing_ref.to_vec()),
        ]
    }

    #[test]
    fn notifications_are_parsed_by_stage() {
        let node = primary_hello_node(primary_children(&[1; 80], &[2; 32], b"r"), "primary_hello");
        assert!(is_pair_code_notification(&node));
        assert_eq!(
            parse_notification(&node).unwrap(),
            PairCodeNotification::PrimaryHello(PrimaryHello {
                pairing_ref: b"r".to_vec(),
                wrapped_primary_ephemeral: [1; 80],
                primary_identity_pub: [2; 32],
            })
        );
        let refresh = primary_hello_node(
            vec![Node::new("link_code_pairing_ref").bytes(b"r".to_vec())],
            "refresh_code",
        );
        assert_eq!(
            parse_notification(&refresh).unwrap(),
            PairCodeNotification::RefreshCode {
                pairing_ref: b"r".to_vec(),
                force_manual_refresh: false
            }
        );
        let odd = primary_hello_node(primary_children(&[1; 80], &[2; 32], b"r"), "later");
        assert_eq!(
            parse_notification(&odd),
            Err(PairCodeError::UnexpectedStage("later".into()))
        );
    }

    #[test]
    fn malformed_notifications_are_errors() {
        let cases = [
            primary_hello_node(primary_children(&[1; 79], &[2; 32], b"r"), "primary_hello"),
            primary_hello_node(primary_children(&[1; 81], &[2; 32], b"r"), "primary_hello"),
            primary_hello_node(primary_children(&[1; 80], &[2; 33], b"r"), "primary_hello"),
            primary_hello_node(
                primary_children(&[1; 80], &[2; 32], b"r")[1..].to_vec(),
                "primary_hello",
            ),
            primary_hello_node(
                primary_children(&[1; 80], &[2; 32], b"r")[..2].to_vec(),
                "primary_hello",
            ),
            primary_hello_node(vec![], "primary_hello"),
            Node::new("notification").attr("type", NOTIFICATION_TYPE),
            Node::new("notification").attr("type", "devices"),
        ];
        for node in cases {
            assert!(
                matches!(
                    parse_notification(&node),
                    Err(PairCodeError::Malformed { .. })
                ),
                "{node:?}"
            );
        }
    }

    #[test]
    fn finish_refuses_a_foreign_ref_and_a_low_order_key() {
        let hello = companion_hello(Some("ABCDEFGH")).unwrap();
        let identity = KeyPair::generate();
        let primary = PrimaryHello {
            pairing_ref: b"other".to_vec(),
            wrapped_primary_ephemeral: [0; 80],
            primary_identity_pub: [3; 32],
        };
        let err = companion_finish(&hello, b"mine", &primary, &identity, "8", &phone());
        assert_eq!(err.unwrap_err(), PairCodeError::RefMismatch);

        // The phone "wraps" the all-zero point (low order): refused.
        let zero_point = wrap_ephemeral("ABCDEFGH", &[0; 32]);
        let primary = PrimaryHello {
            pairing_ref: b"mine".to_vec(),
            wrapped_primary_ephemeral: zero_point,
            primary_identity_pub: [3; 32],
        };
        let err = companion_finish(&hello, b"mine", &primary, &identity, "8", &phone());
        assert_eq!(err.unwrap_err(), PairCodeError::WeakPrimaryKey);
    }

    #[test]
    fn finish_iq_has_the_documented_shape() {
        let hello = companion_hello(None).unwrap();
        let identity = KeyPair::generate();
        let phone_ephemeral = KeyPair::generate();
        let primary = PrimaryHello {
            pairing_ref: b"ref".to_vec(),
            wrapped_primary_ephemeral: wrap_ephemeral(&hello.code, &phone_ephemeral.public),
            primary_identity_pub: KeyPair::generate().public,
        };
        let done = companion_finish(&hello, b"ref", &primary, &identity, "8", &phone()).unwrap();
        assert!(!format!("{done:?}").contains(&hex::encode(done.adv_secret)));
        let iq = &done.iq;
        for (k, v) in [
            ("xmlns", "md"),
            ("type", "set"),
            ("to", "s.whatsapp.net"),
            ("id", "8"),
        ] {
            assert_eq!(iq.get_attr(k), Some(v), "iq {k}");
        }
        let reg = iq.child(REG_TAG).unwrap();
        assert_eq!(reg.get_attr("stage"), Some("companion_finish"));
        assert_eq!(reg.get_attr("jid"), Some("15551234567@s.whatsapp.net"));
        let bytes = |tag| reg.child(tag).unwrap().content_bytes().unwrap();
        // 32 salt + 12 IV + 96 bundle + 16 tag.
        assert_eq!(bytes("link_code_pairing_wrapped_key_bundle").len(), 156);
        assert_eq!(bytes("companion_identity_public"), identity.public);
        assert_eq!(bytes("link_code_pairing_ref"), b"ref");
        assert!(matches!(reg.content, Content::Nodes(ref n) if n.len() == 3));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        // Wrong lengths are refused without running PBKDF2; the rare
        // 80-byte case must decrypt to something without panicking.
        #[test]
        fn unwrap_survives_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let result = unwrap_ephemeral("ABCDEFGH", &data);
            prop_assert_eq!(result.is_ok(), data.len() == WRAPPED_EPHEMERAL_LEN);
        }

        #[test]
        fn notification_parser_survives_arbitrary_children(
            wrapped in proptest::collection::vec(any::<u8>(), 0..100),
            identity in proptest::collection::vec(any::<u8>(), 0..40),
            pairing_ref in proptest::collection::vec(any::<u8>(), 0..8),
            keep in proptest::collection::vec(any::<bool>(), 3),
        ) {
            let children = primary_children(&wrapped, &identity, &pairing_ref)
                .into_iter()
                .zip(keep.iter())
                .filter(|(_, keep)| **keep)
                .map(|(node, _)| node)
                .collect();
            let node = primary_hello_node(children, "primary_hello");
            let complete = keep.iter().all(|k| *k) && wrapped.len() == 80 && identity.len() == 32;
            prop_assert_eq!(parse_notification(&node).is_ok(), complete);
        }
    }
}
