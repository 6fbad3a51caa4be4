//! The account's history as the phone hands it to a new companion: a
//! `ProtocolMessage` of type `HISTORY_SYNC_NOTIFICATION` pointing at a
//! zlib-compressed `HistorySync` chunk, uploaded as media ("WhatsApp
//! History Keys") or, for a small first chunk, carried in the message
//! itself (whatsmeow `handleHistorySyncNotification`, whatsapp-rust
//! `history_sync.rs`). wasp keeps of it the contacts' phone number ↔ LID
//! pairs (`phoneNumberToLidMappings`); the chats themselves are not kept.
//!
//! Owns: reading the notification, checking a chunk's pairs, the
//! download beside the session ([`fetch`]), the `hist_sync` receipt that
//! tells the phone the chunk arrived. Must not touch: whether the sender
//! may send history (only our own phone: the caller checks), reading
//! the chunk's bytes (`proto::history`).

use std::io::{self, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll};

use prost::Message as _;
use tokio::io::AsyncWrite;

use super::state::Messaging;
use crate::client::core::{Action, Detached, Then, Work};
use crate::client::media::MediaRef;
use crate::media::MediaKind;
use crate::proto::history::LidPairReader;
use crate::proto::protocol_message::Type as ProtocolMessageType;
use crate::proto::{HistorySyncNotification, Message, PhoneNumberToLidMapping};
use crate::types::{Jid, MessageId, Server};
use crate::wire::Node;

/// Where a history chunk is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// In the notification (the compressed bytes).
    Inline(Vec<u8>),
    /// On the media hosts.
    Blob(MediaRef),
}

/// The chunk a history sync notification points at, when the unpadded
/// message is one: `Some(Err(why))` for a notification that names no
/// readable chunk, `None` for any other message.
pub fn notice(plaintext: &[u8]) -> Option<Result<Chunk, String>> {
    let protocol = Message::decode(plaintext).ok()?.protocol_message?;
    if protocol.r#type != Some(ProtocolMessageType::HistorySyncNotification.into()) {
        return None;
    }
    let Some(notification) = protocol.history_sync_notification else {
        return Some(Err("no notification in the message".into()));
    };
    Some(chunk_of(notification))
}

fn chunk_of(n: HistorySyncNotification) -> Result<Chunk, String> {
    if let Some(inline) = n.initial_hist_bootstrap_inline_payload {
        return Ok(Chunk::Inline(inline));
    }
    let bytes32 = |b: Option<Vec<u8>>, what: &str| -> Result<[u8; 32], String> {
        b.and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("{what} is not 32 bytes"))
    };
    Ok(Chunk::Blob(MediaRef {
        kind: MediaKind::History,
        direct_path: n.direct_path.ok_or("no direct path")?,
        media_key: bytes32(n.media_key, "media key")?,
        file_sha256: Some(bytes32(n.file_sha256, "file hash")?),
        file_enc_sha256: Some(bytes32(n.file_enc_sha256, "encrypted file hash")?),
    }))
}

/// The `(lid, phone number)` user pairs of a chunk's mappings; pairs
/// that are not a phone-number user and a LID user are dropped.
pub fn user_pairs(mappings: Vec<PhoneNumberToLidMapping>) -> Vec<(String, String)> {
    let user = |jid: Option<String>, server: Server| -> Option<String> {
        let jid = Jid::parse(jid.as_deref()?).ok()?;
        let fine = jid.server == server
            && jid.device == 0
            && !jid.user.is_empty()
            && jid.user.bytes().all(|b| b.is_ascii_digit());
        fine.then_some(jid.user)
    };
    mappings
        .into_iter()
        .filter_map(|m| Some((user(m.lid_jid, Server::Lid)?, user(m.pn_jid, Server::Pn)?)))
        .collect()
}

/// `<receipt id type="hist_sync" to="{own user}@s.whatsapp.net">`: the
/// chunk of message `id` arrived (whatsmeow `sendProtocolMessageReceipt`,
/// whatsapp-rust `send_protocol_receipt`).
pub fn receipt(id: &MessageId, own_user: &str) -> Node {
    Node::new("receipt")
        .attr("id", id.as_str())
        .attr("type", "hist_sync")
        .attr("to", Jid::pn(own_user).to_string())
}

/// Stores `pairs` (off the async workers), then sends the `hist_sync`
/// receipt for message `id`.
fn store_and_confirm(id: MessageId, pairs: Vec<(String, String)>) -> Then {
    Then::to::<Messaging>(move |_, _, _| {
        vec![Action::Blocking(Work::new(move |store| {
            if let Err(e) = super::lid_sync::keep_pairs(store, &pairs, "history sync") {
                tracing::warn!(error = %e, "cannot store the LIDs of a history chunk");
            }
            Then::to::<Messaging>(move |_, ctx, _| {
                let Some(own) = ctx.own_device() else {
                    return Vec::new();
                };
                vec![Action::Send(receipt(&id, own.user()))]
            })
        }))]
    })
}

/// Downloads the chunk of message `id` beside the session, inflating and
/// reading it as it arrives, then stores its pairs and confirms it.
pub fn fetch(id: MessageId, chunk: MediaRef) -> Detached {
    Detached::new(move |handle| async move {
        let client = handle.into_client();
        let mut sink = PairSink(LidPairReader::new());
        let pairs = match client.download_media(&chunk, &mut sink).await {
            Ok(_) => sink.0.finish().map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let pairs = match pairs {
            Ok(pairs) => user_pairs(pairs),
            Err(why) => {
                // Confirmed all the same: the phone would otherwise keep
                // offering a chunk that cannot be read.
                tracing::warn!(id = %id, %why, "history chunk not read");
                Vec::new()
            }
        };
        if let Err(e) = client.command(store_and_confirm(id, pairs)).await {
            tracing::debug!(error = %e, "session ended before a history chunk was stored");
        }
    })
}

/// The pairs of an inline chunk, read in place (it is small: it came in
/// the message).
pub fn inline_pairs(compressed: &[u8]) -> Result<Vec<(String, String)>, String> {
    crate::proto::history::lid_pairs(compressed)
        .map(user_pairs)
        .map_err(|e| e.to_string())
}

/// The chunk's reader as the download's destination.
struct PairSink(LidPairReader);

impl AsyncWrite for PairSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().0.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ProtocolMessage;

    fn notification(n: HistorySyncNotification) -> Vec<u8> {
        crate::proto::protocol_message(ProtocolMessage {
            r#type: Some(ProtocolMessageType::HistorySyncNotification.into()),
            history_sync_notification: Some(n),
            ..Default::default()
        })
    }

    #[test]
    fn a_notification_names_its_blob_or_carries_its_chunk() {
        let blob = notification(HistorySyncNotification {
            file_sha256: Some(vec![1; 32]),
            file_length: Some(10),
            media_key: Some(vec![2; 32]),
            file_enc_sha256: Some(vec![3; 32]),
            direct_path: Some("/v/t62/abc?x=1".into()),
            ..Default::default()
        });
        assert_eq!(
            notice(&blob),
            Some(Ok(Chunk::Blob(MediaRef {
                kind: MediaKind::History,
                direct_path: "/v/t62/abc?x=1".into(),
                media_key: [2; 32],
                file_sha256: Some([1; 32]),
                file_enc_sha256: Some([3; 32]),
            })))
        );
        let inline = notification(HistorySyncNotification {
            initial_hist_bootstrap_inline_payload: Some(vec![9, 9]),
            ..Default::default()
        });
        assert_eq!(notice(&inline), Some(Ok(Chunk::Inline(vec![9, 9]))));
        let short_key = notification(HistorySyncNotification {
            media_key: Some(vec![2; 31]),
            direct_path: Some("/p".into()),
            ..Default::default()
        });
        assert!(matches!(notice(&short_key), Some(Err(_))));
        assert_eq!(notice(b"\x0a\x02hi"), None, "a text is not a notification");
    }

    #[test]
    fn only_number_and_lid_users_pair_up() {
        let m = |pn: &str, lid: &str| PhoneNumberToLidMapping {
            pn_jid: Some(pn.into()),
            lid_jid: Some(lid.into()),
        };
        let pairs = user_pairs(vec![
            m("15550001111@s.whatsapp.net", "700001@lid"),
            m("700002@lid", "15550002222@s.whatsapp.net"),
            m("15550003333:2@s.whatsapp.net", "700003@lid"),
            m("1555000x@s.whatsapp.net", "700004@lid"),
            m("120363000@g.us", "700005@lid"),
            PhoneNumberToLidMapping::default(),
        ]);
        assert_eq!(pairs, [("700001".to_string(), "15550001111".to_string())]);
    }

    #[test]
    fn the_receipt_goes_to_our_own_user() {
        let r = receipt(&MessageId::from("ABC".to_string()), "15550009999");
        assert_eq!(r.get_attr("type"), Some("hist_sync"));
        assert_eq!(r.get_attr("to"), Some("15550009999@s.whatsapp.net"));
        assert_eq!(r.get_attr("id"), Some("ABC"));
    }
}
