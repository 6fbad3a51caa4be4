//! Linking by code, end to end without sockets: our companion against our
//! simulated phone/server, and each of them against the independent
//! implementation in whatsapp-rust (wacore's `PairCodeUtils`), so the two
//! halves we wrote cannot agree on the same mistake unnoticed.
//!
//! PBKDF2 runs 2^17 rounds per wrap/unwrap; each test keeps to four.

use wasp::client::pairing::code::{self as companion, PairCodeError, PairCodeNotification};
use wasp::crypto::KeyPair;
use wasp::sim::pair_code::{self as sim, SimPairCodeError};
use wasp::types::PhoneNumber;
use wasp::wire::{Content, Node};

use whatsapp_rust::wacore::libsignal::protocol::{KeyPair as WaKeyPair, PrivateKey};
use whatsapp_rust::wacore::pair_code::PairCodeUtils;
use whatsapp_rust::wacore_binary::{Node as WaNode, NodeContent as WaContent};

const PHONE: &str = "15551234567";

fn phone() -> PhoneNumber {
    PhoneNumber::parse(&format!("+{PHONE}")).expect("valid test number")
}

/// Converts a whatsapp-rust stanza into ours (values as their strings).
fn from_wa(node: &WaNode) -> Node {
    let mut ours = Node::new(node.tag.to_string());
    for (key, value) in node.attrs.0.iter() {
        ours = ours.attr(key.to_string(), value.as_str().into_owned());
    }
    match &node.content {
        None => ours,
        Some(WaContent::Bytes(b)) => ours.bytes(b.clone()),
        Some(WaContent::String(s)) => ours.bytes(s.as_bytes().to_vec()),
        Some(WaContent::Nodes(children)) => ours.children(children.iter().map(from_wa).collect()),
    }
}

/// Attributes in a fixed order, so two builders' stanzas compare equal.
fn canonical(node: &Node) -> Node {
    let mut attrs = node.attrs.clone();
    attrs.sort();
    let content = match &node.content {
        Content::Nodes(children) => Content::Nodes(children.iter().map(canonical).collect()),
        other => other.clone(),
    };
    Node {
        tag: node.tag.clone(),
        attrs,
        content,
    }
}

fn wa_key_pair(ours: &KeyPair) -> WaKeyPair {
    let private = PrivateKey::deserialize(&ours.private).expect("32-byte private key");
    WaKeyPair::try_from(private).expect("key pair from private key")
}

fn primary_hello_of(notification: &Node) -> companion::PrimaryHello {
    match companion::parse_notification(notification).expect("notification parses") {
        PairCodeNotification::PrimaryHello(hello) => hello,
        other => panic!("expected primary_hello, got {other:?}"),
    }
}

/// Stage 1 through the sim: returns the companion's flow, the ref, the
/// sim's view of the request.
fn stage_one(
    code: Option<&str>,
) -> (
    companion::CompanionHello,
    Vec<u8>,
    sim::CompanionHelloRequest,
) {
    let hello = companion::companion_hello(code).expect("companion_hello");
    let iq =
        companion::companion_hello_iq(&hello, "1", &phone(), &[0x11; 32], "1", "Chrome (Linux)");
    let req = sim::parse_companion_hello(&iq).expect("sim accepts our companion_hello");
    assert_eq!(req.phone, PHONE);
    assert_eq!(req.companion_noise_pub, [0x11; 32]);
    assert_eq!(req.platform_display, "Chrome (Linux)");
    let link_ref = sim::new_link_ref();
    let answer = sim::companion_hello_result(&req.iq_id, &link_ref);
    let pairing_ref = companion::parse_companion_hello_result(&answer).expect("ref");
    assert_eq!(pairing_ref, link_ref);
    (hello, pairing_ref, req)
}

#[test]
fn our_companion_links_with_our_simulated_phone() {
    let (hello, pairing_ref, req) = stage_one(None);
    let phone_identity = KeyPair::generate();
    // The user types the code the way it is displayed.
    let (pending, notification) = sim::primary_hello(
        &hello.display_code(),
        &req,
        &phone_identity,
        &pairing_ref,
        "n1",
    )
    .expect("phone accepts the code");
    assert!(companion::is_pair_code_notification(&notification));

    let identity = KeyPair::generate();
    let primary = primary_hello_of(&notification);
    let finish =
        companion::companion_finish(&hello, &pairing_ref, &primary, &identity, "2", &phone())
            .expect("companion_finish");
    assert_eq!(finish.primary_identity_pub, phone_identity.public);

    let found = sim::parse_companion_finish(&finish.iq).expect("finish parses");
    assert_eq!(found.link_ref, pairing_ref);
    let linked = sim::primary_finish(&pending, &finish.iq).expect("phone opens the bundle");
    assert_eq!(linked.adv_secret, finish.adv_secret);
    assert_eq!(linked.companion_identity_pub, identity.public);
    assert_eq!(linked.companion_noise_pub, [0x11; 32]);
    assert_eq!(linked.phone, PHONE);
}

#[test]
fn a_mistyped_code_fails_at_the_phone_and_nothing_links() {
    let (hello, pairing_ref, req) = stage_one(Some("ABCD-EFGH"));
    let phone_identity = KeyPair::generate();
    let (pending, notification) =
        sim::primary_hello("ABCD-EFGJ", &req, &phone_identity, &pairing_ref, "n1")
            .expect("any well-formed code is accepted at this point");
    // The companion cannot tell: AES-CTR has no tag.
    let primary = primary_hello_of(&notification);
    let finish = companion::companion_finish(
        &hello,
        &pairing_ref,
        &primary,
        &KeyPair::generate(),
        "2",
        &phone(),
    )
    .expect("companion_finish is built regardless");
    assert_eq!(
        sim::primary_finish(&pending, &finish.iq).unwrap_err(),
        SimPairCodeError::BundleRejected
    );
}

#[test]
fn stale_or_malformed_stanzas_are_clean_errors() {
    let hello = companion::companion_hello(Some("ZZZZ2222")).expect("hello");
    let identity = KeyPair::generate();
    let foreign = companion::PrimaryHello {
        pairing_ref: b"someone else".to_vec(),
        wrapped_primary_ephemeral: [1; 80],
        primary_identity_pub: [2; 32],
    };
    assert_eq!(
        companion::companion_finish(&hello, b"mine", &foreign, &identity, "2", &phone())
            .unwrap_err(),
        PairCodeError::RefMismatch
    );
    let truncated = Node::new("notification")
        .attr("type", companion::NOTIFICATION_TYPE)
        .children(vec![Node::new("link_code_companion_reg")
            .attr("stage", "primary_hello")
            .children(vec![
                Node::new("link_code_pairing_wrapped_primary_ephemeral_pub").bytes(vec![1; 40]),
                Node::new("primary_identity_pub").bytes(vec![2; 32]),
                Node::new("link_code_pairing_ref").bytes(b"r".to_vec()),
            ])]);
    assert!(matches!(
        companion::parse_notification(&truncated),
        Err(PairCodeError::Malformed { .. })
    ));
    let no_children = Node::new("iq")
        .attr("xmlns", "md")
        .attr("type", "set")
        .attr("id", "x")
        .children(vec![Node::new("link_code_companion_reg")
            .attr("jid", format!("{PHONE}@s.whatsapp.net"))
            .attr("stage", "companion_finish")]);
    assert!(matches!(
        sim::parse_companion_finish(&no_children),
        Err(SimPairCodeError::BadRequest(_))
    ));
    assert!(matches!(
        sim::parse_companion_hello(&no_children),
        Err(SimPairCodeError::BadRequest(_))
    ));
}

/// whatsapp-rust's companion code against our simulated phone.
#[test]
fn whatsapp_rust_companion_links_with_our_simulated_phone() {
    let code = PairCodeUtils::generate_code();
    let ephemeral = KeyPair::generate();
    let wrapped = PairCodeUtils::encrypt_ephemeral_pub(&ephemeral.public, &code);
    let wa_hello = PairCodeUtils::build_companion_hello_iq(
        PHONE,
        &[0x22; 32],
        &wrapped,
        "1",
        "Chrome (Linux)",
        true,
        "wa-1".to_string(),
    );
    let req = sim::parse_companion_hello(&from_wa(&wa_hello)).expect("sim accepts wacore's hello");
    assert_eq!(req.iq_id, "wa-1");
    assert_eq!(req.companion_noise_pub, [0x22; 32]);

    let link_ref = sim::new_link_ref();
    let phone_identity = KeyPair::generate();
    let (pending, notification) =
        sim::primary_hello(&code, &req, &phone_identity, &link_ref, "n1").expect("primary_hello");
    let primary = primary_hello_of(&notification);
    let primary_ephemeral =
        PairCodeUtils::decrypt_primary_ephemeral_pub(&primary.wrapped_primary_ephemeral, &code)
            .expect("wacore unwraps our phone's ephemeral key");

    let identity = KeyPair::generate();
    let (bundle, adv_secret) = PairCodeUtils::prepare_key_bundle(
        &wa_key_pair(&ephemeral),
        &primary_ephemeral,
        &primary.primary_identity_pub,
        &wa_key_pair(&identity),
    )
    .expect("wacore builds the bundle");
    let wa_finish = PairCodeUtils::build_companion_finish_iq(
        PHONE,
        bundle,
        &identity.public,
        &primary.pairing_ref,
        "wa-2".to_string(),
    );
    let linked =
        sim::primary_finish(&pending, &from_wa(&wa_finish)).expect("phone opens wacore's bundle");
    assert_eq!(linked.adv_secret, adv_secret);
    assert_eq!(linked.companion_identity_pub, identity.public);
}

/// Our companion's stanzas and wrapping against whatsapp-rust's.
#[test]
fn our_companion_matches_whatsapp_rust_byte_for_byte() {
    let hello = companion::companion_hello(None).expect("hello");
    // Our wrapping opens with theirs...
    assert_eq!(
        PairCodeUtils::decrypt_primary_ephemeral_pub(hello.wrapped_ephemeral(), &hello.code)
            .expect("80 bytes"),
        *hello.ephemeral_public()
    );
    // ... and our companion_hello is theirs, given the same inputs.
    let ours =
        companion::companion_hello_iq(&hello, "7", &phone(), &[0x33; 32], "1", "Chrome (Linux)");
    let theirs = PairCodeUtils::build_companion_hello_iq(
        PHONE,
        &[0x33; 32],
        hello.wrapped_ephemeral(),
        "1",
        "Chrome (Linux)",
        true,
        "7".to_string(),
    );
    assert_eq!(canonical(&ours), canonical(&from_wa(&theirs)));

    // Their wrapping of a phone ephemeral key opens with ours: the DH in
    // our companion_finish is then the one the phone computes.
    let phone_ephemeral = KeyPair::generate();
    let phone_identity = KeyPair::generate();
    let primary = companion::PrimaryHello {
        pairing_ref: b"REF".to_vec(),
        wrapped_primary_ephemeral: PairCodeUtils::encrypt_ephemeral_pub(
            &phone_ephemeral.public,
            &hello.code,
        ),
        primary_identity_pub: phone_identity.public,
    };
    let identity = KeyPair::generate();
    let finish = companion::companion_finish(&hello, b"REF", &primary, &identity, "8", &phone())
        .expect("finish");
    let reg = finish.iq.child("link_code_companion_reg").expect("reg");
    let bundle = reg
        .child("link_code_pairing_wrapped_key_bundle")
        .and_then(Node::content_bytes)
        .expect("bundle")
        .to_vec();
    let theirs = PairCodeUtils::build_companion_finish_iq(
        PHONE,
        bundle,
        &identity.public,
        b"REF",
        "8".to_string(),
    );
    assert_eq!(canonical(&finish.iq), canonical(&from_wa(&theirs)));
}
