//! Everything that can go wrong encoding or decoding a binary node.
//!
//! Offsets are byte positions in the (inflated) node payload, after the
//! flags byte.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BinaryError {
    #[error("unexpected end of data")]
    Eof,
    #[error("empty input: not even a flags byte")]
    EmptyInput,
    #[error("unexpected tag byte {tag} at offset {offset} while reading {reading}")]
    UnexpectedTag {
        tag: u8,
        offset: usize,
        reading: &'static str,
    },
    #[error("no token at index {index} of dictionary tag {tag} (offset {offset})")]
    UnknownToken { tag: u8, index: u8, offset: usize },
    #[error("invalid packed {kind} value {value} at offset {offset}")]
    InvalidPacked {
        kind: &'static str,
        value: u8,
        offset: usize,
    },
    #[error("string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },
    #[error("invalid node: {0}")]
    InvalidNode(&'static str),
    #[error("invalid JID: {0}")]
    InvalidJid(&'static str),
    #[error("unknown AD_JID domain type {0}")]
    InvalidDomainType(u8),
    #[error("nodes nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("{0} bytes left over after the node")]
    TrailingData(usize),
    #[error("zlib inflate failed: {0}")]
    Inflate(String),
    #[error("inflated payload exceeds {limit} bytes")]
    InflatedTooLarge { limit: usize },
    #[error("{what} too long to encode: {len}")]
    TooLong { what: &'static str, len: usize },
}
