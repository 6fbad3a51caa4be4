//! Linking by code, as the server and the phone play it: the simulator's
//! half of the 8-character "link code" flow.
//!
//! Owns: reading `companion_hello` / `companion_finish`, the server's
//! answers, the phone's `primary_hello` notification, opening the key
//! bundle and deriving the same ADV secret as the companion. Pure: stanza
//! [`Node`]s in, stanzas and key material out; no sockets, tasks or clocks.
//! Must not touch: `crate::client` (this file is written from the protocol,
//! not from our client, so the two cannot share a mistake).
//!
//! How the simulator drives it:
//! 1. A companion sends `companion_hello`: [`parse_companion_hello`]. If it
//!    fails, answer [`iq_error`] 400 `bad-request`. Otherwise keep the
//!    request under the phone number, make a ref with [`new_link_ref`], and
//!    answer [`companion_hello_result`].
//! 2. The phone's user types a code (`POST /sim/phones/{phone}/pair-code`):
//!    [`primary_hello`] with the request kept for that phone. Send the
//!    returned notification to the companion and keep the [`PrimaryPending`]
//!    under the ref. Slow (two PBKDF2 runs): use `spawn_blocking`.
//! 3. The companion sends `companion_finish`: [`parse_companion_finish`]
//!    finds the ref; answer [`companion_finish_result`] at once (the real
//!    server acknowledges the bundle before the phone opens it), then
//!    [`primary_finish`]. On success the phone knows the companion identity
//!    and the ADV secret: go on with `pair-success` as for a QR scan, its
//!    HMAC keyed by [`PairCodeLinked::adv_secret`]. On
//!    [`SimPairCodeError::BundleRejected`] (the usual sign of a mistyped
//!    code) the real phone tells the companion nothing: send nothing.
//!
//! Protocol facts: wacore-0.7.0 `src/pair_code.rs` (whatsapp-rust) and
//! whatsmeow `pair-code.go`, which describe the companion; the phone does
//! the mirror image of each step.

use aes::cipher::{KeyIvInit, StreamCipher};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

use crate::crypto::{hkdf_sha256, KeyPair};
use crate::wire::Node;

/// Characters a linking code may contain (Crockford base32 minus 0 I O U).
/// Source: wacore `CROCKFORD_ALPHABET`, whatsmeow `linkingBase32`.
const LINK_CODE_CHARS: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// Source: wacore `PAIR_CODE_PBKDF2_ITERATIONS`, whatsmeow `2<<16`.
const CODE_KDF_ROUNDS: u32 = 131_072;
/// salt 32 ‖ CTR IV 16 ‖ key 32. Source: wacore, whatsmeow (see module doc).
const WRAPPED_KEY_LEN: usize = 80;
/// salt 32 ‖ GCM nonce 12 ‖ (96-byte bundle + 16-byte tag).
const WRAPPED_BUNDLE_LEN: usize = 32 + 12 + 96 + 16;
/// Source: wacore `prepare_key_bundle`, whatsmeow `handleCodePairNotification`.
const BUNDLE_KEY_LABEL: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
const ADV_SECRET_LABEL: &[u8] = b"adv_secret";
/// Platform ids the server takes: one character of this set. Source:
/// wacore pair_code.rs tests (`SERVER_ACCEPT_LIST`).
const PLATFORM_IDS: &[u8] = b"0123456789abcdefghijklm";
const USER_SERVER: &str = "s.whatsapp.net";
const REG: &str = "link_code_companion_reg";

/// Why the simulator refuses a step of the linking-code flow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimPairCodeError {
    /// The stanza is not what the protocol allows: answer 400 bad-request.
    #[error("bad linking-code request: {0}")]
    BadRequest(String),
    /// What the phone's user typed cannot be a linking code.
    #[error("a linking code is 8 characters from 1-9 and A-Z without I, O, U")]
    BadCode,
    /// `companion_finish` names another phone or ref than the pending flow.
    #[error("companion_finish does not belong to this flow: other {0}")]
    WrongFlow(&'static str),
    /// AES-GCM refused the bundle: the code typed on the phone is not the
    /// companion's, or the bundle was damaged.
    #[error("the key bundle does not open (wrong linking code?)")]
    BundleRejected,
    /// The bundle opened but names other identity keys than the stanza.
    #[error("the key bundle names another {0} identity key")]
    IdentityMismatch(&'static str),
    /// A key that yields an all-zero Diffie-Hellman result.
    #[error("the companion's ephemeral key is a low-order point")]
    WeakCompanionKey,
}

fn bad(problem: impl Into<String>) -> SimPairCodeError {
    SimPairCodeError::BadRequest(problem.into())
}

/// A companion's stage-1 request, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanionHelloRequest {
    pub iq_id: String,
    /// The account's phone number, digits only.
    pub phone: String,
    pub wrapped_companion_ephemeral: [u8; WRAPPED_KEY_LEN],
    /// The companion's Noise static key: the device logs in with it later.
    pub companion_noise_pub: [u8; 32],
    pub platform_id: String,
    /// `Browser (OS)`, shown in the phone's list of linked devices.
    pub platform_display: String,
    pub show_push_notification: bool,
}

/// Reads and checks
///
/// ```text
/// <iq xmlns="md" type="set" to="s.whatsapp.net" id=ID>
///   <link_code_companion_reg jid="PHONE@s.whatsapp.net" stage="companion_hello"
///                            should_show_push_notification="true|false">
///     <link_code_pairing_wrapped_companion_ephemeral_pub>80 bytes
///     <companion_server_auth_key_pub>32 bytes
///     <companion_platform_id>one of 0-9 a-m
///     <companion_platform_display>Browser (OS)
///     <link_code_pairing_nonce>(any content; WA Web sends one 0x00 byte)
/// ```
pub fn parse_companion_hello(iq: &Node) -> Result<CompanionHelloRequest, SimPairCodeError> {
    let (iq_id, reg) = md_set_with_reg(iq, "companion_hello")?;
    let phone = phone_of(reg)?;
    let wrapped_companion_ephemeral =
        fixed_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")?;
    let companion_noise_pub = fixed_bytes(reg, "companion_server_auth_key_pub")?;
    let platform_id = text_of(reg, "companion_platform_id")?;
    if !(platform_id.len() == 1 && PLATFORM_IDS.contains(&platform_id.as_bytes()[0])) {
        return Err(bad(format!(
            "unknown companion_platform_id {platform_id:?}"
        )));
    }
    let platform_display = text_of(reg, "companion_platform_display")?;
    if !looks_like_browser_and_os(&platform_display) {
        return Err(bad(format!(
            "companion_platform_display {platform_display:?} is not \"Browser (OS)\""
        )));
    }
    if reg.child("link_code_pairing_nonce").is_none() {
        return Err(bad("no link_code_pairing_nonce"));
    }
    let show_push_notification = match reg.get_attr("should_show_push_notification") {
        Some("true") => true,
        Some("false") | None => false,
        Some(other) => return Err(bad(format!("should_show_push_notification={other:?}"))),
    };
    Ok(CompanionHelloRequest {
        iq_id,
        phone,
        wrapped_companion_ephemeral,
        companion_noise_pub,
        platform_id,
        platform_display,
        show_push_notification,
    })
}

/// `Name (Os)`: something, a space, something in parentheses at the end.
fn looks_like_browser_and_os(display: &str) -> bool {
    let Some(open) = display.find(" (") else {
        return false;
    };
    let (name, rest) = display.split_at(open);
    let os = rest.trim_start_matches(" (").strip_suffix(')');
    !name.trim().is_empty() && os.is_some_and(|os| !os.trim().is_empty() && !os.contains(')'))
}

/// A fresh opaque pairing ref (printable, 24 characters).
pub fn new_link_ref() -> Vec<u8> {
    let mut random = [0u8; 18];
    OsRng.fill_bytes(&mut random);
    base64::engine::general_purpose::STANDARD
        .encode(random)
        .into_bytes()
}

/// The server's answer to `companion_hello`:
/// `<iq from="s.whatsapp.net" type="result" id=ID><link_code_companion_reg
/// stage="companion_hello"><link_code_pairing_ref>REF`.
pub fn companion_hello_result(iq_id: &str, link_ref: &[u8]) -> Node {
    result_iq(iq_id).children(vec![Node::new(REG)
        .attr("stage", "companion_hello")
        .children(vec![
            Node::new("link_code_pairing_ref").bytes(link_ref.to_vec())
        ])])
}

/// The server's answer to `companion_finish`: an empty result.
pub fn companion_finish_result(iq_id: &str) -> Node {
    result_iq(iq_id)
}

/// `<iq from="s.whatsapp.net" type="error" id=ID><error code text/>`, e.g.
/// 400 `bad-request`, 429 `rate-overlimit`, 452 `feature-not-available`.
pub fn iq_error(iq_id: &str, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("from", USER_SERVER)
        .attr("type", "error")
        .attr("id", iq_id)
        .children(vec![Node::new("error")
            .attr("code", code.to_string())
            .attr("text", text)])
}

fn result_iq(iq_id: &str) -> Node {
    Node::new("iq")
        .attr("from", USER_SERVER)
        .attr("type", "result")
        .attr("id", iq_id)
}

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
        .attr("from", USER_SERVER)
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

/// A companion's stage-2 request, checked for shape only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanionFinishRequest {
    pub iq_id: String,
    pub phone: String,
    pub link_ref: Vec<u8>,
    pub wrapped_key_bundle: Vec<u8>,
    pub companion_identity_pub: [u8; 32],
}

/// Reads
///
/// ```text
/// <iq xmlns="md" type="set" to="s.whatsapp.net" id=ID>
///   <link_code_companion_reg jid="PHONE@s.whatsapp.net" stage="companion_finish">
///     <link_code_pairing_wrapped_key_bundle>salt 32 ‖ nonce 12 ‖ sealed 112
///     <companion_identity_public>32 bytes
///     <link_code_pairing_ref>REF
/// ```
///
/// so the simulator can find the pending flow by its ref.
pub fn parse_companion_finish(iq: &Node) -> Result<CompanionFinishRequest, SimPairCodeError> {
    let (iq_id, reg) = md_set_with_reg(iq, "companion_finish")?;
    let phone = phone_of(reg)?;
    let wrapped_key_bundle = raw_bytes(reg, "link_code_pairing_wrapped_key_bundle")?.to_vec();
    if wrapped_key_bundle.len() != WRAPPED_BUNDLE_LEN {
        return Err(bad(format!(
            "wrapped key bundle of {} bytes, expected {WRAPPED_BUNDLE_LEN}",
            wrapped_key_bundle.len()
        )));
    }
    let companion_identity_pub = fixed_bytes(reg, "companion_identity_public")?;
    let link_ref = raw_bytes(reg, "link_code_pairing_ref")?.to_vec();
    Ok(CompanionFinishRequest {
        iq_id,
        phone,
        link_ref,
        wrapped_key_bundle,
        companion_identity_pub,
    })
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

/// Whether what the phone's user typed can be a linking code at all
/// (checked before any key derivation).
pub fn check_code(typed: &str) -> Result<(), SimPairCodeError> {
    canonical_code(typed).map(drop)
}

/// The `stage` of a companion's `<iq><link_code_companion_reg>`, if
/// `node` is one (route it to [`parse_companion_hello`] or
/// [`primary_finish`]).
pub fn companion_reg_stage(node: &Node) -> Option<&str> {
    if node.tag != "iq" {
        return None;
    }
    node.child(REG)
        .map(|reg| reg.get_attr("stage").unwrap_or_default())
}

/// Upper-cases what the phone's user typed and drops `-` and spaces.
fn canonical_code(typed: &str) -> Result<String, SimPairCodeError> {
    let mut code = String::with_capacity(8);
    for c in typed.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let upper = c.to_ascii_uppercase();
        if !upper.is_ascii() || !LINK_CODE_CHARS.contains(&(upper as u8)) || code.len() == 8 {
            return Err(SimPairCodeError::BadCode);
        }
        code.push(upper);
    }
    if code.len() != 8 {
        return Err(SimPairCodeError::BadCode);
    }
    Ok(code)
}

fn code_cipher(code: &str, salt: &[u8; 32], iv: &[u8; 16]) -> ctr::Ctr128BE<aes::Aes256> {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(code.as_bytes(), salt, CODE_KDF_ROUNDS, &mut key);
    ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &(*iv).into())
}

/// `salt ‖ iv ‖ AES-256-CTR(PBKDF2(code, salt), iv, public)`.
fn seal_with_code(code: &str, public: &[u8; 32]) -> [u8; WRAPPED_KEY_LEN] {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    let mut sealed = *public;
    code_cipher(code, &salt, &iv).apply_keystream(&mut sealed);
    let mut out = [0u8; WRAPPED_KEY_LEN];
    out[..32].copy_from_slice(&salt);
    out[32..48].copy_from_slice(&iv);
    out[48..].copy_from_slice(&sealed);
    out
}

fn open_with_code(code: &str, wrapped: &[u8; WRAPPED_KEY_LEN]) -> [u8; 32] {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    let mut public = [0u8; 32];
    salt.copy_from_slice(&wrapped[..32]);
    iv.copy_from_slice(&wrapped[32..48]);
    public.copy_from_slice(&wrapped[48..]);
    code_cipher(code, &salt, &iv).apply_keystream(&mut public);
    public
}

/// Checks `<iq xmlns="md" type="set">` around a `link_code_companion_reg`
/// of the given stage; returns the iq id and the reg node.
fn md_set_with_reg<'a>(iq: &'a Node, stage: &str) -> Result<(String, &'a Node), SimPairCodeError> {
    if iq.tag != "iq" || iq.get_attr("xmlns") != Some("md") || iq.get_attr("type") != Some("set") {
        return Err(bad("not an <iq xmlns=\"md\" type=\"set\">"));
    }
    let iq_id = iq
        .get_attr("id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad("iq without id"))?;
    let reg = iq.child(REG).ok_or_else(|| bad(format!("no <{REG}>")))?;
    if reg.get_attr("stage") != Some(stage) {
        return Err(bad(format!(
            "stage {:?}, expected {stage:?}",
            reg.get_attr("stage")
        )));
    }
    Ok((iq_id.to_owned(), reg))
}

/// The digits of `jid="PHONE@s.whatsapp.net"`, checked (7-15 digits, no
/// leading zero).
fn phone_of(reg: &Node) -> Result<String, SimPairCodeError> {
    let jid = reg.get_attr("jid").ok_or_else(|| bad("no jid"))?;
    let phone = jid
        .strip_suffix("@s.whatsapp.net")
        .ok_or_else(|| bad(format!("jid {jid:?} is not a phone-number jid")))?;
    let plausible = (7..=15).contains(&phone.len())
        && phone.bytes().all(|b| b.is_ascii_digit())
        && !phone.starts_with('0');
    if !plausible {
        return Err(bad(format!("{phone:?} is not a phone number")));
    }
    Ok(phone.to_owned())
}

fn raw_bytes<'a>(reg: &'a Node, tag: &str) -> Result<&'a [u8], SimPairCodeError> {
    match reg.child(tag) {
        None => Err(bad(format!("no <{tag}>"))),
        Some(node) => node
            .content_bytes()
            .ok_or_else(|| bad(format!("<{tag}> is empty"))),
    }
}

fn fixed_bytes<const N: usize>(reg: &Node, tag: &str) -> Result<[u8; N], SimPairCodeError> {
    let bytes = raw_bytes(reg, tag)?;
    <[u8; N]>::try_from(bytes)
        .map_err(|_| bad(format!("<{tag}> has {} bytes, not {N}", bytes.len())))
}

fn text_of(reg: &Node, tag: &str) -> Result<String, SimPairCodeError> {
    let bytes = raw_bytes(reg, tag)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| bad(format!("<{tag}> is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PHONE: &str = "4915112345678";

    /// A hand-built `companion_hello`, written from the spec in the module
    /// doc (not from our client).
    fn hello_iq(code: &str, companion_ephemeral: &[u8; 32]) -> Node {
        hello_iq_with(vec![
            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                .bytes(seal_with_code(code, companion_ephemeral).to_vec()),
            Node::new("companion_server_auth_key_pub").bytes(vec![5; 32]),
            Node::new("companion_platform_id").bytes(b"1".to_vec()),
            Node::new("companion_platform_display").bytes(b"Chrome (Linux)".to_vec()),
            Node::new("link_code_pairing_nonce").bytes(vec![0]),
        ])
    }

    fn hello_iq_with(children: Vec<Node>) -> Node {
        Node::new("iq")
            .attr("xmlns", "md")
            .attr("type", "set")
            .attr("to", "s.whatsapp.net")
            .attr("id", "h1")
            .children(vec![Node::new(REG)
                .attr("jid", format!("{PHONE}@s.whatsapp.net"))
                .attr("stage", "companion_hello")
                .attr("should_show_push_notification", "true")
                .children(children)])
    }

    #[test]
    fn codes_typed_on_the_phone_are_canonicalized() {
        assert_eq!(canonical_code("abcd-efgh").unwrap(), "ABCDEFGH");
        for bad in [
            "ABCDEFG",
            "ABCDEFGHJ",
            "ABCD0EFG",
            "ABCDIEFG",
            "ÄBCDEFGH",
            "",
        ] {
            assert_eq!(
                canonical_code(bad),
                Err(SimPairCodeError::BadCode),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn code_wrapping_round_trips() {
        let public = KeyPair::generate().public;
        let sealed = seal_with_code("ZZZZ1111", &public);
        assert_eq!(open_with_code("ZZZZ1111", &sealed), public);
    }

    #[test]
    fn a_well_formed_hello_is_read() {
        let req = parse_companion_hello(&hello_iq_with(vec![
            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(vec![7; 80]),
            Node::new("companion_server_auth_key_pub").bytes(vec![5; 32]),
            Node::new("companion_platform_id").bytes(b"1".to_vec()),
            Node::new("companion_platform_display").bytes(b"Chrome (Linux)".to_vec()),
            Node::new("link_code_pairing_nonce").bytes(vec![0]),
        ]))
        .unwrap();
        assert_eq!(req.iq_id, "h1");
        assert_eq!(req.phone, PHONE);
        assert_eq!(req.wrapped_companion_ephemeral, [7; 80]);
        assert_eq!(req.companion_noise_pub, [5; 32]);
        assert_eq!(req.platform_id, "1");
        assert_eq!(req.platform_display, "Chrome (Linux)");
        assert!(req.show_push_notification);
    }

    #[test]
    fn malformed_hellos_are_bad_requests() {
        let good = || {
            vec![
                Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(vec![7; 80]),
                Node::new("companion_server_auth_key_pub").bytes(vec![5; 32]),
                Node::new("companion_platform_id").bytes(b"1".to_vec()),
                Node::new("companion_platform_display").bytes(b"Chrome (Linux)".to_vec()),
                Node::new("link_code_pairing_nonce").bytes(vec![0]),
            ]
        };
        let mut cases = Vec::new();
        for i in 0..5 {
            let mut missing = good();
            missing.remove(i);
            cases.push(hello_iq_with(missing));
        }
        let replaced = |i: usize, node: Node| {
            let mut children = good();
            children[i] = node;
            hello_iq_with(children)
        };
        cases.push(replaced(
            0,
            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(vec![7; 79]),
        ));
        cases.push(replaced(
            1,
            Node::new("companion_server_auth_key_pub").bytes(vec![5; 33]),
        ));
        cases.push(replaced(1, Node::new("companion_server_auth_key_pub")));
        cases.push(replaced(
            2,
            Node::new("companion_platform_id").bytes(b"z".to_vec()),
        ));
        cases.push(replaced(
            3,
            Node::new("companion_platform_display").bytes(b"Chrome".to_vec()),
        ));
        cases.push(replaced(
            3,
            Node::new("companion_platform_display").bytes(b" (Linux)".to_vec()),
        ));
        cases.push(replaced(
            3,
            Node::new("companion_platform_display").bytes(vec![0xff, 0xfe]),
        ));
        let mut wrong_jid = hello_iq_with(good());
        if let crate::wire::Content::Nodes(regs) = &mut wrong_jid.content {
            regs[0].attrs[0].1 = "0123456789@s.whatsapp.net".into();
        }
        cases.push(wrong_jid);
        cases.push(
            Node::new("iq")
                .attr("xmlns", "md")
                .attr("type", "set")
                .attr("id", "x"),
        );
        cases.push(Node::new("iq").attr("type", "get").children(good()));
        for iq in cases {
            assert!(
                matches!(
                    parse_companion_hello(&iq),
                    Err(SimPairCodeError::BadRequest(_))
                ),
                "{iq:?}"
            );
        }
    }

    #[test]
    fn browser_and_os_shape() {
        assert!(looks_like_browser_and_os("Chrome (Linux)"));
        assert!(looks_like_browser_and_os("Chrome (Mac OS)"));
        for bad in [
            "Chrome",
            "Chrome ()",
            " (Linux)",
            "Chrome (Linux",
            "Chrome (Linux) x",
            "(",
        ] {
            assert!(!looks_like_browser_and_os(bad), "{bad:?}");
        }
    }

    #[test]
    fn answers_have_the_server_shape() {
        let hello = companion_hello_result("h1", b"REF");
        assert_eq!(hello.get_attr("type"), Some("result"));
        assert_eq!(hello.get_attr("id"), Some("h1"));
        let reg = hello.child(REG).unwrap();
        assert_eq!(
            reg.child("link_code_pairing_ref").unwrap().content_bytes(),
            Some(&b"REF"[..])
        );
        let err = iq_error("h1", 429, "rate-overlimit");
        assert_eq!(err.child("error").unwrap().get_attr("code"), Some("429"));
        let a = new_link_ref();
        assert_eq!(a.len(), 24);
        assert_ne!(a, new_link_ref());
    }

    /// The companion side, written here from the spec, to drive
    /// `primary_finish` without the client module.
    fn finish_iq(
        ephemeral_dh: &[u8; 32],
        companion_identity: &KeyPair,
        bundle_phone_identity: &[u8; 32],
        link_ref: &[u8],
        random: &[u8; 32],
    ) -> Node {
        let salt = [0x33u8; 32];
        let nonce = [0x44u8; 12];
        let key = hkdf_sha256::<32>(ephemeral_dh, &salt, BUNDLE_KEY_LABEL);
        let mut plain = companion_identity.public.to_vec();
        plain.extend_from_slice(bundle_phone_identity);
        plain.extend_from_slice(random);
        let sealed = Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
            .unwrap();
        let wrapped = [&salt[..], &nonce[..], &sealed[..]].concat();
        Node::new("iq")
            .attr("xmlns", "md")
            .attr("type", "set")
            .attr("to", "s.whatsapp.net")
            .attr("id", "f1")
            .children(vec![Node::new(REG)
                .attr("jid", format!("{PHONE}@s.whatsapp.net"))
                .attr("stage", "companion_finish")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_key_bundle").bytes(wrapped),
                    Node::new("companion_identity_public")
                        .bytes(companion_identity.public.to_vec()),
                    Node::new("link_code_pairing_ref").bytes(link_ref.to_vec()),
                ])])
    }

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
        let req = parse_companion_hello(&hello_iq_with(vec![
            Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(vec![7; 80]),
            Node::new("companion_server_auth_key_pub").bytes(vec![5; 32]),
            Node::new("companion_platform_id").bytes(b"1".to_vec()),
            Node::new("companion_platform_display").bytes(b"Chrome (Linux)".to_vec()),
            Node::new("link_code_pairing_nonce").bytes(vec![0]),
        ]))
        .unwrap();
        let err = primary_hello("1234", &req, &KeyPair::generate(), b"R", "n").unwrap_err();
        assert_eq!(err, SimPairCodeError::BadCode);
    }

    fn finish_with_bundle(bundle: Vec<u8>) -> Node {
        Node::new("iq")
            .attr("xmlns", "md")
            .attr("type", "set")
            .attr("id", "f")
            .children(vec![Node::new(REG)
                .attr("jid", format!("{PHONE}@s.whatsapp.net"))
                .attr("stage", "companion_finish")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_key_bundle").bytes(bundle),
                    Node::new("companion_identity_public").bytes(vec![1; 32]),
                    Node::new("link_code_pairing_ref").bytes(b"REF".to_vec()),
                ])])
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

        #[test]
        fn hello_parser_survives_arbitrary_contents(
            contents in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..90), 5),
            jid in "[0-9a-z@.]{0,30}",
        ) {
            let tags = [
                "link_code_pairing_wrapped_companion_ephemeral_pub",
                "companion_server_auth_key_pub",
                "companion_platform_id",
                "companion_platform_display",
                "link_code_pairing_nonce",
            ];
            let children = tags.iter().zip(contents).map(|(t, c)| Node::new(*t).bytes(c)).collect();
            let mut iq = hello_iq_with(children);
            if let crate::wire::Content::Nodes(regs) = &mut iq.content {
                regs[0].attrs[0].1 = jid;
            }
            // Must not panic; random input is essentially never valid.
            let _ = parse_companion_hello(&iq);
        }
    }
}
