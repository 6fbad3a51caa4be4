//! One encrypted copy reaches its device: a companion gets it through its
//! offline queue (at once when online), a phone decrypts it on the spot.
//!
//! Owns: the choice between the two. Must not touch: the copy's shape
//! (`outgoing`), encryption, what the sender does with the receipt a
//! phone answers with (returned to the caller).

use super::encrypt::{phone_encrypt, text_plaintext};
use super::inbox;
use super::outgoing::Outgoing;
use crate::proto::text::Quote;
use crate::sim::protocol::messages::enc_node;
use crate::sim::state::World;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// The phone that sends `message` encrypts text `body` for `target` and
/// delivers the copy. Returns the receipt a recipient phone sends back.
pub(crate) fn send_text_copy(
    world: &mut World,
    message: &Outgoing<'_>,
    target: &DeviceAddress,
    body: &str,
    quoted: Option<&Quote>,
) -> Result<Option<Node>, String> {
    let from = message.sender.user();
    let padded = text_plaintext(from, target, message.chat, body, quoted);
    send_copy(world, message, target, &padded)
}

/// The phone that sends `message` encrypts `padded` for `target` and
/// delivers the copy. Returns the receipt a recipient phone sends back.
pub(crate) fn send_copy(
    world: &mut World,
    message: &Outgoing<'_>,
    target: &DeviceAddress,
    padded: &[u8],
) -> Result<Option<Node>, String> {
    let ciphertext = phone_encrypt(world, message.sender.user(), target, padded)?;
    Ok(deliver_copy(
        world,
        message,
        target,
        vec![enc_node(&ciphertext)],
    ))
}

/// Delivers copy `encs` of `message` to `target` (by phone number).
/// Returns the receipt a recipient phone sends back at once, if any.
pub(crate) fn deliver_copy(
    world: &mut World,
    message: &Outgoing<'_>,
    target: &DeviceAddress,
    encs: Vec<Node>,
) -> Option<Node> {
    if target.device() == 0 {
        return inbox::receive(world, message, target.user(), &encs);
    }
    let node = message.copy_for(world, target, encs);
    world.enqueue(target, "message", message.id, node);
    None
}
