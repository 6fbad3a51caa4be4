//! How the server ends a connection: `<failure>` answering a login and
//! `<stream:error>` at any time.

use crate::client::core::{Action, Ending};
use crate::wire::Node;

/// `<failure reason=".."/>` answering a login (reason codes: wacore-0.7.0
/// `ConnectFailureReason`, whatsmeow `events.ConnectFailureReason`).
pub fn on_failure(node: &Node) -> Vec<Action> {
    let reason = node.get_attr("reason").unwrap_or_default();
    let stop = |text: String| Ending::Stop {
        failed: false,
        reason: text,
        done: None,
    };
    let logged_out = |text: &str| Ending::LoggedOut {
        reason: text.into(),
        done: None,
    };
    let ending = match reason {
        "401" => logged_out("logged out (401)"),
        "403" => logged_out("account locked (403)"),
        "406" => logged_out("logged out (406)"),
        "402" => {
            let mut text = "temporarily banned".to_string();
            if let Some(code) = node.get_attr("code") {
                text.push_str(&format!(" (code {code})"));
            }
            if let Some(expire) = node.get_attr("expire") {
                text.push_str(&format!(", expires in {expire} s"));
            }
            stop(text)
        }
        "405" => stop("client outdated (405)".into()),
        "409" => stop("bad user agent (409)".into()),
        other => Ending::Reconnect {
            reason: format!("login failed ({other})"),
            penalty: 0,
        },
    };
    vec![Action::End(ending)]
}

/// `<stream:error>` (handling as in whatsapp-rust-0.7.0
/// `client/node_io.rs` and whatsmeow `connectionevents.go`).
pub fn on_stream_error(node: &Node) -> Vec<Action> {
    let code = node.get_attr("code").unwrap_or_default();
    let conflict = node
        .child("conflict")
        .map(|c| c.get_attr("type").unwrap_or_default());
    let logged_out = |text: &str| Ending::LoggedOut {
        reason: text.into(),
        done: None,
    };
    let reconnect = |text: &str, penalty| Ending::Reconnect {
        reason: text.into(),
        penalty,
    };
    let ending = match (conflict, code) {
        (Some("replaced"), _) | (None, "409") => Ending::Stop {
            failed: false,
            reason: "replaced".into(),
            done: None,
        },
        (Some(kind), _) => logged_out(if kind.is_empty() { "conflict" } else { kind }),
        (None, "515") => Ending::Restart,
        (None, "516") => logged_out("device_removed"),
        (None, "401") => logged_out("unauthorized"),
        (None, "429") => reconnect("rate limited (429)", 5),
        (None, "503") => reconnect("service unavailable (503)", 0),
        (None, _) if node.child("xml-not-well-formed").is_some() => {
            reconnect("server could not parse our stanza", 0)
        }
        (None, other) => {
            // Informational (e.g. an <ack> the server is still owed); the
            // server closes the stream itself if it means to.
            tracing::warn!(code = other, "unhandled stream error");
            return Vec::new();
        }
    };
    vec![Action::End(ending)]
}
