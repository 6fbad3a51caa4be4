//! Device addresses: one device of one user account, the unit a Signal
//! session belongs to.

use std::fmt;

use super::jid::{Jid, Server};

/// Longest user part accepted in a device address (phone numbers have at
/// most 15 digits, LIDs about 15; 20 leaves room without allowing junk).
const MAX_USER_DIGITS: usize = 20;

/// One device of one account, addressed by phone number or by LID: a JID
/// on `s.whatsapp.net` or `lid` whose user is digits, without agent.
/// Device 0 is the account's primary device (the phone).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceAddress {
    user: String,
    device: u16,
    lid: bool,
}

impl DeviceAddress {
    /// Device `device` of phone-number user `user` (digits).
    pub fn pn(user: impl Into<String>, device: u16) -> Option<DeviceAddress> {
        DeviceAddress::checked(user.into(), device, false)
    }

    /// Device `device` of LID user `user` (digits).
    pub fn lid(user: impl Into<String>, device: u16) -> Option<DeviceAddress> {
        DeviceAddress::checked(user.into(), device, true)
    }

    fn checked(user: String, device: u16, lid: bool) -> Option<DeviceAddress> {
        let digits = !user.is_empty()
            && user.len() <= MAX_USER_DIGITS
            && user.bytes().all(|b| b.is_ascii_digit());
        digits.then_some(DeviceAddress { user, device, lid })
    }

    /// The device a JID names, when it is a user device on one of the two
    /// user servers (an agent, another server or a non-digit user: `None`).
    pub fn from_jid(jid: &Jid) -> Option<DeviceAddress> {
        let lid = match jid.server {
            Server::Pn => false,
            Server::Lid => true,
            _ => return None,
        };
        if jid.agent != 0 {
            return None;
        }
        DeviceAddress::checked(jid.user.clone(), jid.device, lid)
    }

    /// Parses `user[:device]@s.whatsapp.net` or `user[:device]@lid`.
    pub fn parse(text: &str) -> Option<DeviceAddress> {
        DeviceAddress::from_jid(&Jid::parse(text).ok()?)
    }

    /// The user's digits (phone number or LID).
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn device(&self) -> u16 {
        self.device
    }

    /// Whether the user is a LID rather than a phone number.
    pub fn is_lid(&self) -> bool {
        self.lid
    }

    /// Another device of the same user.
    pub fn with_device(&self, device: u16) -> DeviceAddress {
        DeviceAddress {
            user: self.user.clone(),
            device,
            lid: self.lid,
        }
    }

    /// Whether both name the same user (any devices).
    pub fn same_user(&self, other: &DeviceAddress) -> bool {
        self.lid == other.lid && self.user == other.user
    }

    fn server(&self) -> Server {
        if self.lid {
            Server::Lid
        } else {
            Server::Pn
        }
    }

    /// `user@server` (no device).
    pub fn user_jid(&self) -> Jid {
        Jid::new(self.user.clone(), self.server())
    }

    /// `user@server` for device 0, `user:device@server` otherwise.
    pub fn jid(&self) -> Jid {
        self.user_jid().with_device(self.device)
    }
}

impl fmt::Display for DeviceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.device == 0 {
            write!(f, "{}@{}", self.user, self.server())
        } else {
            write!(f, "{}:{}@{}", self.user, self.device, self.server())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_devices_only() {
        let a = DeviceAddress::parse("155:7@s.whatsapp.net").unwrap();
        assert_eq!((a.user(), a.device(), a.is_lid()), ("155", 7, false));
        assert_eq!(a.to_string(), "155:7@s.whatsapp.net");
        assert_eq!(a.user_jid().to_string(), "155@s.whatsapp.net");
        let l = DeviceAddress::parse("99@lid").unwrap();
        assert_eq!((l.device(), l.is_lid()), (0, true));
        assert_eq!(l.jid().to_string(), "99@lid");
        assert!(!l.same_user(&DeviceAddress::pn("99", 0).unwrap()));
        for bad in [
            "155:x@s.whatsapp.net",
            "@s.whatsapp.net",
            "155",
            "abc@s.whatsapp.net",
            "1@g.us",
            "1.2:3@msgr",
            "123456789012345678901@lid",
        ] {
            assert_eq!(DeviceAddress::parse(bad), None, "{bad}");
        }
    }
}
