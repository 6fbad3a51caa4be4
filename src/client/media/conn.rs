//! `media_conn`: the media hosts and an upload token, asked of the chat
//! server and kept until they expire (whatsmeow `mediaconn.go`, wacore
//! `iq/mediaconn.rs`).

use tokio::time::{Duration, Instant};

use crate::client::core::{envelope, expect_result, IqSpec};
use crate::client::ClientError;
use crate::wire::Node;

/// Where media goes, and the token uploads carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaConn {
    /// The upload token (`auth=` of the upload URL).
    pub auth: String,
    /// Host names, to try in order.
    pub hosts: Vec<String>,
    /// When to ask again.
    pub expires: Instant,
}

impl MediaConn {
    /// Still usable at `now`, with a minute to spare for a transfer.
    pub fn fresh(&self, now: Instant) -> bool {
        now + Duration::from_secs(60) < self.expires
    }
}

/// `<iq xmlns="w:m" type="set"><media_conn/></iq>`; the answer's
/// `<media_conn auth ttl auth_ttl><host hostname/>…</media_conn>`.
pub struct MediaConnQuery {
    /// When the query is sent: the lifetimes count from there.
    pub asked: Instant,
}

impl IqSpec for MediaConnQuery {
    type Answer = MediaConn;

    fn request(&self, id: &str) -> Node {
        envelope::iq(id, "w:m", "set", vec![Node::new("media_conn")])
    }

    fn parse(&self, answer: &Node) -> Result<MediaConn, ClientError> {
        let bad = |why: &str| ClientError::MediaTransfer(format!("media_conn answer: {why}"));
        let conn = expect_result(answer)?
            .child("media_conn")
            .ok_or_else(|| bad("no <media_conn>"))?;
        let auth = conn.get_attr("auth").ok_or_else(|| bad("no auth"))?;
        let seconds = |key: &str| conn.get_attr(key).and_then(|v| v.parse::<u64>().ok());
        // The token may expire before the host list does.
        let ttl = match (seconds("ttl"), seconds("auth_ttl")) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(0),
        };
        let hosts: Vec<String> = conn
            .child_nodes()
            .iter()
            .filter(|n| n.tag == "host")
            .filter_map(|n| n.get_attr("hostname"))
            .filter(|h| is_host_name(h))
            .map(str::to_string)
            .collect();
        if hosts.is_empty() {
            return Err(bad("no usable host"));
        }
        Ok(MediaConn {
            auth: auth.to_string(),
            hosts,
            expires: self.asked + Duration::from_secs(ttl),
        })
    }
}

/// A host name (with an optional port) and nothing else: the server's
/// answer becomes part of a URL.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_gives_hosts_token_and_the_shorter_lifetime() {
        let asked = Instant::now();
        let answer = Node::new("iq")
            .attr("type", "result")
            .children(vec![Node::new("media_conn")
                .attr("auth", "AUTH")
                .attr("ttl", "21600")
                .attr("auth_ttl", "3600")
                .children(vec![
                    Node::new("host").attr("hostname", "mmg.whatsapp.net"),
                    Node::new("host").attr("hostname", "evil/path?x"),
                    Node::new("host").attr("hostname", "127.0.0.1:8080"),
                ])]);
        let conn = MediaConnQuery { asked }.parse(&answer).unwrap();
        assert_eq!(conn.auth, "AUTH");
        assert_eq!(conn.hosts, ["mmg.whatsapp.net", "127.0.0.1:8080"]);
        assert_eq!(conn.expires, asked + Duration::from_secs(3600));
        assert!(conn.fresh(asked));
        assert!(!conn.fresh(asked + Duration::from_secs(3550)));
        let empty = Node::new("iq")
            .attr("type", "result")
            .children(vec![Node::new("media_conn").attr("auth", "A")]);
        assert!(MediaConnQuery { asked }.parse(&empty).is_err());
    }
}
