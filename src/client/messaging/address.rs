//! Who a message goes to or comes from: user JIDs and device addresses.

use std::fmt;

/// The server part of phone-number JIDs.
pub const USER_SERVER: &str = "s.whatsapp.net";
/// The server part of LID JIDs.
pub const LID_SERVER: &str = "lid";

/// One device of one account: the Signal address a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceAddress {
    /// Digits of the phone number (or of the LID user).
    pub user: String,
    pub device: u16,
    /// Whether `user` is a LID rather than a phone number.
    pub lid: bool,
}

impl DeviceAddress {
    /// Parses `user[.agent][:device]@server` for the two user servers
    /// (users are digits).
    pub fn parse(jid: &str) -> Option<DeviceAddress> {
        let lid = match jid.split_once('@')?.1 {
            USER_SERVER => false,
            LID_SERVER => true,
            _ => return None,
        };
        let (user, device) = crate::client::jid::parse_ad_jid(jid)?;
        if user.len() > 20 || !user.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(DeviceAddress {
            user: user.to_string(),
            device,
            lid,
        })
    }

    /// `user@server` (no device).
    pub fn user_jid(&self) -> String {
        format!("{}@{}", self.user, self.server())
    }

    /// `user@server` for device 0, `user:device@server` otherwise.
    pub fn jid(&self) -> String {
        if self.device == 0 {
            self.user_jid()
        } else {
            format!("{}:{}@{}", self.user, self.device, self.server())
        }
    }

    fn server(&self) -> &'static str {
        if self.lid {
            LID_SERVER
        } else {
            USER_SERVER
        }
    }

    /// The file holding our Signal session with this device; only digits,
    /// dots and underscores, so it is always a valid store file name.
    pub fn session_file(&self) -> String {
        let kind = if self.lid { "_lid" } else { "" };
        format!("session-{}{kind}.{}.json", self.user, self.device)
    }
}

impl fmt::Display for DeviceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.jid())
    }
}

/// The user JID a recipient names: a phone number with country code
/// (`+`, spaces, dashes and dots allowed) or a user JID
/// (`N@s.whatsapp.net`, `N@lid`). `None` when it is neither.
pub fn user_of_recipient(to: &str) -> Option<String> {
    let to = to.trim();
    if to.contains('@') {
        let address = DeviceAddress::parse(to)?;
        return (address.device == 0).then(|| address.user_jid());
    }
    let digits: String = to
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let plausible = (6..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    plausible.then(|| format!("{digits}@{USER_SERVER}"))
}
