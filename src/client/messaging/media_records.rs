//! What fetching a received file takes, kept by message id in the
//! session's store, so that the file can be asked for by the message's id
//! alone (`GET /v1/sessions/{id}/messages/{message_id}/media`) long after
//! the event went by. Kept with the message, before its receipt: a
//! message the server forgot can still be fetched. Forgotten after
//! `ClientConfig::media_retention`.
//!
//! Owns: the record's format (the event's `media` object as JSON). Must
//! not touch: the transfers (`client::media`).

use tokio::sync::oneshot;

use super::state::Messaging;
use crate::client::core::{Action, Then, Work};
use crate::client::events::{IncomingMedia, IncomingMessage};
use crate::client::ClientError;
use crate::store::AuthStore;

/// The answer to a lookup: the record, if one is kept.
pub type MediaLookup = oneshot::Sender<Result<Option<IncomingMedia>, ClientError>>;

/// Keeps the media record of `message`, if it carries a file.
pub fn keep(store: &dyn AuthStore, message: &IncomingMessage) -> Result<(), ClientError> {
    let Some(media) = &message.media else {
        return Ok(());
    };
    // Plain strings and numbers: serializing cannot fail.
    let record = serde_json::to_vec(media.as_ref()).unwrap_or_default();
    match store.put_media(message.id.as_str(), &record) {
        Ok(()) => Ok(()),
        Err(crate::store::StoreError::InvalidFileName(_)) => {
            // An id no record can be named by: the file is still in the
            // event, fetchable by its `media` object.
            tracing::debug!(id = %message.id, "media record not kept: unusual message id");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The record kept for message `id`, if any (a damaged one reads as none).
pub fn find(store: &dyn AuthStore, id: &str) -> Result<Option<IncomingMedia>, ClientError> {
    Ok(store
        .media(id)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// The command that looks up the record of message `id` (off the async
/// workers, like every store read of the session).
pub fn lookup_media(id: String, reply: MediaLookup) -> Then {
    Then::to::<Messaging>(move |_, _, _| {
        vec![Action::Blocking(Work::new(move |store| {
            let _ = reply.send(find(store, &id));
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
