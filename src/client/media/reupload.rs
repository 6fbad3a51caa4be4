//! Asking our phone to upload a received file again once the media hosts
//! forgot it (they keep files for weeks; the phone keeps them longer):
//! WhatsApp's "media retry". The request is a
//! `<receipt type="server-error" to="{own user}@s.whatsapp.net">` with
//! the sealed `ServerErrorReceipt` and an `<rmr>` naming the message; the
//! phone answers through the server with a
//! `<notification type="mediaretry" id="{message id}">` carrying the
//! sealed new path, or an `<error code>` (whatsmeow `mediaretry.go`,
//! wacore `media_retry.rs`).
//!
//! Owns: the requests waiting for their answer (answered once, with the
//! file's record pointed at its new path, or failed at the timeout or
//! when the connection goes). Must not touch: the sealing
//! (`crate::media::retry`), the records' format (`media_records`).

use base64::prelude::{Engine as _, BASE64_STANDARD};
use tokio::time::Instant;

use super::pending::{PendingReupload, Reply, REUPLOAD_TIMEOUT};
use super::Media;
use crate::client::core::envelope::ack_actions;
use crate::client::core::{Action, Ctx, Phase, Then, Work};
use crate::client::messaging::media_records::{self, MediaRecord};
use crate::client::ClientError;
use crate::media::{open_answer, seal_request, MediaKey, RetryOutcome, Sealed};
use crate::types::Jid;
use crate::wire::Node;

/// The `<error code>` the phone's answer may carry instead (wacore
/// `parse_media_retry_notification`).
const ERROR_NOT_FOUND: &str = "2";
const ERROR_DECRYPTION: &str = "3";

/// Reads the message's record, then sends the request.
pub(super) fn request(id: String, reply: Reply) -> Then {
    Then::to::<Media>(move |_, ctx, _| {
        if ctx.phase != Phase::Connected {
            let _ = reply.send(Err(ClientError::NotConnected));
            return Vec::new();
        }
        vec![Action::Blocking(Work::new(move |store| {
            let record = media_records::find(store, &id);
            Then::to::<Media>(move |media, ctx, now| match record {
                Ok(Some(record)) => media.send_request(ctx, id, record, reply, now),
                Ok(None) => {
                    let _ = reply.send(Err(ClientError::UnknownMessage(id)));
                    Vec::new()
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    Vec::new()
                }
            })
        }))]
    })
}

/// `<receipt id to type="server-error"><encrypt><enc_p/><enc_iv/></encrypt>
/// <rmr jid from_me participant?/></receipt>`.
pub fn request_node(own_user: &str, id: &str, record: &MediaRecord, sealed: &Sealed) -> Node {
    let encrypt = Node::new("encrypt").children(vec![
        Node::new("enc_p").bytes(sealed.ciphertext.clone()),
        Node::new("enc_iv").bytes(sealed.iv.to_vec()),
    ]);
    let mut rmr = Node::new("rmr")
        .attr("jid", record.chat.clone().unwrap_or_default())
        .attr("from_me", if record.from_me { "true" } else { "false" });
    if let Some(participant) = &record.participant {
        rmr = rmr.attr("participant", participant.clone());
    }
    Node::new("receipt")
        .attr("id", id.to_string())
        .attr("to", Jid::pn(own_user).to_string())
        .attr("type", "server-error")
        .children(vec![encrypt, rmr])
}

/// What a `mediaretry` notification says, opened with the file's key.
fn read_answer(node: &Node, id: &str, key: &MediaKey) -> RetryOutcome {
    if let Some(error) = node.child("error") {
        return match error.get_attr("code") {
            Some(ERROR_NOT_FOUND) => RetryOutcome::NotFound,
            Some(ERROR_DECRYPTION) => RetryOutcome::DecryptionError,
            _ => RetryOutcome::GeneralError,
        };
    }
    let encrypt = node.child("encrypt");
    let part = |tag: &str| {
        encrypt
            .and_then(|e| e.child(tag))
            .and_then(Node::content_bytes)
    };
    let (Some(ciphertext), Some(iv)) = (part("enc_p"), part("enc_iv")) else {
        return RetryOutcome::GeneralError;
    };
    open_answer(key, id, iv, ciphertext).unwrap_or_else(|e| {
        tracing::warn!(id, error = %e, "unreadable media retry answer");
        RetryOutcome::GeneralError
    })
}

impl Media {
    fn send_request(
        &mut self,
        ctx: &mut Ctx,
        id: String,
        record: MediaRecord,
        reply: Reply,
        now: Instant,
    ) -> Vec<Action> {
        let key = BASE64_STANDARD
            .decode(&record.media.media_key)
            .ok()
            .and_then(|k| MediaKey::try_from(k.as_slice()).ok());
        let (Some(own), Some(key), Some(_)) = (ctx.own_device(), key, record.chat.as_ref()) else {
            // A record kept before chats were kept names no message the
            // phone could find.
            let _ = reply.send(Err(ClientError::MediaGone(
                "the media hosts no longer have the file, and it cannot be asked for again".into(),
            )));
            return Vec::new();
        };
        let sealed = seal_request(&key, &id);
        let node = request_node(own.user(), &id, &record, &sealed);
        self.reuploads.push(PendingReupload {
            id,
            media_key: key,
            deadline: now + REUPLOAD_TIMEOUT,
            reply,
        });
        vec![Action::Send(node)]
    }

    /// A `<notification type="mediaretry">`: answers whoever waits for
    /// that message. Always acked.
    pub(super) fn on_answer(&mut self, node: &Node) -> Vec<Action> {
        let mut actions = ack_actions(node);
        let id = node.get_attr("id").unwrap_or_default().to_string();
        let (waiting, rest) = std::mem::take(&mut self.reuploads)
            .into_iter()
            .partition::<Vec<_>, _>(|p| p.id == id);
        self.reuploads = rest;
        let Some(first) = waiting.first() else {
            tracing::debug!(id, "media retry answer nobody waits for");
            return actions;
        };
        let outcome = read_answer(node, &id, &first.media_key);
        let replies: Vec<Reply> = waiting.into_iter().map(|p| p.reply).collect();
        match outcome {
            RetryOutcome::Uploaded { direct_path } => {
                actions.push(Action::Blocking(Work::new(move |store| {
                    let moved = media_records::moved(store, &id, &direct_path);
                    for reply in replies {
                        let answer = match &moved {
                            Ok(Some(record)) => Ok(record.media.clone()),
                            Ok(None) => Err(ClientError::UnknownMessage(id.clone())),
                            Err(e) => Err(ClientError::MediaTransfer(e.to_string())),
                        };
                        let _ = reply.send(answer);
                    }
                    Then::to::<Media>(|_, _, _| Vec::new())
                })));
            }
            other => {
                let why = match other {
                    RetryOutcome::NotFound => "the phone no longer has the file",
                    RetryOutcome::DecryptionError => "the phone could not read the request",
                    _ => "the phone could not upload the file again",
                };
                for reply in replies {
                    let _ = reply.send(Err(ClientError::MediaGone(format!(
                        "the media hosts no longer have the file, and {why}"
                    ))));
                }
            }
        }
        actions
    }

    pub(super) fn next_reupload_deadline(&self) -> Option<Instant> {
        self.reuploads.iter().map(|p| p.deadline).min()
    }

    /// Fails the requests whose time is up.
    pub(super) fn expire_reuploads(&mut self, now: Instant) {
        let (late, rest) = std::mem::take(&mut self.reuploads)
            .into_iter()
            .partition::<Vec<_>, _>(|p| p.deadline <= now);
        self.reuploads = rest;
        for pending in late {
            let _ = pending.reply.send(Err(ClientError::MediaGone(
                "the media hosts no longer have the file, and the phone did not upload it again \
                 in time (is it online?)"
                    .into(),
            )));
        }
    }

    /// The connection went: nobody will answer.
    pub(super) fn drop_reuploads(&mut self) {
        for pending in self.reuploads.drain(..) {
            let _ = pending.reply.send(Err(ClientError::NotConnected));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::IncomingMedia;
    use crate::media::seal_answer;
    use tokio::sync::oneshot;

    fn record() -> MediaRecord {
        MediaRecord {
            media: IncomingMedia {
                kind: "document".into(),
                mimetype: "application/pdf".into(),
                file_length: 3,
                file_sha256: String::new(),
                voice_note: false,
                caption: None,
                file_name: None,
                width: None,
                height: None,
                seconds: None,
                page_count: None,
                direct_path: "/v/old.enc".into(),
                media_key: BASE64_STANDARD.encode([7u8; 32]),
                file_enc_sha256: String::new(),
            },
            chat: Some("120363000000000001@g.us".into()),
            participant: Some("15550001111@s.whatsapp.net".into()),
            from_me: false,
        }
    }

    fn pending(
        id: &str,
        deadline: Instant,
    ) -> (
        PendingReupload,
        oneshot::Receiver<Result<IncomingMedia, ClientError>>,
    ) {
        let (reply, rx) = oneshot::channel();
        let p = PendingReupload {
            id: id.into(),
            media_key: [7; 32],
            deadline,
            reply,
        };
        (p, rx)
    }

    fn answer(id: &str, body: Node) -> Node {
        Node::new("notification")
            .attr("id", id.to_string())
            .attr("from", "15550009999@s.whatsapp.net")
            .attr("type", "mediaretry")
            .children(vec![body])
    }

    #[test]
    fn the_request_names_our_account_the_message_and_its_chat() {
        let sealed = seal_request(&[7; 32], "3EB0AA");
        let node = request_node("15550009999", "3EB0AA", &record(), &sealed);
        assert_eq!(node.get_attr("type"), Some("server-error"));
        assert_eq!(node.get_attr("to"), Some("15550009999@s.whatsapp.net"));
        assert_eq!(node.get_attr("id"), Some("3EB0AA"));
        let rmr = node.child("rmr").expect("rmr");
        assert_eq!(rmr.get_attr("jid"), Some("120363000000000001@g.us"));
        assert_eq!(rmr.get_attr("from_me"), Some("false"));
        assert_eq!(
            rmr.get_attr("participant"),
            Some("15550001111@s.whatsapp.net")
        );
        let encrypt = node.child("encrypt").expect("encrypt");
        let iv = encrypt
            .child("enc_iv")
            .and_then(Node::content_bytes)
            .expect("iv");
        let ciphertext = encrypt
            .child("enc_p")
            .and_then(Node::content_bytes)
            .expect("p");
        crate::media::open_request(&[7; 32], "3EB0AA", iv, ciphertext).expect("opens");
    }

    #[test]
    fn refusals_and_silence_are_media_gone_and_every_answer_is_acked() {
        let now = Instant::now();
        let mut media = Media::default();
        let (p, mut not_found) = pending("A", now + REUPLOAD_TIMEOUT);
        media.reuploads.push(p);
        let (p, mut unreadable) = pending("B", now + REUPLOAD_TIMEOUT);
        media.reuploads.push(p);
        let (p, mut silent) = pending("C", now + REUPLOAD_TIMEOUT);
        media.reuploads.push(p);

        let acted = media.on_answer(&answer("A", Node::new("error").attr("code", "2")));
        assert!(matches!(acted.as_slice(), [Action::Send(ack)] if ack.tag == "ack"));
        let why = format!("{:?}", not_found.try_recv());
        assert!(why.contains("no longer has the file"), "{why}");

        // Sealed with another key: unreadable, a general failure.
        let sealed = seal_answer(&[8; 32], "B", &RetryOutcome::NotFound);
        let body = Node::new("encrypt").children(vec![
            Node::new("enc_p").bytes(sealed.ciphertext),
            Node::new("enc_iv").bytes(sealed.iv.to_vec()),
        ]);
        media.on_answer(&answer("B", body));
        assert!(matches!(
            unreadable.try_recv(),
            Ok(Err(ClientError::MediaGone(_)))
        ));

        // Nobody waits for this one: acked all the same.
        assert_eq!(media.on_answer(&answer("Z", Node::new("error"))).len(), 1);

        assert_eq!(media.next_reupload_deadline(), Some(now + REUPLOAD_TIMEOUT));
        media.expire_reuploads(now + REUPLOAD_TIMEOUT);
        assert!(matches!(
            silent.try_recv(),
            Ok(Err(ClientError::MediaGone(_)))
        ));
        assert!(media.reuploads.is_empty());
    }

    #[test]
    fn a_lost_connection_answers_whoever_waits() {
        let mut media = Media::default();
        let (p, mut rx) = pending("A", Instant::now() + REUPLOAD_TIMEOUT);
        media.reuploads.push(p);
        media.drop_reuploads();
        assert!(matches!(rx.try_recv(), Ok(Err(ClientError::NotConnected))));
    }
}
