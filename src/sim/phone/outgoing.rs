//! One message as the server hands it out: who sent it, the chat, the
//! namespace it is addressed in, and the `<message>` each companion
//! receives with its copy (the other namespace's address beside the
//! message's own).
//!
//! Owns: [`Outgoing`] and the copy stanza's attributes. Must not touch:
//! who gets a copy (`routing`, `send`), encryption, queues.

use crate::sim::protocol::addressing::Addressing;
use crate::sim::protocol::messages::Copy;
use crate::sim::state::World;
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// What every copy of one message shares.
pub(crate) struct Outgoing<'a> {
    /// The sending device, by phone number.
    pub sender: &'a DeviceAddress,
    /// The chat as the sender addressed it: the recipient account's user
    /// JID (in `addressing`), or the group.
    pub chat: &'a Jid,
    /// The namespace the message addresses users in.
    pub addressing: Addressing,
    pub id: &'a str,
    pub timestamp: u64,
    /// The sender's `<device-identity>`, passed on with every copy.
    pub device_identity: Option<&'a Node>,
}

impl<'a> Outgoing<'a> {
    /// A text phone `sender` (device 0) sends now: a phone passes on no
    /// device identity.
    pub fn from_phone(
        sender: &'a DeviceAddress,
        chat: &'a Jid,
        addressing: Addressing,
        id: &'a str,
        now: u64,
    ) -> Self {
        Outgoing {
            sender,
            chat,
            addressing,
            id,
            timestamp: now,
            device_identity: None,
        }
    }

    /// The sending device as the message's namespace writes it.
    pub fn presented_sender(&self, world: &World) -> DeviceAddress {
        world.present(self.sender, self.addressing)
    }

    /// The `<message>` companion `target` receives with `encs`.
    pub fn copy_for(&self, world: &World, target: &DeviceAddress, encs: Vec<Node>) -> Node {
        let sender = self.presented_sender(world);
        let alt = self.addressing.other();
        let sender_alt = world.user_in(self.sender.user(), alt);
        let mut attrs: Vec<(&'static str, String)> = Vec::new();
        let from = if self.chat.is_group() {
            attrs.push(("participant", sender.to_string()));
            attrs.push(("addressing_mode", self.addressing.as_str().to_owned()));
            if let Some(alt_jid) = sender_alt {
                attrs.push((self.addressing.participant_alt_attr(), alt_jid.to_string()));
            }
            self.chat.clone()
        } else if target.same_user(self.sender) {
            // The sender's own other device must learn the chat.
            attrs.push(("recipient", self.chat.to_string()));
            let peer_alt = world
                .resolve(self.chat)
                .and_then(|peer| world.user_in(peer.user(), alt));
            if let Some(peer_alt) = peer_alt {
                attrs.push((
                    self.addressing.peer_recipient_alt_attr(),
                    peer_alt.to_string(),
                ));
            }
            sender.jid()
        } else {
            if let Some(alt_jid) = sender_alt {
                attrs.push((self.addressing.sender_alt_attr(), alt_jid.to_string()));
            }
            sender.jid()
        };
        Copy {
            from,
            id: self.id,
            timestamp: self.timestamp,
            notify: format!("Sim {}", self.sender.user()),
            attrs,
            encs,
            device_identity: self.device_identity,
        }
        .into_node()
    }
}
