//! The binary node codec ("binary XML" stanzas).
//!
//! A node is a tag, attributes and content (nothing, bytes, or child
//! nodes). On the wire strings are squeezed with token dictionaries,
//! packed nibbles/hex and JID pairs; a leading flags byte says whether the
//! rest is zlib-compressed.

mod node;

pub use node::{Content, Jid, Node};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BinaryError {
    #[error("unexpected end of data")]
    Eof,
}

/// Encodes a node, with the leading flags byte (0: not compressed).
pub fn marshal(node: &Node) -> Result<Vec<u8>, BinaryError> {
    let _ = node;
    todo!()
}

/// Decodes a flags byte plus node, inflating when the flag says so.
pub fn unmarshal(data: &[u8]) -> Result<Node, BinaryError> {
    let _ = data;
    todo!()
}
