//! Which session ids and file names the file store accepts: both become
//! paths, so they are restricted to a safe set.

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
