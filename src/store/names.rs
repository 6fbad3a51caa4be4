//! Which session ids, file names and keys the stores accept. In the file
//! store they become paths, so they are restricted to a safe set; every
//! other backend accepts the same, so a session moves between backends
//! unchanged.

use super::error::StoreError;
use crate::types::DeviceAddress;

/// Temporary files are `<name>.tmp-<random hex>`; anything with this
/// marker in a session directory is a leftover of an interrupted write.
pub(super) const TMP_MARKER: &str = ".tmp-";

/// Session ids name directories, so they are restricted to a safe set.
pub fn valid_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn valid_file_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && !name.contains(TMP_MARKER)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// A group id as the stores key it: the group JID's user part, digits and
/// dashes only (`120363…`, or the older `<creator>-<time>`); anything else
/// could name another file.
pub(super) fn group_id(group: &str) -> Result<&str, StoreError> {
    let safe = (1..=40).contains(&group.len())
        && !group.starts_with('-')
        && group.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if !safe {
        return Err(StoreError::InvalidFileName(format!("group {group:?}")));
    }
    Ok(group)
}

/// A phone-number or LID user of a mapping, digits only; `kind` names the
/// mapping in the error.
pub(super) fn mapping_user<'a>(kind: &str, user: &'a str) -> Result<&'a str, StoreError> {
    let digits = !user.is_empty() && user.len() <= 20 && user.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return Err(StoreError::InvalidFileName(format!("{kind}-{user}")));
    }
    Ok(user)
}

/// A message id a media record can be kept by (WhatsApp's are hex or
/// alphanumeric).
pub(super) fn message_id(id: &str) -> Result<&str, StoreError> {
    let fine = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !fine {
        return Err(StoreError::InvalidFileName(format!("media-{id}")));
    }
    Ok(id)
}

/// The devices of a kept list of device JIDs; one that no longer parses
/// is skipped (it is handed our sender key again).
pub(super) fn devices(jids: &[String]) -> Vec<DeviceAddress> {
    jids.iter()
        .filter_map(|j| DeviceAddress::parse(j))
        .collect()
}
