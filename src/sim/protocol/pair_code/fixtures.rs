//! Test fixtures of the linking-code stanzas, written from the spec in
//! the module doc (not from our client).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

use super::code::seal_with_code;
use super::primary::BUNDLE_KEY_LABEL;
use super::stanzas::REG;
use crate::crypto::{hkdf_sha256, KeyPair};
use crate::wire::Node;

pub const PHONE: &str = "4915112345678";

/// The five children of a well-formed `companion_hello`.
pub fn good_hello_children() -> Vec<Node> {
    vec![
        Node::new("link_code_pairing_wrapped_companion_ephemeral_pub").bytes(vec![7; 80]),
        Node::new("companion_server_auth_key_pub").bytes(vec![5; 32]),
        Node::new("companion_platform_id").bytes(b"1".to_vec()),
        Node::new("companion_platform_display").bytes(b"Chrome (Linux)".to_vec()),
        Node::new("link_code_pairing_nonce").bytes(vec![0]),
    ]
}

/// A `companion_hello` whose ephemeral key is wrapped with `code`.
pub fn hello_iq(code: &str, companion_ephemeral: &[u8; 32]) -> Node {
    let mut children = good_hello_children();
    children[0] = Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
        .bytes(seal_with_code(code, companion_ephemeral).to_vec());
    hello_iq_with(children)
}

pub fn hello_iq_with(children: Vec<Node>) -> Node {
    let reg = reg("companion_hello")
        .attr("should_show_push_notification", "true")
        .children(children);
    md_iq("h1", reg)
}

/// `<link_code_companion_reg jid="PHONE@s.whatsapp.net" stage>`.
fn reg(stage: &str) -> Node {
    Node::new(REG)
        .attr("jid", format!("{PHONE}@s.whatsapp.net"))
        .attr("stage", stage)
}

/// `<iq xmlns="md" type="set" to="s.whatsapp.net" id>` around `reg`.
fn md_iq(id: &str, reg: Node) -> Node {
    Node::new("iq")
        .attr("xmlns", "md")
        .attr("type", "set")
        .attr("to", "s.whatsapp.net")
        .attr("id", id)
        .children(vec![reg])
}

/// The companion side, written here from the spec, to drive
/// `primary_finish` without the client module.
pub fn finish_iq(
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
    finish_iq_with(wrapped, &companion_identity.public, link_ref)
}

/// A `companion_finish` carrying `bundle` as its wrapped key bundle.
pub fn finish_iq_with(bundle: Vec<u8>, companion_identity: &[u8; 32], link_ref: &[u8]) -> Node {
    let reg = reg("companion_finish").children(vec![
        Node::new("link_code_pairing_wrapped_key_bundle").bytes(bundle),
        Node::new("companion_identity_public").bytes(companion_identity.to_vec()),
        Node::new("link_code_pairing_ref").bytes(link_ref.to_vec()),
    ]);
    md_iq("f1", reg)
}
