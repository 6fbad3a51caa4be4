//! The groups the simulated server keeps: who is in each, with which
//! role, what it is called, how it addresses its members, its invite
//! code.
//!
//! Owns: [`Group`] and its bookkeeping (roles, the member list in join
//! order). Must not touch: the rules of who may change what
//! (`sim::groups`), stanzas, other tables.

use crate::sim::protocol::addressing::Addressing;
use crate::types::{Jid, Server};

/// Most members a group holds (wacore `iq/groups.rs` GROUP_SIZE_LIMIT,
/// the `group_size_limit` A/B prop).
pub(crate) const MAX_GROUP_SIZE: usize = 257;

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Member,
    Admin,
    /// The creator: an admin no one can demote.
    SuperAdmin,
}

impl Role {
    pub fn is_admin(self) -> bool {
        !matches!(self, Role::Member)
    }

    /// The `type` attribute of a `<participant>` (`None` for members).
    pub fn wire(self) -> Option<&'static str> {
        match self {
            Role::Member => None,
            Role::Admin => Some("admin"),
            Role::SuperAdmin => Some("superadmin"),
        }
    }
}

/// A group's description and who set it when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Description {
    /// The id a change names as `prev` (8 hex digits).
    pub id: String,
    pub body: String,
    /// The member who set it (phone number).
    pub owner: String,
    pub time: u64,
}

/// One group.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    /// The user part of `ID@g.us`.
    pub id: String,
    pub subject: String,
    /// Who set the subject (phone number) and when.
    pub subject_owner: String,
    pub subject_time: u64,
    pub description: Option<Description>,
    /// The creator's phone number.
    pub creator: String,
    pub created_at: u64,
    /// Members by phone number, in the order they joined.
    pub members: Vec<(String, Role)>,
    /// How messages and notifications of the group name its members.
    pub addressing: Addressing,
    /// The code of its invite link (`https://chat.whatsapp.com/CODE`).
    pub invite_code: String,
    /// Only admins may change the subject and description.
    pub locked: bool,
    /// Only admins may add members.
    pub admin_add_only: bool,
}

impl Group {
    /// `ID@g.us`.
    pub fn jid(&self) -> Jid {
        Jid::new(self.id.clone(), Server::Group)
    }

    /// Member `phone`'s role (`None` when not a member).
    pub fn role(&self, phone: &str) -> Option<Role> {
        self.members
            .iter()
            .find(|(p, _)| p == phone)
            .map(|(_, role)| *role)
    }

    pub fn is_member(&self, phone: &str) -> bool {
        self.role(phone).is_some()
    }

    pub fn is_admin(&self, phone: &str) -> bool {
        self.role(phone).is_some_and(Role::is_admin)
    }

    /// Adds `phone` as a member; false when already one (or full).
    pub fn add(&mut self, phone: &str) -> bool {
        if self.is_member(phone) || self.members.len() >= MAX_GROUP_SIZE {
            return false;
        }
        self.members.push((phone.to_owned(), Role::Member));
        true
    }

    /// Removes `phone`; false when not a member.
    pub fn remove(&mut self, phone: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|(p, _)| p != phone);
        self.members.len() != before
    }

    /// Sets a member's role (never the superadmin's); false when not a
    /// member or the superadmin.
    pub fn set_role(&mut self, phone: &str, role: Role) -> bool {
        match self.members.iter_mut().find(|(p, _)| p == phone) {
            Some((_, current)) if *current != Role::SuperAdmin => {
                *current = role;
                true
            }
            _ => false,
        }
    }

    /// The members' phone numbers.
    pub fn phones(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(p, _)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_adds_removes_and_promotions() {
        let mut g = Group {
            id: "120363000000000001".into(),
            subject: "s".into(),
            subject_owner: "1".into(),
            subject_time: 0,
            description: None,
            creator: "1".into(),
            created_at: 0,
            members: vec![("1".into(), Role::SuperAdmin)],
            addressing: Addressing::Pn,
            invite_code: "c".into(),
            locked: false,
            admin_add_only: false,
        };
        assert!(g.add("2"));
        assert!(!g.add("2"));
        assert!(g.set_role("2", Role::Admin));
        assert!(g.is_admin("2"));
        assert!(!g.set_role("1", Role::Member), "the superadmin stays");
        assert!(g.remove("2"));
        assert!(!g.is_member("2"));
        assert_eq!(g.jid().to_string(), "120363000000000001@g.us");
    }
}
