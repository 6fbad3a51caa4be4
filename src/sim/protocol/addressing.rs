//! Which namespace a stanza addresses users in: phone numbers
//! (`s.whatsapp.net`) or LIDs (`lid`), and the attribute names each
//! namespace pairs with the other one's address.
//!
//! Owns: [`Addressing`] and those names (wacore `messages.rs`
//! parse_message_info, Baileys `decode-wa-message.ts`
//! extractAddressingContext). Pure. Must not touch: which account is in
//! which namespace (`state`), who gets what (`routing`, `phone`).

use crate::types::{Jid, Server};

/// The namespace a message or group addresses its users in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addressing {
    /// By phone number: `N[:D]@s.whatsapp.net`.
    Pn,
    /// By LID: `L[:D]@lid`.
    Lid,
}

impl Addressing {
    /// The namespace `jid` is written in (`None` for other servers).
    pub fn of(jid: &Jid) -> Option<Addressing> {
        match jid.server {
            Server::Pn | Server::LegacyUser => Some(Addressing::Pn),
            Server::Lid => Some(Addressing::Lid),
            _ => None,
        }
    }

    /// The `addressing_mode` attribute value (wacore `AddressingMode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Addressing::Pn => "pn",
            Addressing::Lid => "lid",
        }
    }

    /// The other namespace.
    pub fn other(self) -> Addressing {
        match self {
            Addressing::Pn => Addressing::Lid,
            Addressing::Lid => Addressing::Pn,
        }
    }

    /// `sender_pn` / `sender_lid`: the sender of a 1:1 message in the
    /// other namespace than its `from`.
    pub fn sender_alt_attr(self) -> &'static str {
        match self.other() {
            Addressing::Pn => "sender_pn",
            Addressing::Lid => "sender_lid",
        }
    }

    /// `participant_pn` / `participant_lid`: a group sender in the other
    /// namespace than its `participant`.
    pub fn participant_alt_attr(self) -> &'static str {
        match self.other() {
            Addressing::Pn => "participant_pn",
            Addressing::Lid => "participant_lid",
        }
    }

    /// `peer_recipient_pn` / `peer_recipient_lid`: on the sender's own
    /// devices' copy, the chat in the other namespace than `recipient`.
    pub fn peer_recipient_alt_attr(self) -> &'static str {
        match self.other() {
            Addressing::Pn => "peer_recipient_pn",
            Addressing::Lid => "peer_recipient_lid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_their_alternate_attributes() {
        assert_eq!(Addressing::of(&Jid::lid("9")), Some(Addressing::Lid));
        assert_eq!(Addressing::of(&Jid::pn("1")), Some(Addressing::Pn));
        assert_eq!(Addressing::of(&Jid::new("1", Server::Group)), None);
        assert_eq!(Addressing::Lid.sender_alt_attr(), "sender_pn");
        assert_eq!(Addressing::Pn.sender_alt_attr(), "sender_lid");
        assert_eq!(Addressing::Lid.participant_alt_attr(), "participant_pn");
        assert_eq!(
            Addressing::Pn.peer_recipient_alt_attr(),
            "peer_recipient_lid"
        );
    }
}
