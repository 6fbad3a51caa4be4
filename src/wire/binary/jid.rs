//! JIDs: WhatsApp addresses, `user[.agent][:device]@server`.
//!
//! The canonical text form is what `Display` writes and what stanza
//! attributes hold. A server-only JID (`s.whatsapp.net`, `g.us`) is just
//! the server. On the AD family of servers (`s.whatsapp.net`, `lid`,
//! `hosted`, `hosted.lid`) there is no agent: dots belong to the user (LID
//! users may hold them) and the wire spends the agent slot on the domain
//! type instead.

use std::fmt;
use std::str::FromStr;

use super::error::BinaryError;
use super::tags;

// Protocol facts: server names from whatsmeow types/jid.go and
// wacore-binary-0.7.0/src/jid.rs.
pub const DEFAULT_USER_SERVER: &str = "s.whatsapp.net";
pub const LID_SERVER: &str = "lid";
pub const GROUP_SERVER: &str = "g.us";
pub const BROADCAST_SERVER: &str = "broadcast";
pub const NEWSLETTER_SERVER: &str = "newsletter";
pub const HOSTED_SERVER: &str = "hosted";
pub const HOSTED_LID_SERVER: &str = "hosted.lid";
pub const MESSENGER_SERVER: &str = "msgr";
pub const INTEROP_SERVER: &str = "interop";
pub const BOT_SERVER: &str = "bot";
pub const LEGACY_USER_SERVER: &str = "c.us";
pub const CALL_SERVER: &str = "call";
/// The user of the status broadcast JID `status@broadcast`.
pub const STATUS_BROADCAST_USER: &str = "status";

/// A parsed WhatsApp JID.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Jid {
    pub user: String,
    pub agent: u8,
    pub device: u16,
    pub server: String,
}

impl Jid {
    /// A JID without agent or device (`user@server`, or `server` when the
    /// user is empty).
    pub fn new(user: impl Into<String>, server: impl Into<String>) -> Self {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            server: server.into(),
        }
    }

    /// The same JID addressing one device (builder style).
    pub fn with_device(mut self, device: u16) -> Self {
        self.device = device;
        self
    }

    /// Parses `user[.agent][:device]@server` or a bare `server`.
    ///
    /// Lenient about shapes it can still represent: a dot whose suffix is
    /// not a u8 number stays in the user, and `:00` parses as device 0.
    /// Whether the result formats back to the same text is a separate
    /// question (the encoder asks it before writing a string as a JID).
    pub fn parse(s: &str) -> Result<Jid, BinaryError> {
        let parts = JidParts::split(s)?;
        Ok(Jid {
            user: parts.user.to_owned(),
            agent: parts.agent,
            device: parts.device,
            server: parts.server.to_owned(),
        })
    }

    /// The user-level JID: same user and server, no agent, no device.
    pub fn to_non_ad(&self) -> Jid {
        Jid::new(self.user.clone(), self.server.clone())
    }

    /// A bare server such as `s.whatsapp.net` (no user).
    pub fn is_server_only(&self) -> bool {
        self.user.is_empty()
    }

    /// Addresses one device of a user rather than the user.
    pub fn is_ad(&self) -> bool {
        self.device > 0
    }

    pub fn is_group(&self) -> bool {
        self.server == GROUP_SERVER
    }

    /// A phone-number user (`s.whatsapp.net` or `hosted`).
    pub fn is_pn(&self) -> bool {
        self.server == DEFAULT_USER_SERVER || self.server == HOSTED_SERVER
    }

    /// A LID (hidden-number) user (`lid` or `hosted.lid`).
    pub fn is_lid(&self) -> bool {
        self.server == LID_SERVER || self.server == HOSTED_LID_SERVER
    }

    pub fn is_newsletter(&self) -> bool {
        self.server == NEWSLETTER_SERVER
    }

    /// `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == BROADCAST_SERVER && self.user == STATUS_BROADCAST_USER
    }

    /// A broadcast list (any `@broadcast` JID except the status one).
    pub fn is_broadcast_list(&self) -> bool {
        self.server == BROADCAST_SERVER && !self.user.is_empty() && !self.is_status_broadcast()
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_canonical(f, &self.user, self.agent, self.device, &self.server)
    }
}

impl FromStr for Jid {
    type Err = BinaryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jid::parse(s)
    }
}

/// Whether `server` is one the wire's JID forms are used for. Strings naming
/// other servers are written as plain strings (some decoders reject JID
/// pairs with unknown servers).
pub(crate) fn is_known_server(server: &str) -> bool {
    matches!(
        server,
        DEFAULT_USER_SERVER
            | LID_SERVER
            | GROUP_SERVER
            | BROADCAST_SERVER
            | NEWSLETTER_SERVER
            | HOSTED_SERVER
            | HOSTED_LID_SERVER
            | MESSENGER_SERVER
            | INTEROP_SERVER
            | BOT_SERVER
            | LEGACY_USER_SERVER
            | CALL_SERVER
    )
}

/// The AD_JID domain-type byte of a server of the AD family.
pub(crate) fn ad_domain(server: &str) -> Option<u8> {
    match server {
        DEFAULT_USER_SERVER => Some(tags::DOMAIN_PN),
        LID_SERVER => Some(tags::DOMAIN_LID),
        HOSTED_SERVER => Some(tags::DOMAIN_HOSTED),
        HOSTED_LID_SERVER => Some(tags::DOMAIN_HOSTED_LID),
        _ => None,
    }
}

/// The server an AD_JID domain-type byte stands for. Mirrors WA Web:
/// besides the four named values, any even byte with bit 7 set is hosted.
pub(crate) fn server_for_domain(domain: u8) -> Option<&'static str> {
    match domain {
        tags::DOMAIN_PN => Some(DEFAULT_USER_SERVER),
        tags::DOMAIN_LID => Some(LID_SERVER),
        tags::DOMAIN_HOSTED_LID => Some(HOSTED_LID_SERVER),
        d if d & 0x80 != 0 && d & 1 == 0 => Some(HOSTED_SERVER),
        _ => None,
    }
}

/// Writes the canonical text form. The agent is left out on AD-family
/// servers, where it has no meaning.
pub(crate) fn write_canonical<W: fmt::Write + ?Sized>(
    w: &mut W,
    user: &str,
    agent: u8,
    device: u16,
    server: &str,
) -> fmt::Result {
    if user.is_empty() {
        return w.write_str(server);
    }
    w.write_str(user)?;
    if agent > 0 && ad_domain(server).is_none() {
        write!(w, ".{agent}")?;
    }
    if device > 0 {
        write!(w, ":{device}")?;
    }
    w.write_str("@")?;
    w.write_str(server)
}

/// A JID borrowed from the string it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JidParts<'a> {
    pub user: &'a str,
    pub agent: u8,
    pub device: u16,
    pub server: &'a str,
}

impl<'a> JidParts<'a> {
    pub(crate) fn split(s: &'a str) -> Result<Self, BinaryError> {
        let (user_part, server) = match s.split_once('@') {
            Some(pair) => pair,
            None => ("", s),
        };
        if server.is_empty() {
            return Err(BinaryError::InvalidJid("empty server"));
        }
        if server.contains('@') {
            return Err(BinaryError::InvalidJid("more than one '@'"));
        }
        let (mut user, device) = match user_part.rsplit_once(':') {
            Some((user, device)) => (
                user,
                parse_decimal(device).ok_or(BinaryError::InvalidJid("device is not a u16"))?,
            ),
            None => (user_part, 0),
        };
        let mut agent = 0;
        if ad_domain(server).is_none() {
            if let Some((rest, suffix)) = user.rsplit_once('.') {
                if let Some(value) = parse_decimal(suffix).and_then(|v| u8::try_from(v).ok()) {
                    user = rest;
                    agent = value;
                }
            }
        }
        Ok(JidParts {
            user,
            agent,
            device,
            server,
        })
    }

    /// Whether formatting these parts gives exactly `s` (no allocation).
    pub(crate) fn formats_as(&self, s: &str) -> bool {
        let mut m = MatchWriter {
            rest: s.as_bytes(),
            matched: true,
        };
        let written = write_canonical(&mut m, self.user, self.agent, self.device, self.server);
        written.is_ok() && m.matched && m.rest.is_empty()
    }
}

/// Digits only (no sign), at most five, fitting a u16.
fn parse_decimal(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A `fmt::Write` that compares what is written against a target.
struct MatchWriter<'a> {
    rest: &'a [u8],
    matched: bool,
}

impl fmt::Write for MatchWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self.rest.strip_prefix(s.as_bytes()) {
            Some(rest) if self.matched => self.rest = rest,
            _ => self.matched = false,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(user: &str, agent: u8, device: u16, server: &str) -> Jid {
        Jid {
            user: user.into(),
            agent,
            device,
            server: server.into(),
        }
    }

    #[test]
    fn parses_and_formats_the_usual_shapes() {
        let cases = [
            ("12345@s.whatsapp.net", jid("12345", 0, 0, "s.whatsapp.net")),
            (
                "12345:7@s.whatsapp.net",
                jid("12345", 0, 7, "s.whatsapp.net"),
            ),
            ("98765432101234:3@lid", jid("98765432101234", 0, 3, "lid")),
            (
                "120363025246125486@g.us",
                jid("120363025246125486", 0, 0, "g.us"),
            ),
            ("1234-1600000000@g.us", jid("1234-1600000000", 0, 0, "g.us")),
            ("status@broadcast", jid("status", 0, 0, "broadcast")),
            (
                "120363000000000000@newsletter",
                jid("120363000000000000", 0, 0, "newsletter"),
            ),
            ("555:2@hosted", jid("555", 0, 2, "hosted")),
            ("555:2@hosted.lid", jid("555", 0, 2, "hosted.lid")),
            ("111.2:3@msgr", jid("111", 2, 3, "msgr")),
            ("s.whatsapp.net", jid("", 0, 0, "s.whatsapp.net")),
            ("g.us", jid("", 0, 0, "g.us")),
        ];
        for (text, expected) in cases {
            let parsed = Jid::parse(text).unwrap();
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), text);
            assert!(JidParts::split(text).unwrap().formats_as(text));
        }
    }

    #[test]
    fn dots_in_ad_family_users_are_part_of_the_user() {
        let j = Jid::parse("1.2:3@lid").unwrap();
        assert_eq!(j, jid("1.2", 0, 3, "lid"));
        assert_eq!(j.to_string(), "1.2:3@lid");
        // An agent set by hand on an AD-family server is not rendered.
        assert_eq!(
            jid("1", 5, 0, "s.whatsapp.net").to_string(),
            "1@s.whatsapp.net"
        );
    }

    #[test]
    fn non_canonical_text_is_detected() {
        for text in [
            "1:0@s.whatsapp.net",
            "1:01@s.whatsapp.net",
            "@g.us",
            "x.07@g.us",
        ] {
            let parts = JidParts::split(text).unwrap();
            assert!(!parts.formats_as(text), "{text}");
        }
    }

    #[test]
    fn rejects_malformed() {
        assert!(Jid::parse("").is_err());
        assert!(Jid::parse("user@").is_err());
        assert!(Jid::parse("a@b@c").is_err());
        assert!(Jid::parse("1:x@s.whatsapp.net").is_err());
        assert!(Jid::parse("1:70000@s.whatsapp.net").is_err());
    }

    #[test]
    fn helpers() {
        let device = Jid::parse("12345:7@s.whatsapp.net").unwrap();
        assert!(device.is_ad() && device.is_pn() && !device.is_lid());
        assert_eq!(device.to_non_ad().to_string(), "12345@s.whatsapp.net");
        assert!(Jid::parse("1@g.us").unwrap().is_group());
        assert!(Jid::parse("status@broadcast")
            .unwrap()
            .is_status_broadcast());
        assert!(Jid::parse("123@broadcast").unwrap().is_broadcast_list());
        assert!(Jid::parse("2@hosted.lid").unwrap().is_lid());
        assert!(Jid::parse("s.whatsapp.net").unwrap().is_server_only());
        assert_eq!(Jid::new("1", "lid").with_device(4).to_string(), "1:4@lid");
    }

    #[test]
    fn domain_bytes() {
        assert_eq!(ad_domain("s.whatsapp.net"), Some(0));
        assert_eq!(ad_domain("lid"), Some(1));
        assert_eq!(ad_domain("hosted"), Some(128));
        assert_eq!(ad_domain("hosted.lid"), Some(129));
        assert_eq!(ad_domain("g.us"), None);
        for d in [0u8, 1, 128, 129] {
            assert_eq!(server_for_domain(d).and_then(ad_domain), Some(d));
        }
        assert_eq!(server_for_domain(130), Some("hosted"));
        assert_eq!(server_for_domain(2), None);
        assert_eq!(server_for_domain(131), None);
    }
}
