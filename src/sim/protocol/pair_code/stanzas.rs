//! The linking-code stanzas: a companion's `companion_hello` and
//! `companion_finish`, the server's answers to them.
//!
//! Owns: reading and checking those stanzas, writing the answers. Pure.
//! Must not touch: keys (`code`, `primary`), the flow's state.

use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;

use super::code::WRAPPED_KEY_LEN;
use super::error::{bad, SimPairCodeError};
use crate::sim::protocol::stanzas::result_iq;
use crate::types::{Jid, PhoneNumber, Server};
use crate::wire::Node;

/// salt 32 ‖ GCM nonce 12 ‖ (96-byte bundle + 16-byte tag).
pub(super) const WRAPPED_BUNDLE_LEN: usize = 32 + 12 + 96 + 16;
/// Platform ids the server takes: one character of this set. Source:
/// wacore pair_code.rs tests (`SERVER_ACCEPT_LIST`).
const PLATFORM_IDS: &[u8] = b"0123456789abcdefghijklm";
/// The tag of every linking-code stanza.
pub(super) const REG: &str = "link_code_companion_reg";

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

/// The `stage` of a companion's `<iq><link_code_companion_reg>`, if
/// `node` is one (route it to [`parse_companion_hello`] or
/// `primary_finish`).
pub fn companion_reg_stage(node: &Node) -> Option<&str> {
    if node.tag != "iq" {
        return None;
    }
    node.child(REG)
        .map(|reg| reg.get_attr("stage").unwrap_or_default())
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

/// The digits of `jid="PHONE@s.whatsapp.net"`: a user JID whose user is a
/// phone number written as bare digits.
fn phone_of(reg: &Node) -> Result<String, SimPairCodeError> {
    let text = reg.get_attr("jid").ok_or_else(|| bad("no jid"))?;
    let jid = Jid::parse(text)
        .ok()
        .filter(|j| j.server == Server::Pn && !j.is_ad() && !j.is_server_only())
        .ok_or_else(|| bad(format!("jid {text:?} is not a phone-number jid")))?;
    match PhoneNumber::parse(&jid.user) {
        Ok(phone) if phone.digits() == jid.user => Ok(jid.user),
        _ => Err(bad(format!("{:?} is not a phone number", jid.user))),
    }
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
    use super::super::fixtures::{good_hello_children, hello_iq_with, PHONE};
    use super::*;
    use crate::sim::protocol::stanzas::iq_error_by_id;
    use proptest::prelude::*;

    #[test]
    fn a_well_formed_hello_is_read() {
        let req = parse_companion_hello(&hello_iq_with(good_hello_children())).unwrap();
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
        let good = good_hello_children;
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
        let err = iq_error_by_id("h1", 429, "rate-overlimit");
        assert_eq!(err.child("error").unwrap().get_attr("code"), Some("429"));
        let a = new_link_ref();
        assert_eq!(a.len(), 24);
        assert_ne!(a, new_link_ref());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

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
