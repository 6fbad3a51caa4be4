//! Tag bytes of the binary node format: what the byte in front of each
//! value says about how the value is written.
//!
//! Bytes 1..=235 are single-byte tokens (see `tokens`); 240..=244 are
//! unassigned.

// Protocol facts: values from wacore-binary-0.7.0/src/token.rs and
// whatsmeow binary/token/token.go (agree with each other).

/// An empty list; also "no value" (a JID without user, an absent string).
pub const LIST_EMPTY: u8 = 0;
/// Double-byte token from dictionary 0; 1..=3 follow.
pub const DICTIONARY_0: u8 = 236;
pub const DICTIONARY_1: u8 = 237;
pub const DICTIONARY_2: u8 = 238;
pub const DICTIONARY_3: u8 = 239;
/// user, u16 device, u16 integrator, server.
pub const INTEROP_JID: u8 = 245;
/// user, u16 device, server (Messenger JIDs).
pub const FB_JID: u8 = 246;
/// u8 domain type, u8 device, user: a device JID of a user.
pub const AD_JID: u8 = 247;
/// List with a u8 length.
pub const LIST_8: u8 = 248;
/// List with a big-endian u16 length.
pub const LIST_16: u8 = 249;
/// user (or LIST_EMPTY), server.
pub const JID_PAIR: u8 = 250;
/// Packed upper-case hex digits.
pub const HEX_8: u8 = 251;
/// Raw bytes with a u8 length.
pub const BINARY_8: u8 = 252;
/// Raw bytes with a 20-bit big-endian length (3 bytes, top nibble unused).
pub const BINARY_20: u8 = 253;
/// Raw bytes with a big-endian u32 length.
pub const BINARY_32: u8 = 254;
/// Packed digits, '-' and '.'.
pub const NIBBLE_8: u8 = 255;

/// Longest string (in characters) that is written packed; the length byte
/// counts packed bytes in its low 7 bits and flags an odd count in bit 7.
pub const PACKED_MAX: usize = 127;

/// AD_JID domain-type bytes (in the slot older clients called "agent").
/// WA Web also reads any other even value with bit 7 set as `hosted`.
// Protocol facts: whatsmeow types/jid.go (WhatsAppDomain..HostedLIDDomain),
// wacore-binary-0.7.0/src/decoder.rs read_ad_jid.
pub const DOMAIN_PN: u8 = 0;
pub const DOMAIN_LID: u8 = 1;
pub const DOMAIN_HOSTED: u8 = 128;
pub const DOMAIN_HOSTED_LID: u8 = 129;
