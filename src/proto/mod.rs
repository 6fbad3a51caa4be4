//! Protobuf messages generated from `proto/wa.proto` at build time, and
//! the few helpers every layer needs around them ([`text`]: the
//! plaintext of a text message, padded as WhatsApp pads it). [`stored`]
//! holds wasp's own binary records (`proto/stored.proto`), which the
//! Signal layer and the client encode what they persist with.
//!
//! This is a foundation module: every layer may use it, it uses nothing
//! of ours but `crypto`-free std and prost.

#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/wa.rs"));
}

/// wasp's own records, as `proto/stored.proto` declares them.
#[allow(clippy::all, missing_docs)]
pub mod stored {
    include!(concat!(env!("OUT_DIR"), "/wasp_stored.rs"));
}

pub mod history;
pub mod text;

pub use generated::*;

/// The encoded `Message` carrying only `protocol`: what an account's own
/// devices send each other (key shares, LID mappings, history sync).
pub fn protocol_message(protocol: ProtocolMessage) -> Vec<u8> {
    use prost::Message as _;
    Message {
        protocol_message: Some(protocol),
        ..Default::default()
    }
    .encode_to_vec()
}
