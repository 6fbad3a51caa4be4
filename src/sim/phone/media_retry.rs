//! A phone asked by one of its companions to upload a file again (the
//! `<receipt type="server-error">` of WhatsApp's media retry): it finds
//! the message among those it received, opens the sealed request with the
//! file's key, uploads its copy again and answers the companion with a
//! `<notification type="mediaretry">` carrying the sealed new path — or
//! an `<error code="2">` when it has no such message (whatsmeow
//! `mediaretry.go`, wacore `media_retry.rs`).
//!
//! Owns: the phone's side of the retry. Must not touch: the sealing
//! (`crate::media::retry`), the media store's bookkeeping.

use crate::media::{open_request, seal_answer, MediaMessage, RetryOutcome};
use crate::sim::media::routes::{direct_path, file_name};
use crate::sim::state::SimState;
use crate::types::{DeviceAddress, Jid};
use crate::wire::Node;

/// The `<error code>` for a message the phone does not have.
const NOT_FOUND: &str = "2";

/// Companion `me` asks its phone to upload the file of the message the
/// receipt names; the phone's answer is queued for `me`.
pub(crate) fn answer_retry_request(state: &SimState, me: &DeviceAddress, receipt: &Node) {
    let id = receipt.get_attr("id").unwrap_or_default().to_string();
    let rmr = receipt.child("rmr").cloned();
    let encrypt = receipt.child("encrypt");
    let part = |tag: &str| {
        encrypt
            .and_then(|e| e.child(tag))
            .and_then(Node::content_bytes)
    };
    let (ciphertext, iv) = (part("enc_p"), part("enc_iv"));
    // The account's own phone answers, if it holds the message.
    let media: Option<MediaMessage> = state.lock().account(me.user()).ok().and_then(|phone| {
        phone
            .signal
            .received
            .iter()
            .find(|r| r.message.id == id)
            .and_then(|r| r.media.as_deref().cloned())
    });
    let body = match (media, ciphertext, iv) {
        (Some(media), Some(ciphertext), Some(iv)) => {
            let outcome = match open_request(&media.media_key, &id, iv, ciphertext) {
                Err(why) => {
                    tracing::debug!(%id, %why, "media retry request not opened");
                    RetryOutcome::DecryptionError
                }
                Ok(()) => upload_again(state, &media),
            };
            if let RetryOutcome::Uploaded { direct_path } = &outcome {
                // The phone's message points at its new copy from now on.
                moved(state, me.user(), &id, direct_path);
            }
            let sealed = seal_answer(&media.media_key, &id, &outcome);
            Node::new("encrypt").children(vec![
                Node::new("enc_p").bytes(sealed.ciphertext),
                Node::new("enc_iv").bytes(sealed.iv.to_vec()),
            ])
        }
        _ => Node::new("error").attr("code", NOT_FOUND),
    };
    let mut children = Vec::new();
    children.extend(rmr);
    children.push(body);
    let mut world = state.lock();
    let notification = Node::new("notification")
        .attr("from", Jid::pn(me.user()).to_string())
        .attr("type", "mediaretry")
        .attr("id", id.clone())
        .attr("t", world.now().to_string())
        .children(children);
    world.enqueue(me, "notification", &id, notification);
}

/// Points the phone's received message `id` at `direct_path`.
fn moved(state: &SimState, phone: &str, id: &str, direct_path: &str) {
    if let Ok(account) = state.lock().account_mut(phone) {
        let received = account.signal.received.iter_mut();
        for media in received
            .filter(|r| r.message.id == id)
            .filter_map(|r| r.media.as_mut())
        {
            media.direct_path = direct_path.to_string();
        }
    }
}

/// The phone's copy goes up again: where it is now.
fn upload_again(state: &SimState, media: &MediaMessage) -> RetryOutcome {
    let Some(name) = file_name(&media.direct_path) else {
        return RetryOutcome::NotFound;
    };
    let mut hosts = state.media();
    if hosts.get(name).is_some() {
        // Still on the hosts: nothing to upload.
        return RetryOutcome::Uploaded {
            direct_path: media.direct_path.clone(),
        };
    }
    match hosts.upload_again(name) {
        Some(name) => RetryOutcome::Uploaded {
            direct_path: direct_path(&name),
        },
        None => RetryOutcome::NotFound,
    }
}
