//! Codec tests: byte-exact encodings, hostile input, round-trip and
//! random-input properties, and cross-checks against whatsapp-rust's
//! independent codec (a dev-dependency).

use super::tags::*;
use super::*;

fn enc(node: &Node) -> Vec<u8> {
    marshal(node).unwrap()
}

/// Bytes of `<t a="value"/>` after the flags byte, list header and the tag
/// and key, which are both the token "to" (17): just the value.
fn encoded_value(value: &str) -> Vec<u8> {
    let bytes = enc(&Node::new("to").attr("to", value));
    assert_eq!(bytes[..5], [0, LIST_8, 3, 17, 17]);
    bytes[5..].to_vec()
}

fn round_trip(node: &Node) {
    let bytes = marshal(node).unwrap();
    assert_eq!(&unmarshal(&bytes).unwrap(), node, "bytes: {bytes:?}");
}

// ---- byte-exact encodings -------------------------------------------------

#[test]
fn decodes_reference_stanzas() {
    // whatsapp-rust's encoder tests: <message>receipt</message> (content is
    // the token "receipt") and <test>-.0123456789</test> (nibble-packed).
    let node = unmarshal(&[0, 248, 2, 19, 7]).unwrap();
    assert_eq!(node, Node::new("message").bytes(b"receipt".to_vec()));

    let bytes = [
        0, 248, 2, 252, 4, 116, 101, 115, 116, 255, 6, 171, 1, 35, 69, 103, 137,
    ];
    let node = unmarshal(&bytes).unwrap();
    assert_eq!(node, Node::new("test").bytes(b"-.0123456789".to_vec()));
}

#[test]
fn encodes_an_iq_ping() {
    let node = Node::new("iq")
        .attr("id", "ABC123")
        .attr("to", "s.whatsapp.net")
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children(vec![Node::new("ping")]);
    let expected = [
        0, LIST_8, 10, 25, // <iq, 4 attrs + content
        8, HEX_8, 3, 0xAB, 0xC1, 0x23, // id="ABC123" packed hex
        17, 3, // to="s.whatsapp.net" (token)
        4, 41, // type="get"
        22, 87, // xmlns="w:p"
        LIST_8, 1, LIST_8, 1, 86, // [<ping/>]
    ];
    assert_eq!(enc(&node), expected);
    round_trip(&node);
}

#[test]
fn tags_and_double_byte_tokens() {
    assert_eq!(enc(&Node::new("message")), [0, LIST_8, 1, 19]);
    // "msgr" is single-byte token 204; "newsletter" is no token at all.
    assert_eq!(encoded_value("msgr"), [204]);
    let (dict, index) = (0u8..4)
        .flat_map(|d| (0..=255u8).map(move |i| (d, i)))
        .find(|&(d, i)| {
            let t = tokens::double(d, i).unwrap();
            tokens::lookup(t) == Some(tokens::Token::Double { dict: d, index: i })
                && !t.contains('@')
        })
        .unwrap();
    let token = tokens::double(dict, index).unwrap();
    assert_eq!(encoded_value(token), [DICTIONARY_0 + dict, index]);
    round_trip(&Node::new(token).attr(token, token));
}

#[test]
fn jid_pair_and_ad_jid_encodings() {
    // 11 digits: six packed bytes, the last padded, odd flag set.
    let phone = [NIBBLE_8, 0x86, 0x15, 0x55, 0x12, 0x34, 0x56, 0x7F];
    let mut pair = vec![JID_PAIR];
    pair.extend(phone);
    pair.push(3); // s.whatsapp.net
    assert_eq!(encoded_value("15551234567@s.whatsapp.net"), pair);

    let mut ad = vec![AD_JID, DOMAIN_PN, 12];
    ad.extend(phone);
    assert_eq!(encoded_value("15551234567:12@s.whatsapp.net"), ad);

    let mut lid = vec![AD_JID, DOMAIN_LID, 3];
    lid.extend(phone);
    assert_eq!(encoded_value("15551234567:3@lid"), lid);

    let user = [NIBBLE_8, 2, 0x12, 0x34];
    let with_user = |head: &[u8], tail: &[u8]| [head, &user, tail].concat();
    assert_eq!(
        encoded_value("1234:2@hosted"),
        with_user(&[AD_JID, DOMAIN_HOSTED, 2], &[])
    );
    assert_eq!(
        encoded_value("1234:2@hosted.lid"),
        with_user(&[AD_JID, DOMAIN_HOSTED_LID, 2], &[])
    );
    // A LID without device is a plain pair (lid is token 118).
    assert_eq!(encoded_value("1234@lid"), with_user(&[JID_PAIR], &[118]));
    // Group (g.us = 28) and status broadcast (status = 11, broadcast = 13).
    assert_eq!(
        encoded_value("1234-5678@g.us"),
        [JID_PAIR, NIBBLE_8, 0x85, 0x12, 0x34, 0xA5, 0x67, 0x8F, 28]
    );
    assert_eq!(encoded_value("status@broadcast"), [JID_PAIR, 11, 13]);
    // Messenger devices use FB_JID with a u16 device (msgr = 204).
    assert_eq!(
        encoded_value("1234:300@msgr"),
        with_user(&[FB_JID], &[0x01, 0x2C, 204])
    );

    for text in [
        "15551234567@s.whatsapp.net",
        "15551234567:12@s.whatsapp.net",
        "15551234567:3@lid",
        "1234:2@hosted",
        "1234:2@hosted.lid",
        "1234-5678@g.us",
        "1234:300@msgr",
        "120363000000000000@newsletter",
    ] {
        round_trip(&Node::new("x").attr("jid", text));
    }
}

#[test]
fn strings_that_are_not_canonical_jids_stay_text() {
    for text in [
        "1:0@s.whatsapp.net",   // device 0 is not written
        "1:01@s.whatsapp.net",  // leading zero
        "@g.us",                // empty user
        "1@example.com",        // unknown server
        "1.5@g.us",             // agent: no wire slot for it
        "1:300@s.whatsapp.net", // device too wide for AD_JID
        "1:2@g.us",             // device on a pair-only server
        "a@b@c",
    ] {
        let value = encoded_value(text);
        assert_eq!(value[0], BINARY_8, "{text}");
        assert_eq!(&value[2..], text.as_bytes(), "{text}");
        round_trip(&Node::new("x").attr("jid", text));
    }
    // JIDs only in attribute values: a JID-looking tag or key is text.
    let node = Node::new("1@s.whatsapp.net").attr("2@g.us", "v");
    assert_eq!(enc(&node)[3], BINARY_8);
    round_trip(&node);
}

#[test]
fn packing_with_odd_lengths_and_limits() {
    assert_eq!(encoded_value("123"), [NIBBLE_8, 0x82, 0x12, 0x3F]);
    assert_eq!(encoded_value("12-.9"), [NIBBLE_8, 0x83, 0x12, 0xAB, 0x9F]);
    assert_eq!(encoded_value("ABC"), [HEX_8, 0x82, 0xAB, 0xCF]);
    assert_eq!(encoded_value("ABCD"), [HEX_8, 0x02, 0xAB, 0xCD]);
    // Lower-case hex is not packable.
    assert_eq!(encoded_value("abc"), [BINARY_8, 3, b'a', b'b', b'c']);
    // 127 characters pack, 128 do not.
    let max = "9".repeat(PACKED_MAX);
    assert_eq!(encoded_value(&max)[..2], [NIBBLE_8, 0x80 | 64]);
    let over = "9".repeat(PACKED_MAX + 1);
    assert_eq!(encoded_value(&over)[..2], [BINARY_8, 128]);
    for s in ["123", "12-.9", "ABC", "ABCD", "abc", &max, &over, "", "0A"] {
        round_trip(&Node::new("x").attr("v", s));
    }
    // The empty string is empty binary, not the LIST_EMPTY "no value".
    assert_eq!(encoded_value(""), [BINARY_8, 0]);
}

#[test]
fn binary_length_prefixes() {
    let content = |len: usize| enc(&Node::new("message").bytes(vec![7u8; len]));
    assert_eq!(content(255)[4..6], [BINARY_8, 255]);
    assert_eq!(content(256)[4..8], [BINARY_20, 0, 1, 0]);
    assert_eq!(content((1 << 20) - 1)[4..8], [BINARY_20, 0x0F, 0xFF, 0xFF]);
    assert_eq!(content(1 << 20)[4..9], [BINARY_32, 0, 0x10, 0, 0]);
    for len in [0, 255, 256, 1 << 20] {
        round_trip(&Node::new("message").bytes(vec![7u8; len]));
    }
}

#[test]
fn list_prefixes_and_empty_children() {
    let children = |n: usize| Node::new("list").children(vec![Node::new("item"); n]);
    assert_eq!(enc(&children(255))[4..6], [LIST_8, 255]);
    assert_eq!(enc(&children(256))[4..7], [LIST_16, 1, 0]);
    round_trip(&children(256));
    // An empty child list is LIST_EMPTY in the content slot and comes back
    // as an empty list, distinct from no content at all.
    assert_eq!(enc(&children(0)), [0, LIST_8, 2, 113, LIST_EMPTY]);
    round_trip(&children(0));
    round_trip(&Node::new("list"));
}

#[test]
fn decodes_ad_jid_domains_and_interop_jids() {
    let with_value = |value: &[u8]| {
        let mut bytes = vec![0, LIST_8, 3, 19, 12];
        bytes.extend_from_slice(value);
        unmarshal(&bytes).map(|n| n.attrs[0].1.clone())
    };
    let user = [NIBBLE_8, 1, 0x12];
    let ad = |domain: u8, device: u8| {
        let mut v = vec![AD_JID, domain, device];
        v.extend(user);
        with_value(&v)
    };
    assert_eq!(ad(0, 0), Ok("12@s.whatsapp.net".to_owned()));
    assert_eq!(ad(1, 5), Ok("12:5@lid".to_owned()));
    assert_eq!(ad(128, 5), Ok("12:5@hosted".to_owned()));
    assert_eq!(ad(129, 5), Ok("12:5@hosted.lid".to_owned()));
    // WA Web reads other even domain bytes with bit 7 as hosted.
    assert_eq!(ad(130, 5), Ok("12:5@hosted".to_owned()));
    assert_eq!(ad(2, 5), Err(BinaryError::InvalidDomainType(2)));
    assert_eq!(ad(131, 5), Err(BinaryError::InvalidDomainType(131)));

    // INTEROP_JID as servers send it: user, device, integrator, server.
    let mut interop = vec![INTEROP_JID, NIBBLE_8, 1, 0x12, 0, 7, 0, 9, BINARY_8, 7];
    interop.extend_from_slice(b"interop");
    assert_eq!(with_value(&interop), Ok("12:7@interop".to_owned()));
    // Pair without user: the server alone.
    assert_eq!(
        with_value(&[JID_PAIR, LIST_EMPTY, 28]),
        Ok("g.us".to_owned())
    );
    assert_eq!(with_value(&[LIST_EMPTY]), Ok(String::new()));
}

#[test]
fn compressed_payloads() {
    let node =
        Node::new("iq")
            .attr("id", "1234")
            .children(vec![Node::new("item").bytes(vec![0u8; 5000]); 3]);
    let packed = marshal_compressed(&node).unwrap();
    assert_eq!(packed[0], FLAG_COMPRESSED);
    assert!(packed.len() < 1000);
    assert_eq!(unmarshal(&packed).unwrap(), node);

    // Other flag bits are ignored; bit 0x02 alone decides.
    let mut flagged = enc(&node);
    flagged[0] = 0x01;
    assert_eq!(unmarshal(&flagged).unwrap(), node);

    assert!(matches!(
        unmarshal(&[FLAG_COMPRESSED, 1, 2, 3, 4]),
        Err(BinaryError::Inflate(_))
    ));
    // Truncated zlib stream.
    assert!(unmarshal(&packed[..packed.len() / 2]).is_err());
}

#[test]
fn rejects_decompression_bombs() {
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    let mut z = ZlibEncoder::new(vec![FLAG_COMPRESSED], flate2::Compression::best());
    z.write_all(&vec![0u8; MAX_INFLATED_LEN + 1]).unwrap();
    let bomb = z.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    assert_eq!(
        unmarshal(&bomb),
        Err(BinaryError::InflatedTooLarge {
            limit: MAX_INFLATED_LEN
        })
    );
}

// ---- hostile input ----------------------------------------------------------

#[test]
fn malformed_input_gets_typed_errors() {
    assert_eq!(unmarshal(&[]), Err(BinaryError::EmptyInput));
    assert_eq!(unmarshal(&[0]), Err(BinaryError::Eof));
    assert!(matches!(
        unmarshal(&[0, 19]),
        Err(BinaryError::UnexpectedTag {
            tag: 19,
            offset: 0,
            ..
        })
    ));
    assert!(matches!(
        unmarshal(&[0, LIST_EMPTY]),
        Err(BinaryError::InvalidNode(_))
    ));
    assert!(matches!(
        unmarshal(&[0, LIST_8, 1, LIST_EMPTY]),
        Err(BinaryError::InvalidNode(_))
    ));
    assert_eq!(
        unmarshal(&[0, LIST_8, 1, 19, 19]),
        Err(BinaryError::TrailingData(1))
    );
    assert!(matches!(
        unmarshal(&[0, LIST_8, 1, 240]),
        Err(BinaryError::UnexpectedTag { tag: 240, .. })
    ));
    assert_eq!(
        unmarshal(&[0, LIST_8, 3, 19, 12, BINARY_8, 2, 0xC3, 0x28]),
        Err(BinaryError::InvalidUtf8 { offset: 6 })
    );
    assert!(matches!(
        unmarshal(&[0, LIST_8, 3, 19, 12, NIBBLE_8, 1, 0xC1]),
        Err(BinaryError::InvalidPacked { value: 12, .. })
    ));
    // Padding flag on an empty packed value.
    assert!(unmarshal(&[0, LIST_8, 3, 19, 12, NIBBLE_8, 0x80]).is_err());
    // JIDs inside JIDs are refused (this is what bounds their recursion).
    let mut nested = vec![0, LIST_8, 3, 19, 12];
    nested.extend(std::iter::repeat_n(JID_PAIR, 100_000));
    assert!(matches!(
        unmarshal(&nested),
        Err(BinaryError::UnexpectedTag { tag: JID_PAIR, .. })
    ));
}

#[test]
fn lengths_beyond_the_data_do_not_allocate_or_panic() {
    // Claims of 65535 children, a 4 GiB binary, a 1 MiB binary, 127
    // packed bytes: all with almost nothing behind them.
    for bytes in [
        vec![0, LIST_8, 2, 19, LIST_16, 0xFF, 0xFF, LIST_8, 1, 19],
        vec![0, LIST_8, 2, 19, BINARY_32, 0xFF, 0xFF, 0xFF, 0xFF, 1],
        vec![0, LIST_8, 2, 19, BINARY_20, 0xFF, 0xFF, 0xFF],
        vec![0, LIST_16, 0xFF, 0xFF, 19, 19],
        vec![0, LIST_8, 3, 19, 12, HEX_8, 0x7F, 0x12],
    ] {
        assert_eq!(unmarshal(&bytes), Err(BinaryError::Eof), "{bytes:?}");
    }
}

#[test]
fn every_truncation_of_a_valid_stanza_is_an_error() {
    let node = Node::new("message")
        .attr("to", "15551234567:3@s.whatsapp.net")
        .attr("id", "3EB0ABCDEF")
        .attr("notify", "Alice")
        .children(vec![
            Node::new("enc").attr("v", "2").bytes(vec![1u8; 300]),
            Node::new("device-identity").bytes(vec![2u8; 10]),
        ]);
    let bytes = enc(&node);
    for len in 0..bytes.len() {
        assert!(unmarshal(&bytes[..len]).is_err(), "prefix {len}");
    }
    assert_eq!(unmarshal(&bytes).unwrap(), node);
}

#[test]
fn nesting_is_capped_on_both_sides() {
    let chain = |levels: usize| {
        let mut node = Node::new("n");
        for _ in 1..levels {
            node = Node::new("n").children(vec![node]);
        }
        node
    };
    round_trip(&chain(MAX_DEPTH));
    let too_deep = chain(MAX_DEPTH + 1);
    assert_eq!(
        marshal(&too_deep),
        Err(BinaryError::TooDeep { limit: MAX_DEPTH })
    );

    // Hand-built: <n><n>... 10k levels, each "LIST_8 2 tag LIST_8 1".
    let mut bytes = vec![0];
    for _ in 0..10_000 {
        bytes.extend([LIST_8, 2, 111, LIST_8, 1]);
    }
    assert_eq!(
        unmarshal(&bytes),
        Err(BinaryError::TooDeep { limit: MAX_DEPTH })
    );
}

#[test]
fn oversized_lists_are_refused_by_the_encoder() {
    let attrs = vec![("k".to_owned(), "v".to_owned()); 32_768];
    let node = Node {
        tag: "x".into(),
        attrs,
        content: Content::None,
    };
    assert_eq!(
        marshal(&node),
        Err(BinaryError::TooLong {
            what: "list",
            len: 65_537
        })
    );
}

// ---- properties ---------------------------------------------------------------

mod props {
    use super::*;
    use crate::types::{Jid, Server, STATUS_BROADCAST_USER};
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        let all: Vec<&'static str> = tokens::SINGLE_BYTE[1..]
            .iter()
            .chain(tokens::DOUBLE_BYTE.iter().flatten())
            .copied()
            .collect();
        proptest::sample::select(all).prop_map(str::to_owned)
    }

    fn server() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "s.whatsapp.net",
            "lid",
            "g.us",
            "broadcast",
            "newsletter",
            "hosted",
            "hosted.lid",
            "msgr",
            "interop",
            "bot",
            "c.us",
            "call",
            "example.com",
        ])
    }

    /// JIDs built from parts and formatted: canonical by construction.
    fn canonical_jid() -> impl Strategy<Value = String> {
        let user = prop_oneof![
            "[1-9][0-9]{0,17}",
            "[0-9]{1,8}\\.[0-9]{1,3}",
            "[0-9]{6,12}-[0-9]{10}",
            Just(STATUS_BROADCAST_USER.to_owned()),
            "[a-zA-Z0-9_]{1,12}",
            Just(String::new()),
        ];
        let device = prop_oneof![Just(0u16), 1..=255u16, any::<u16>()];
        let agent = prop_oneof![3 => Just(0u8), 1 => any::<u8>()];
        (user, agent, device, server()).prop_map(|(user, agent, device, server)| {
            Jid {
                user,
                agent,
                device,
                server: Server::parse(server),
            }
            .to_string()
        })
    }

    /// Strings that look like JIDs but mostly are not canonical.
    fn jid_like() -> impl Strategy<Value = String> {
        ("[0-9a-z.:_@-]{0,16}", server()).prop_map(|(user, server)| format!("{user}@{server}"))
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => token(),
            2 => canonical_jid(),
            1 => jid_like(),
            2 => "[0-9.-]{0,140}",
            1 => "[0-9A-F]{0,140}",
            2 => "\\PC{0,24}",
            1 => ".{200,300}",
        ]
    }

    fn leaf_content() -> impl Strategy<Value = Content> {
        prop_oneof![
            2 => Just(Content::None),
            2 => vec(any::<u8>(), 0..64).prop_map(Content::Bytes),
            1 => vec(any::<u8>(), 250..600).prop_map(Content::Bytes),
            1 => Just(Content::Nodes(Vec::new())),
        ]
    }

    fn attrs() -> impl Strategy<Value = Vec<(String, String)>> {
        vec((text(), text()), 0..5)
    }

    pub(super) fn node() -> impl Strategy<Value = Node> {
        let leaf = (text(), attrs(), leaf_content()).prop_map(|(tag, attrs, content)| Node {
            tag,
            attrs,
            content,
        });
        leaf.prop_recursive(4, 40, 6, |inner| {
            (text(), attrs(), vec(inner, 0..6)).prop_map(|(tag, attrs, children)| Node {
                tag,
                attrs,
                content: Content::Nodes(children),
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn marshal_then_unmarshal_is_identity(node in node()) {
            let bytes = marshal(&node).unwrap();
            prop_assert_eq!(unmarshal(&bytes).unwrap(), node.clone());
            let packed = marshal_compressed(&node).unwrap();
            prop_assert_eq!(unmarshal(&packed).unwrap(), node);
        }

        #[test]
        fn attribute_values_round_trip(value in text()) {
            let node = Node::new("x").attr("v", value);
            prop_assert_eq!(unmarshal(&marshal(&node).unwrap()).unwrap(), node);
        }

        #[test]
        fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
            let _ = unmarshal(&bytes);
            let mut framed = vec![0, LIST_8];
            framed.extend_from_slice(&bytes);
            let _ = unmarshal(&framed);
        }

        #[test]
        fn mutated_stanzas_never_panic(
            node in node(),
            edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = marshal(&node).unwrap();
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let _ = unmarshal(&bytes);
            let len = cut.index(bytes.len() + 1);
            let _ = unmarshal(&bytes[..len]);
        }
    }
}

// ---- cross-checks against whatsapp-rust's codec ------------------------------

mod interop {
    use super::*;
    use proptest::prelude::*;
    use whatsapp_rust::wacore_binary as wa;

    /// A node decoded by whatsapp-rust, in our shape. String content and
    /// JID values become text / bytes the way our decoder maps them.
    fn from_theirs(n: &wa::NodeRef<'_>) -> Node {
        let attrs = n
            .attrs
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    wa::node::ValueRef::String(s) => s.to_string(),
                    wa::node::ValueRef::Jid(j) => j.to_string(),
                };
                (k.to_string(), value)
            })
            .collect();
        let content = match &n.content {
            None => Content::None,
            Some(wa::NodeContentRef::Bytes(b)) => Content::Bytes(b.to_vec()),
            Some(wa::NodeContentRef::String(s)) => Content::Bytes(s.as_bytes().to_vec()),
            Some(wa::NodeContentRef::Nodes(children)) => {
                Content::Nodes(children.iter().map(from_theirs).collect())
            }
        };
        Node {
            tag: n.tag.to_string(),
            attrs,
            content,
        }
    }

    fn to_theirs(n: &Node) -> wa::Node {
        let mut attrs = wa::Attrs::new();
        for (k, v) in &n.attrs {
            attrs.push(k.clone(), wa::NodeValue::String(v.as_str().into()));
        }
        let content = match &n.content {
            Content::None => None,
            Content::Bytes(b) => Some(wa::NodeContent::Bytes(b.clone())),
            Content::Nodes(c) => Some(wa::NodeContent::Nodes(c.iter().map(to_theirs).collect())),
        };
        wa::Node::new(n.tag.clone(), attrs, content)
    }

    /// whatsapp-rust reads a LIST_EMPTY content slot as no content.
    fn without_empty_lists(mut n: Node) -> Node {
        n.content = match n.content {
            Content::Nodes(c) if c.is_empty() => Content::None,
            Content::Nodes(c) => Content::Nodes(c.into_iter().map(without_empty_lists).collect()),
            other => other,
        };
        n
    }

    fn decode_theirs(bytes: &[u8]) -> Node {
        let theirs = wa::marshal::unmarshal_ref(&bytes[1..]).unwrap();
        from_theirs(&theirs)
    }

    #[test]
    fn their_decoder_reads_our_stanza() {
        let node = Node::new("message")
            .attr("to", "15551234567:3@s.whatsapp.net")
            .attr("participant", "98765:2@lid")
            .attr("from", "120363000000000000@g.us")
            .attr("id", "3EB0ABCDEF")
            .attr("t", "1700000000")
            .children(vec![Node::new("enc").attr("v", "2").bytes(vec![9u8; 300])]);
        assert_eq!(decode_theirs(&enc(&node)), node);
    }

    #[test]
    fn we_read_their_jids_and_string_content() {
        let mut attrs = wa::Attrs::new();
        let jid: wa::Jid = "15551234567:3@s.whatsapp.net".parse().unwrap();
        attrs.push("to", wa::NodeValue::Jid(jid));
        let lid: wa::Jid = "98765:2@lid".parse().unwrap();
        attrs.push("participant", wa::NodeValue::Jid(lid));
        attrs.push("type", wa::NodeValue::String("text".into()));
        let theirs = wa::Node::new(
            "message",
            attrs,
            Some(wa::NodeContent::String("receipt".into())),
        );
        let bytes = wa::marshal(&theirs).unwrap();
        let ours = unmarshal(&bytes).unwrap();
        let expected = Node::new("message")
            .attr("to", "15551234567:3@s.whatsapp.net")
            .attr("participant", "98765:2@lid")
            .attr("type", "text")
            .bytes(b"receipt".to_vec());
        assert_eq!(ours, expected);
    }

    /// Values whatsapp-rust's own encoder keeps intact (it rewrites some
    /// non-canonical JID-looking strings, so those are left out here).
    fn faithful_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[1-9][0-9]{0,15}(:[1-9][0-9]?)?@(s\\.whatsapp\\.net|lid)",
            "[1-9][0-9]{5,17}@(g\\.us|newsletter|broadcast)",
            "[0-9.-]{0,140}",
            "[0-9A-F]{0,140}",
            "[a-zA-Z ,!?]{0,40}",
        ]
    }

    fn faithful_node() -> impl Strategy<Value = Node> {
        use proptest::collection::vec;
        let attrs = || vec((faithful_text(), faithful_text()), 0..4);
        let leaf =
            (faithful_text(), attrs(), vec(any::<u8>(), 0..300)).prop_map(|(tag, attrs, bytes)| {
                Node {
                    tag,
                    attrs,
                    content: Content::Bytes(bytes),
                }
            });
        leaf.prop_recursive(3, 24, 4, move |inner| {
            (faithful_text(), attrs(), vec(inner, 1..4)).prop_map(|(tag, attrs, children)| Node {
                tag,
                attrs,
                content: Content::Nodes(children),
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn their_decoder_agrees_with_ours(node in props::node()) {
            let bytes = marshal(&node).unwrap();
            prop_assert_eq!(decode_theirs(&bytes), without_empty_lists(node));
        }

        #[test]
        fn our_decoder_reads_their_encoding(node in faithful_node()) {
            let bytes = wa::marshal(&to_theirs(&node)).unwrap();
            prop_assert_eq!(unmarshal(&bytes).unwrap(), node);
        }
    }
}
