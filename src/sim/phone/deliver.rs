//! One encrypted copy reaches its device: a companion gets it through its
//! offline queue (at once when online), a phone decrypts it on the spot.
//!
//! Owns: the choice between the two and the copy's stanza for a
//! companion. Must not touch: encryption, what the sender does with the
//! receipt a phone answers with (returned to the caller).

use super::encrypt::encrypt_text;
use super::inbox;
use crate::proto::text::Quote;
use crate::sim::protocol::messages::{enc_node, Copy};
use crate::sim::state::World;
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// What every copy of one message shares.
pub(crate) struct Outgoing<'a> {
    /// The sending device.
    pub sender: &'a DeviceAddress,
    /// The chat: the recipient account's user JID.
    pub chat: &'a Jid,
    pub id: &'a str,
    pub timestamp: u64,
    /// The sender's `<device-identity>`, passed on with every copy.
    pub device_identity: Option<&'a Node>,
}

impl<'a> Outgoing<'a> {
    /// A text phone `sender` (device 0) sends now: a phone passes on no
    /// device identity.
    pub fn from_phone(sender: &'a DeviceAddress, chat: &'a Jid, id: &'a str, now: u64) -> Self {
        Outgoing {
            sender,
            chat,
            id,
            timestamp: now,
            device_identity: None,
        }
    }
}

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
    let ciphertext = encrypt_text(world, from, target, message.chat, body, quoted)?;
    Ok(deliver_copy(world, message, target, enc_node(&ciphertext)))
}

/// Delivers copy `enc` of `message` to `target`. Returns the receipt a
/// recipient phone sends back at once, if any.
pub(crate) fn deliver_copy(
    world: &mut World,
    message: &Outgoing<'_>,
    target: &DeviceAddress,
    enc: Node,
) -> Option<Node> {
    if target.device() == 0 {
        let (sender, id) = (message.sender, message.id);
        return inbox::receive(world, sender, target.user(), id, message.timestamp, &enc);
    }
    let copy = Copy {
        sender: message.sender,
        id: message.id,
        timestamp: message.timestamp,
        // The sender's own other device needs to know the chat.
        recipient: target.same_user(message.sender).then_some(message.chat),
        enc,
        device_identity: message.device_identity,
    };
    world.enqueue(target, "message", message.id, copy.into_node());
    None
}
