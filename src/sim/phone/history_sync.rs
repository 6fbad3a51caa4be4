//! The phone hands its companions the account's history: the first
//! chunk, holding its contacts' phone number ↔ LID pairs, uploaded to the
//! media hosts as a client uploads a file (or carried inline), and a
//! history sync notification to each companion saying where it is. A
//! companion answers with a `hist_sync` receipt, which the phone logs.
//!
//! Owns: the admin API's `POST /sim/phones/{phone}/history-sync`. Must
//! not touch: the chunk's and the message's shape
//! (`protocol::history_sync`), the media hosts' storage rules.

use serde::Serialize;

use super::lid_sync::{contact_pairs, to_companions};
use crate::media::MediaKind;
use crate::sim::error::SimError;
use crate::sim::media::routes::direct_path;
use crate::sim::protocol::history_sync::{bootstrap_chunk, notification, ChunkAt};
use crate::sim::state::SimState;

/// What `POST /sim/phones/{phone}/history-sync` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryShared {
    /// How many pairs the chunk holds.
    pub mappings: usize,
    /// How many companions were told.
    pub devices: usize,
    /// Where the chunk was uploaded (none when sent inline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_path: Option<String>,
}

/// Phone `phone` sends its companions a history chunk with the pairs of
/// `contacts`, inline or uploaded.
pub(crate) fn phone_share_history(
    state: &SimState,
    phone: &str,
    contacts: &[String],
    inline: bool,
) -> Result<HistoryShared, SimError> {
    let pairs = contact_pairs(&state.lock(), contacts)?;
    let chunk = bootstrap_chunk(&pairs);
    let (message, path) = if inline {
        (notification(ChunkAt::Inline(chunk)), None)
    } else {
        let (upload, info) = crate::media::encrypt(&chunk, MediaKind::History);
        let path = direct_path(&state.media().put(upload.into()));
        let message = notification(ChunkAt::Uploaded {
            info: &info,
            direct_path: path.clone(),
        });
        (message, Some(path))
    };
    let devices = to_companions(&mut state.lock(), phone, &message)?;
    Ok(HistoryShared {
        mappings: pairs.len(),
        devices,
        direct_path: path,
    })
}
