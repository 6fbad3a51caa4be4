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

/// The user of the status broadcast JID `status@broadcast`.
pub const STATUS_BROADCAST_USER: &str = "status";

/// Why a text is not a JID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid JID: {0}")]
pub struct JidError(pub &'static str);

/// The part after `@`: which kind of address a JID is.
// Protocol facts: server names from whatsmeow types/jid.go and
// wacore-binary-0.7.0/src/jid.rs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users, and the server itself.
    Pn,
    /// `lid`: users by their hidden id (LID).
    Lid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: status updates and broadcast lists.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: phone-number users of hosted (business) accounts.
    Hosted,
    /// `hosted.lid`: LID users of hosted accounts.
    HostedLid,
    /// `msgr`: Messenger users.
    Messenger,
    /// `interop`: users of other messaging networks.
    Interop,
    /// `bot`: Meta's bots.
    Bot,
    /// `c.us`: the legacy user server, still in some old stanzas.
    LegacyUser,
    /// `call`: call ids.
    Call,
    /// A server this list does not know (kept verbatim).
    Other(Box<str>),
}

impl Server {
    /// Every server this list knows.
    pub const KNOWN: [Server; 12] = [
        Server::Pn,
        Server::Lid,
        Server::Group,
        Server::Broadcast,
        Server::Newsletter,
        Server::Hosted,
        Server::HostedLid,
        Server::Messenger,
        Server::Interop,
        Server::Bot,
        Server::LegacyUser,
        Server::Call,
    ];

    /// The known server named `name`, without allocating.
    pub fn known(name: &str) -> Option<Server> {
        Server::KNOWN
            .iter()
            .find(|s| s.known_name() == Some(name))
            .cloned()
    }

    /// Any server name; unknown ones become [`Server::Other`].
    pub fn parse(name: &str) -> Server {
        Server::known(name).unwrap_or_else(|| Server::Other(name.into()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Server::Other(name) => name,
            known => known.known_name().unwrap_or_default(),
        }
    }

    /// The name of a known server (`None` for [`Server::Other`]).
    pub fn known_name(&self) -> Option<&'static str> {
        Some(match self {
            Server::Pn => "s.whatsapp.net",
            Server::Lid => "lid",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Messenger => "msgr",
            Server::Interop => "interop",
            Server::Bot => "bot",
            Server::LegacyUser => "c.us",
            Server::Call => "call",
            Server::Other(_) => return None,
        })
    }

    /// Servers whose JIDs carry a device but no agent (the wire's AD_JID
    /// form); a dot in their users is part of the user.
    pub fn is_ad_family(name: &str) -> bool {
        matches!(
            Server::known(name),
            Some(Server::Pn | Server::Lid | Server::Hosted | Server::HostedLid)
        )
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed WhatsApp JID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    pub user: String,
    pub agent: u8,
    pub device: u16,
    pub server: Server,
}

impl Jid {
    /// A JID without agent or device (`user@server`, or `server` when the
    /// user is empty).
    pub fn new(user: impl Into<String>, server: Server) -> Self {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            server,
        }
    }

    /// `user@s.whatsapp.net`: a phone-number user.
    pub fn pn(user: impl Into<String>) -> Self {
        Jid::new(user, Server::Pn)
    }

    /// `user@lid`: a user by LID.
    pub fn lid(user: impl Into<String>) -> Self {
        Jid::new(user, Server::Lid)
    }

    /// `s.whatsapp.net`: the server itself, `from`/`to` of what it says
    /// and is asked.
    pub fn server() -> Self {
        Jid::new("", Server::Pn)
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
    /// question ([`JidRef::formats_as`]).
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        JidRef::split(s).map(|parts| parts.to_owned())
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
        self.server == Server::Group
    }

    /// A phone-number user (`s.whatsapp.net` or `hosted`).
    pub fn is_pn(&self) -> bool {
        matches!(self.server, Server::Pn | Server::Hosted)
    }

    /// A LID (hidden-number) user (`lid` or `hosted.lid`).
    pub fn is_lid(&self) -> bool {
        matches!(self.server, Server::Lid | Server::HostedLid)
    }

    pub fn is_newsletter(&self) -> bool {
        self.server == Server::Newsletter
    }

    /// `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == Server::Broadcast && self.user == STATUS_BROADCAST_USER
    }

    /// A broadcast list (any `@broadcast` JID except the status one).
    pub fn is_broadcast_list(&self) -> bool {
        self.server == Server::Broadcast && !self.user.is_empty() && !self.is_status_broadcast()
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_canonical(f, &self.user, self.agent, self.device, self.server.as_str())
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jid::parse(s)
    }
}

/// A JID equals the text that is its canonical form.
impl PartialEq<str> for Jid {
    fn eq(&self, other: &str) -> bool {
        JidRef::split(other).is_ok_and(|r| r.formats_as(other) && r.to_owned() == *self)
    }
}

impl PartialEq<&str> for Jid {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Jid {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_str()
    }
}

impl PartialEq<Jid> for String {
    fn eq(&self, other: &Jid) -> bool {
        *other == *self.as_str()
    }
}

impl serde::Serialize for Jid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Jid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Jid::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Writes the canonical text form. The agent is left out on AD-family
/// servers, where it has no meaning.
pub fn write_canonical<W: fmt::Write + ?Sized>(
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
    if agent > 0 && !Server::is_ad_family(server) {
        write!(w, ".{agent}")?;
    }
    if device > 0 {
        write!(w, ":{device}")?;
    }
    w.write_str("@")?;
    w.write_str(server)
}

/// A JID borrowed from the text it was split from (no allocation: the
/// binary encoder asks this of every attribute that contains an `@`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JidRef<'a> {
    pub user: &'a str,
    pub agent: u8,
    pub device: u16,
    pub server: &'a str,
}

impl<'a> JidRef<'a> {
    /// Splits `user[.agent][:device]@server` or a bare `server`.
    pub fn split(s: &'a str) -> Result<Self, JidError> {
        let (user_part, server) = match s.split_once('@') {
            Some(pair) => pair,
            None => ("", s),
        };
        if server.is_empty() {
            return Err(JidError("empty server"));
        }
        if server.contains('@') {
            return Err(JidError("more than one '@'"));
        }
        let (mut user, device) = match user_part.rsplit_once(':') {
            Some((user, device)) => (
                user,
                parse_decimal(device).ok_or(JidError("device is not a u16"))?,
            ),
            None => (user_part, 0),
        };
        let mut agent = 0;
        if !Server::is_ad_family(server) {
            if let Some((rest, suffix)) = user.rsplit_once('.') {
                if let Some(value) = parse_decimal(suffix).and_then(|v| u8::try_from(v).ok()) {
                    user = rest;
                    agent = value;
                }
            }
        }
        Ok(JidRef {
            user,
            agent,
            device,
            server,
        })
    }

    /// Whether formatting these parts gives exactly `s` (no allocation).
    pub fn formats_as(&self, s: &str) -> bool {
        let mut m = MatchWriter {
            rest: s.as_bytes(),
            matched: true,
        };
        let written = write_canonical(&mut m, self.user, self.agent, self.device, self.server);
        written.is_ok() && m.matched && m.rest.is_empty()
    }

    pub fn to_owned(&self) -> Jid {
        Jid {
            user: self.user.to_owned(),
            agent: self.agent,
            device: self.device,
            server: Server::parse(self.server),
        }
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
            server: Server::parse(server),
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
            ("7@example.org", jid("7", 0, 0, "example.org")),
        ];
        for (text, expected) in cases {
            let parsed = Jid::parse(text).unwrap();
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), text);
            assert!(JidRef::split(text).unwrap().formats_as(text));
        }
    }

    #[test]
    fn every_known_server_round_trips_its_name() {
        for server in Server::KNOWN {
            let name = server.known_name().unwrap();
            assert_eq!(Server::known(name), Some(server.clone()));
            assert_eq!(Server::parse(name), server);
        }
        assert_eq!(Server::Group.as_str(), "g.us");
        assert_eq!(Server::known("example.org"), None);
        assert_eq!(Server::parse("example.org").as_str(), "example.org");
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
            let parts = JidRef::split(text).unwrap();
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
        assert_eq!(Jid::server().to_string(), "s.whatsapp.net");
        assert_eq!(Jid::lid("1").with_device(4).to_string(), "1:4@lid");
        assert_eq!(Jid::pn("15").to_string(), "15@s.whatsapp.net");
    }

    #[test]
    fn equals_its_canonical_text_only() {
        let j = Jid::pn("15").with_device(2);
        assert_eq!(j, "15:2@s.whatsapp.net");
        assert_eq!("15:2@s.whatsapp.net".to_string(), j);
        assert_ne!(j, "15:02@s.whatsapp.net");
        assert_ne!(j, "15@s.whatsapp.net");
    }

    #[test]
    fn serializes_as_its_text() {
        let j = Jid::pn("15").with_device(2);
        let json = serde_json::to_string(&j).unwrap();
        assert_eq!(json, "\"15:2@s.whatsapp.net\"");
        assert_eq!(serde_json::from_str::<Jid>(&json).unwrap(), j);
        assert!(serde_json::from_str::<Jid>("\"a@b@c\"").is_err());
    }
}
