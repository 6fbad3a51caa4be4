//! Node -> bytes. Writes one node (without the flags byte) into a Vec.
//!
//! Strings are written in the shortest form that decodes back to the very
//! same string: token, JID (attribute values only), packed nibbles/hex,
//! else raw bytes. Tags and keys never take the JID form: they are never
//! JIDs, and some decoders insist on plain strings there.

use super::error::BinaryError;
use super::jid;
use super::node::{Content, Node};
use super::tags;
use super::tokens::{self, Token};
use super::MAX_DEPTH;
use crate::types::{JidRef, Server};

/// Appends the encoding of `node` to `out`.
pub(crate) fn write_node(out: &mut Vec<u8>, node: &Node) -> Result<(), BinaryError> {
    out.reserve(estimate_len(node, 0));
    Encoder { out }.node(node, 0)
}

/// A cheap upper-bound-ish guess of the encoded size (raw lengths plus
/// framing), so the output grows at most a few times.
fn estimate_len(node: &Node, depth: usize) -> usize {
    let attrs: usize = node.attrs.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let content = match &node.content {
        Content::None => 0,
        Content::Bytes(b) => b.len() + 5,
        Content::Nodes(children) if depth < MAX_DEPTH => {
            3 + children
                .iter()
                .map(|c| estimate_len(c, depth + 1))
                .sum::<usize>()
        }
        Content::Nodes(_) => 0,
    };
    3 + node.tag.len() + 2 + attrs + content
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    fn node(&mut self, node: &Node, depth: usize) -> Result<(), BinaryError> {
        if depth >= MAX_DEPTH {
            return Err(BinaryError::TooDeep { limit: MAX_DEPTH });
        }
        let has_content = !matches!(node.content, Content::None);
        let list_len = node
            .attrs
            .len()
            .checked_mul(2)
            .and_then(|n| n.checked_add(1 + usize::from(has_content)))
            .ok_or(BinaryError::TooLong {
                what: "attribute list",
                len: node.attrs.len(),
            })?;
        self.list_start(list_len)?;
        self.string(&node.tag, false)?;
        for (key, value) in &node.attrs {
            self.string(key, false)?;
            self.string(value, true)?;
        }
        match &node.content {
            Content::None => Ok(()),
            Content::Bytes(bytes) => self.binary(bytes),
            Content::Nodes(children) => {
                self.list_start(children.len())?;
                children
                    .iter()
                    .try_for_each(|child| self.node(child, depth + 1))
            }
        }
    }

    fn list_start(&mut self, len: usize) -> Result<(), BinaryError> {
        if len == 0 {
            self.out.push(tags::LIST_EMPTY);
        } else if let Ok(len) = u8::try_from(len) {
            self.out.extend_from_slice(&[tags::LIST_8, len]);
        } else if let Ok(len) = u16::try_from(len) {
            self.out.push(tags::LIST_16);
            self.out.extend_from_slice(&len.to_be_bytes());
        } else {
            return Err(BinaryError::TooLong { what: "list", len });
        }
        Ok(())
    }

    /// Raw bytes with the smallest length prefix.
    fn binary(&mut self, bytes: &[u8]) -> Result<(), BinaryError> {
        let len = bytes.len();
        if let Ok(len8) = u8::try_from(len) {
            self.out.extend_from_slice(&[tags::BINARY_8, len8]);
        } else if len < 1 << 20 {
            // Three bytes, big-endian; the top nibble stays zero.
            let be = (len as u32).to_be_bytes();
            self.out
                .extend_from_slice(&[tags::BINARY_20, be[1], be[2], be[3]]);
        } else if let Ok(len32) = u32::try_from(len) {
            self.out.push(tags::BINARY_32);
            self.out.extend_from_slice(&len32.to_be_bytes());
        } else {
            return Err(BinaryError::TooLong {
                what: "binary value",
                len,
            });
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn string(&mut self, s: &str, may_be_jid: bool) -> Result<(), BinaryError> {
        if s.is_empty() {
            self.out.extend_from_slice(&[tags::BINARY_8, 0]);
            return Ok(());
        }
        match tokens::lookup(s) {
            Some(Token::Single(index)) => {
                self.out.push(index);
                return Ok(());
            }
            Some(Token::Double { dict, index }) => {
                self.out
                    .extend_from_slice(&[tags::DICTIONARY_0 + dict, index]);
                return Ok(());
            }
            None => {}
        }
        if may_be_jid && self.try_jid(s)? {
            return Ok(());
        }
        if s.len() <= tags::PACKED_MAX {
            if s.bytes().all(is_nibble_char) {
                self.packed(tags::NIBBLE_8, s, nibble_value);
                return Ok(());
            }
            if s.bytes().all(is_hex_char) {
                self.packed(tags::HEX_8, s, hex_value);
                return Ok(());
            }
        }
        self.binary(s.as_bytes())
    }

    /// Writes `s` as a JID if it is the canonical text of a JID on a known
    /// server that some wire JID form carries completely. Returns whether it
    /// did; otherwise nothing was written.
    fn try_jid(&mut self, s: &str) -> Result<bool, BinaryError> {
        if !s.contains('@') {
            return Ok(false);
        }
        let Ok(parts) = JidRef::split(s) else {
            return Ok(false);
        };
        if parts.user.is_empty()
            || parts.agent != 0
            || !jid::is_known_server(parts.server)
            || !parts.formats_as(s)
        {
            return Ok(false);
        }
        if parts.device == 0 {
            self.out.push(tags::JID_PAIR);
            self.string(parts.user, false)?;
            self.string(parts.server, false)?;
            return Ok(true);
        }
        if let (Some(domain), Ok(device)) =
            (jid::ad_domain(parts.server), u8::try_from(parts.device))
        {
            self.out.extend_from_slice(&[tags::AD_JID, domain, device]);
            self.string(parts.user, false)?;
            return Ok(true);
        }
        if Server::known(parts.server) == Some(Server::Messenger) {
            self.out.push(tags::FB_JID);
            self.string(parts.user, false)?;
            self.out.extend_from_slice(&parts.device.to_be_bytes());
            self.string(parts.server, false)?;
            return Ok(true);
        }
        // A device on a server whose wire form has no device slot (or one
        // too wide for AD_JID): keep it as text so nothing is lost.
        Ok(false)
    }

    /// Two characters per byte, high nibble first; an odd length is padded
    /// with 0xF and flagged in bit 7 of the length byte. The caller checked
    /// the length (<= PACKED_MAX) and the alphabet.
    fn packed(&mut self, tag: u8, s: &str, value: fn(u8) -> u8) {
        let bytes = s.as_bytes();
        // bytes.len() <= 127, so the packed count fits in 7 bits.
        let mut len_byte = bytes.len().div_ceil(2) as u8;
        if bytes.len() % 2 == 1 {
            len_byte |= 0x80;
        }
        self.out.extend_from_slice(&[tag, len_byte]);
        for pair in bytes.chunks(2) {
            let packed = match *pair {
                [hi, lo] => (value(hi) << 4) | value(lo),
                [hi] => (value(hi) << 4) | 0x0F,
                _ => 0xFF,
            };
            self.out.push(packed);
        }
    }
}

fn is_nibble_char(b: u8) -> bool {
    b.is_ascii_digit() || b == b'-' || b == b'.'
}

fn is_hex_char(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

fn nibble_value(b: u8) -> u8 {
    match b {
        b'-' => 10,
        b'.' => 11,
        _ => b.wrapping_sub(b'0') & 0x0F,
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'A'..=b'F' => b - b'A' + 10,
        _ => b.wrapping_sub(b'0') & 0x0F,
    }
}
