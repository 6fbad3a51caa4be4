//! The binary node codec ("binary XML" stanzas), dictionary version 3.
//!
//! Owns: node <-> bytes, the token tables, tag bytes and the binary JID
//! forms (their text form is `types::Jid`).
//! Must not touch: transport, framing, Noise, what stanzas mean.
//!
//! Wire format. A frame payload is one flags byte and one node; flag bit
//! 0x02 means the rest is zlib-compressed. A node is a list (`LIST_8 n` or
//! `LIST_16 nn`) of `1 + 2*attrs + (content ? 1 : 0)` items: the tag, then
//! key/value pairs, then the content (a list of child nodes, or raw bytes).
//! Every string item starts with a tag byte saying how it is written:
//! - `1..=235`: a single-byte token; `DICTIONARY_0..3, i`: a double-byte one;
//! - `NIBBLE_8` / `HEX_8`: up to 127 chars of `0-9 - .` / `0-9 A-F`, two per
//!   byte, odd lengths padded with 0xF and flagged in the length byte;
//! - `JID_PAIR user server`, `AD_JID domain device user`, `FB_JID`,
//!   `INTEROP_JID`: a JID, decoded to its canonical text;
//! - `BINARY_8/20/32`: raw bytes with an 8-, 20- or 32-bit length;
//! - `LIST_EMPTY`: nothing.
//!
//! The encoder picks the shortest form that decodes to the same string, so
//! `unmarshal(&marshal(n)?)? == n` for every node it accepts.

mod decoder;
mod encoder;
mod error;
mod jid;
mod node;
pub mod tags;
pub mod tokens;

use std::io::Read;

pub use error::BinaryError;
pub use node::{Content, Node};

/// Deepest node nesting accepted (and produced); real stanzas stay under 20.
pub const MAX_DEPTH: usize = 64;

/// Largest inflated payload accepted, against decompression bombs.
pub const MAX_INFLATED_LEN: usize = 4 * 1024 * 1024;

/// Flags-byte bit: the rest of the payload is zlib-compressed.
pub const FLAG_COMPRESSED: u8 = 0x02;

/// Encodes a node, with the leading flags byte (0: not compressed).
pub fn marshal(node: &Node) -> Result<Vec<u8>, BinaryError> {
    let mut out = Vec::new();
    out.push(0);
    encoder::write_node(&mut out, node)?;
    Ok(out)
}

/// Encodes a node zlib-compressed, behind flags byte `FLAG_COMPRESSED`.
/// Servers compress large stanzas; this lets tests and the simulator do so.
pub fn marshal_compressed(node: &Node) -> Result<Vec<u8>, BinaryError> {
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    let mut plain = Vec::new();
    encoder::write_node(&mut plain, node)?;
    let mut z = ZlibEncoder::new(vec![FLAG_COMPRESSED], flate2::Compression::default());
    z.write_all(&plain)
        .and_then(|()| z.finish())
        .map_err(|e| BinaryError::Inflate(format!("deflate failed: {e}")))
}

/// Decodes a flags byte plus node, inflating when the flag says so.
pub fn unmarshal(data: &[u8]) -> Result<Node, BinaryError> {
    let (&flags, payload) = data.split_first().ok_or(BinaryError::EmptyInput)?;
    if flags & FLAG_COMPRESSED != 0 {
        decoder::read_node(&inflate(payload)?)
    } else {
        decoder::read_node(payload)
    }
}

/// zlib-inflates at most `MAX_INFLATED_LEN` bytes.
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, BinaryError> {
    let limit = MAX_INFLATED_LEN;
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    flate2::read::ZlibDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BinaryError::Inflate(e.to_string()))?;
    if out.len() > limit {
        return Err(BinaryError::InflatedTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
