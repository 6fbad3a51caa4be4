//! The little JID parsing the session needs.

/// Splits an AD JID `user[.agent][:device]@server` into user and device
/// (device 0 when absent). `None` for anything malformed.
pub fn parse_ad_jid(jid: &str) -> Option<(&str, u16)> {
    let (local, server) = jid.split_once('@')?;
    if server.is_empty() || local.is_empty() {
        return None;
    }
    let (user_agent, device) = match local.split_once(':') {
        Some((ua, dev)) => (ua, dev.parse().ok()?),
        None => (local, 0),
    };
    let user = user_agent.split_once('.').map_or(user_agent, |(u, _)| u);
    if user.is_empty() {
        return None;
    }
    Some((user, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ad_jids() {
        assert_eq!(parse_ad_jid("155:7@s.whatsapp.net"), Some(("155", 7)));
        assert_eq!(parse_ad_jid("155@s.whatsapp.net"), Some(("155", 0)));
        assert_eq!(parse_ad_jid("155.0:7@s.whatsapp.net"), Some(("155", 7)));
        assert_eq!(parse_ad_jid("155:x@s.whatsapp.net"), None);
        assert_eq!(parse_ad_jid("@s.whatsapp.net"), None);
        assert_eq!(parse_ad_jid("155"), None);
    }
}
