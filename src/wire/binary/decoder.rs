//! Bytes -> node. Reads one node (the flags byte already stripped and the
//! payload inflated) from untrusted input.
//!
//! Hostile input gets an error, never a panic: every read is bounds
//! checked, nesting is capped at `MAX_DEPTH`, JID parts cannot nest JIDs,
//! and no buffer is sized from a length the input claims before the bytes
//! are known to be there.
//!
//! Mapping onto [`Node`]: tokens, packed strings and JIDs become their
//! text; raw binary becomes text in tags and attributes (invalid UTF-8 is an
//! error there, not replaced) and `Content::Bytes` as content. String-valued
//! content (a token, JID, packed value) also becomes `Content::Bytes` with
//! its UTF-8 text. A content slot holding LIST_EMPTY becomes
//! `Content::Nodes(vec![])`, mirroring how the encoder writes an empty child
//! list; a node without a content slot has `Content::None`.

use super::error::BinaryError;
use super::jid;
use super::node::{Content, Node};
use super::tags;
use super::tokens;
use super::MAX_DEPTH;

/// Smallest encoding of a node (LIST_8, size, one-byte tag): bounds how many
/// children a list can really hold, whatever its size field says.
const MIN_NODE_LEN: usize = 3;
/// Smallest encoding of an attribute (two one-byte tokens).
const MIN_ATTR_LEN: usize = 2;

/// Decodes exactly one node spanning all of `data`.
pub(crate) fn read_node(data: &[u8]) -> Result<Node, BinaryError> {
    let mut reader = Reader { data, pos: 0 };
    let node = reader.node(0)?;
    match reader.remaining() {
        0 => Ok(node),
        left => Err(BinaryError::TrailingData(left)),
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, BinaryError> {
        let b = *self.data.get(self.pos).ok_or(BinaryError::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], BinaryError> {
        let end = self.pos.checked_add(len).ok_or(BinaryError::Eof)?;
        let bytes = self.data.get(self.pos..end).ok_or(BinaryError::Eof)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BinaryError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, BinaryError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// The length after a BINARY_* tag.
    fn binary_len(&mut self, tag: u8) -> Result<usize, BinaryError> {
        let len = match tag {
            tags::BINARY_8 => u32::from(self.byte()?),
            tags::BINARY_20 => {
                let [a, b, c] = self.array()?;
                u32::from_be_bytes([0, a & 0x0F, b, c])
            }
            _ => u32::from_be_bytes(self.array()?),
        };
        // Fails only where usize is narrower than u32; treat as truncated.
        usize::try_from(len).map_err(|_| BinaryError::Eof)
    }

    fn list_len(&mut self, tag: u8, reading: &'static str) -> Result<usize, BinaryError> {
        match tag {
            tags::LIST_EMPTY => Ok(0),
            tags::LIST_8 => Ok(usize::from(self.byte()?)),
            tags::LIST_16 => Ok(usize::from(self.u16()?)),
            _ => Err(BinaryError::UnexpectedTag {
                tag,
                offset: self.pos.saturating_sub(1),
                reading,
            }),
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node, BinaryError> {
        if depth >= MAX_DEPTH {
            return Err(BinaryError::TooDeep { limit: MAX_DEPTH });
        }
        let list_tag = self.byte()?;
        let len = self.list_len(list_tag, "the start of a node")?;
        if len == 0 {
            return Err(BinaryError::InvalidNode("empty list where a node starts"));
        }
        let tag = self
            .string(true)?
            .ok_or(BinaryError::InvalidNode("node without a tag"))?;
        let attr_count = (len - 1) / 2;
        let mut attrs = Vec::with_capacity(attr_count.min(self.remaining() / MIN_ATTR_LEN));
        for _ in 0..attr_count {
            let key = self
                .string(true)?
                .ok_or(BinaryError::InvalidNode("attribute without a key"))?;
            let value = self.string(true)?.unwrap_or_default();
            attrs.push((key, value));
        }
        let content = if len % 2 == 0 {
            self.content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content, BinaryError> {
        let tag = self.byte()?;
        match tag {
            tags::LIST_EMPTY | tags::LIST_8 | tags::LIST_16 => {
                let len = self.list_len(tag, "content")?;
                let mut children = Vec::with_capacity(len.min(self.remaining() / MIN_NODE_LEN));
                for _ in 0..len {
                    children.push(self.node(depth + 1)?);
                }
                Ok(Content::Nodes(children))
            }
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let len = self.binary_len(tag)?;
                Ok(Content::Bytes(self.take(len)?.to_vec()))
            }
            _ => {
                let text = self.string_from_tag(tag, true)?.unwrap_or_default();
                Ok(Content::Bytes(text.into_bytes()))
            }
        }
    }

    /// A string-valued item; `None` for LIST_EMPTY. JID forms are accepted
    /// only when `allow_jid` (not inside another JID, which also stops
    /// nesting).
    fn string(&mut self, allow_jid: bool) -> Result<Option<String>, BinaryError> {
        let tag = self.byte()?;
        self.string_from_tag(tag, allow_jid)
    }

    fn string_from_tag(&mut self, tag: u8, allow_jid: bool) -> Result<Option<String>, BinaryError> {
        let tag_offset = self.pos.saturating_sub(1);
        match tag {
            tags::LIST_EMPTY => Ok(None),
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let len = self.binary_len(tag)?;
                let offset = self.pos;
                let bytes = self.take(len)?;
                let text =
                    std::str::from_utf8(bytes).map_err(|_| BinaryError::InvalidUtf8 { offset })?;
                Ok(Some(text.to_owned()))
            }
            tags::DICTIONARY_0..=tags::DICTIONARY_3 => {
                let index = self.byte()?;
                tokens::double(tag - tags::DICTIONARY_0, index)
                    .map(|t| Some(t.to_owned()))
                    .ok_or(BinaryError::UnknownToken {
                        tag,
                        index,
                        offset: tag_offset,
                    })
            }
            tags::NIBBLE_8 | tags::HEX_8 => self.packed(tag).map(Some),
            tags::JID_PAIR | tags::AD_JID | tags::FB_JID | tags::INTEROP_JID if allow_jid => {
                self.jid(tag).map(Some)
            }
            _ => match tokens::single(tag) {
                Some(token) => Ok(Some(token.to_owned())),
                None => Err(BinaryError::UnexpectedTag {
                    tag,
                    offset: tag_offset,
                    reading: if allow_jid { "a string" } else { "a JID part" },
                }),
            },
        }
    }

    /// A JID in any wire form, returned as its canonical text.
    fn jid(&mut self, tag: u8) -> Result<String, BinaryError> {
        let (user, device, server) = match tag {
            tags::JID_PAIR => {
                let user = self.string(false)?.unwrap_or_default();
                let server = self.required_part("JID pair without a server")?;
                (user, 0, server)
            }
            tags::AD_JID => {
                let domain = self.byte()?;
                let device = u16::from(self.byte()?);
                let user = self.required_part("AD JID without a user")?;
                let server =
                    jid::server_for_domain(domain).ok_or(BinaryError::InvalidDomainType(domain))?;
                (user, device, server.to_owned())
            }
            tags::FB_JID => {
                let user = self.required_part("FB JID without a user")?;
                let device = self.u16()?;
                let server = self.required_part("FB JID without a server")?;
                (user, device, server)
            }
            _ => {
                // INTEROP_JID as servers send it: the integrator has no place
                // in the text form and is dropped.
                let user = self.required_part("interop JID without a user")?;
                let device = self.u16()?;
                let _integrator = self.u16()?;
                let server = self.required_part("interop JID without a server")?;
                (user, device, server)
            }
        };
        let mut text = String::with_capacity(user.len() + server.len() + 7);
        // Writing into a String cannot fail.
        let _ = crate::types::jid_text(&mut text, &user, 0, device, &server);
        Ok(text)
    }

    fn required_part(&mut self, missing: &'static str) -> Result<String, BinaryError> {
        self.string(false)?.ok_or(BinaryError::InvalidJid(missing))
    }

    /// NIBBLE_8 / HEX_8 body: a length byte (count in the low 7 bits, bit 7
    /// set when the last nibble is padding), then the packed bytes.
    fn packed(&mut self, tag: u8) -> Result<String, BinaryError> {
        let len_byte = self.byte()?;
        let odd = len_byte & 0x80 != 0;
        let start = self.pos;
        let bytes = self.take(usize::from(len_byte & 0x7F))?;
        if odd && bytes.is_empty() {
            return Err(BinaryError::InvalidNode("packed value padded but empty"));
        }
        let (kind, unpack): (&'static str, fn(u8) -> Option<char>) = if tag == tags::NIBBLE_8 {
            ("nibble", unpack_nibble)
        } else {
            ("hex", unpack_hex)
        };
        let mut text = String::with_capacity(bytes.len() * 2);
        let last = bytes.len().saturating_sub(1);
        for (i, &b) in bytes.iter().enumerate() {
            let halves: &[u8] = if odd && i == last {
                // The padding nibble is not checked: references ignore it.
                &[b >> 4]
            } else {
                &[b >> 4, b & 0x0F]
            };
            for &value in halves {
                let c = unpack(value).ok_or(BinaryError::InvalidPacked {
                    kind,
                    value,
                    offset: start + i,
                })?;
                text.push(c);
            }
        }
        Ok(text)
    }
}

fn unpack_nibble(value: u8) -> Option<char> {
    match value {
        0..=9 => Some(char::from(b'0' + value)),
        10 => Some('-'),
        11 => Some('.'),
        _ => None,
    }
}

fn unpack_hex(value: u8) -> Option<char> {
    match value {
        0..=9 => Some(char::from(b'0' + value)),
        10..=15 => Some(char::from(b'A' + value - 10)),
        _ => None,
    }
}
