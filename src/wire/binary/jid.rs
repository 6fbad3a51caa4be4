//! The wire side of JIDs: which servers the binary JID forms carry and the
//! AD_JID domain-type byte. What a JID is, and its text form, is
//! `types::Jid`.

use super::tags;
use crate::types::Server;

/// Whether `server` is one the wire's JID forms are used for. Strings naming
/// other servers are written as plain strings (some decoders reject JID
/// pairs with unknown servers).
pub(crate) fn is_known_server(server: &str) -> bool {
    Server::known(server).is_some()
}

/// The AD_JID domain-type byte of a server of the AD family.
pub(crate) fn ad_domain(server: &str) -> Option<u8> {
    match Server::known(server)? {
        Server::Pn => Some(tags::DOMAIN_PN),
        Server::Lid => Some(tags::DOMAIN_LID),
        Server::Hosted => Some(tags::DOMAIN_HOSTED),
        Server::HostedLid => Some(tags::DOMAIN_HOSTED_LID),
        _ => None,
    }
}

/// The server an AD_JID domain-type byte stands for. Mirrors WA Web:
/// besides the four named values, any even byte with bit 7 set is hosted.
pub(crate) fn server_for_domain(domain: u8) -> Option<&'static str> {
    let server = match domain {
        tags::DOMAIN_PN => Server::Pn,
        tags::DOMAIN_LID => Server::Lid,
        tags::DOMAIN_HOSTED_LID => Server::HostedLid,
        d if d & 0x80 != 0 && d & 1 == 0 => Server::Hosted,
        _ => return None,
    };
    server.known_name()
}

#[cfg(test)]
mod tests {
    use super::*;

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
