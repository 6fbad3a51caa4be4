//! What fetching a received file takes, kept by message id in the
//! session's store, so that the file can be asked for by the message's id
//! alone (`GET /v1/sessions/{id}/messages/{message_id}/media`) long after
//! the event went by. Kept with the message, before its receipt: a
//! message the server forgot can still be fetched. Forgotten after
//! `ClientConfig::media_retention`.
//!
//! Owns: the record's format (the event's `media` object as JSON, with
//! where the message came from: what asking the phone to upload the file
//! again names). Must not touch: the transfers (`client::media`).

use tokio::sync::oneshot;

use super::state::Messaging;
use crate::client::core::{Action, Then, Work};
use crate::client::events::{IncomingMedia, IncomingMessage};
use crate::client::ClientError;
use crate::store::AuthStore;

/// The answer to a lookup: the record, if one is kept.
pub type MediaLookup = oneshot::Sender<Result<Option<IncomingMedia>, ClientError>>;

/// What is kept of a received file: its `media` object and the message's
/// chat, sender in a group, and whether we sent it (records kept before
/// these were added read without them).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MediaRecord {
    #[serde(flatten)]
    pub media: IncomingMedia,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    /// A group message's sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    #[serde(default)]
    pub from_me: bool,
}

/// Keeps the media record of `message`, if it carries a file.
pub fn keep(store: &dyn AuthStore, message: &IncomingMessage) -> Result<(), ClientError> {
    let Some(media) = &message.media else {
        return Ok(());
    };
    let record = MediaRecord {
        media: (**media).clone(),
        chat: Some(message.chat.to_string()),
        participant: message.chat.is_group().then(|| message.sender.to_string()),
        from_me: message.from_me,
    };
    put(store, message.id.as_str(), &record)
}

fn put(store: &dyn AuthStore, id: &str, record: &MediaRecord) -> Result<(), ClientError> {
    // Plain strings and numbers: serializing cannot fail.
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    match store.put_media(id, &bytes) {
        Ok(()) => Ok(()),
        Err(crate::store::StoreError::InvalidFileName(_)) => {
            // An id no record can be named by: the file is still in the
            // event, fetchable by its `media` object.
            tracing::debug!(id, "media record not kept: unusual message id");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The record kept for message `id`, if any (a damaged one reads as none).
pub fn find(store: &dyn AuthStore, id: &str) -> Result<Option<MediaRecord>, ClientError> {
    Ok(store
        .media(id)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Points the record of message `id` at `direct_path`, where the phone
/// uploaded the file again; returns the record as it is now.
pub fn moved(
    store: &dyn AuthStore,
    id: &str,
    direct_path: &str,
) -> Result<Option<MediaRecord>, ClientError> {
    let Some(mut record) = find(store, id)? else {
        return Ok(None);
    };
    record.media.direct_path = direct_path.to_string();
    put(store, id, &record)?;
    Ok(Some(record))
}

/// The command that looks up the record of message `id` (off the async
/// workers, like every store read of the session).
pub fn lookup_media(id: String, reply: MediaLookup) -> Then {
    Then::to::<Messaging>(move |_, _, _| {
        vec![Action::Blocking(Work::new(move |store| {
            let _ = reply.send(find(store, &id).map(|r| r.map(|r| r.media)));
            Then::to::<Messaging>(|_, _, _| Vec::new())
        }))]
    })
}

/// The work that forgets the records kept longer than the session's
/// `media_retention` (run at each login).
pub fn prune(age: std::time::Duration) -> Action {
    Action::Blocking(Work::new(move |store| {
        match store.prune_media(age) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(records = n, "old media records forgotten"),
            Err(e) => tracing::warn!(error = %e, "cannot prune media records"),
        }
        Then::to::<Messaging>(|_, _, _| Vec::new())
    }))
}
