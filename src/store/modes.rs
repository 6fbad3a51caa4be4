//! Who may read the data root: this user only. Directories are created
//! 0700 and files 0600 whatever the umask (keys, Signal sessions and the
//! host's database with webhook secrets live there), and a data root left
//! with wider modes is repaired when it is opened.
//! Must not touch: file contents.

use std::fs::{DirBuilder, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::StoreError;

/// Mode of every directory under the data root: keys live there.
const DIR_MODE: u32 = 0o700;
/// Mode of every file under the data root, whatever the umask.
const FILE_MODE: u32 = 0o600;

/// Options that create a file readable by this user only.
pub(super) fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// A builder of directories (and missing parents) for this user only.
pub(super) fn private_dir() -> DirBuilder {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder
}

/// Creates `path` empty with this user's access only, unless it exists:
/// for files others open themselves (SQLite's database, whose `-wal` and
/// `-shm` files take the database file's mode).
pub fn create_private_file(path: &Path) -> Result<(), StoreError> {
    match private_file().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Makes every directory (0700) and file (0600) under `root`, and `root`
/// itself, private again; warns naming what it changed. Symbolic links
/// are left alone.
#[cfg(unix)]
pub(super) fn repair(root: &Path) -> Result<(), StoreError> {
    let mut repaired = Vec::new();
    repair_tree(root, &mut repaired)?;
    if !repaired.is_empty() {
        let shown: Vec<String> = repaired
            .iter()
            .take(20)
            .map(|p| p.display().to_string())
            .collect();
        tracing::warn!(
            count = repaired.len(),
            paths = %shown.join(", "),
            "data directory was readable by others; made private (0700 directories, 0600 files)"
        );
    }
    Ok(())
}

#[cfg(unix)]
fn repair_tree(path: &Path, repaired: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    // A file may go while the tree is walked (SQLite removes its -wal and
    // -shm when the last connection closes): gone is nothing to repair.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let want = if meta.is_dir() {
        DIR_MODE
    } else if meta.is_file() {
        FILE_MODE
    } else {
        return Ok(());
    };
    if meta.permissions().mode() & 0o777 != want {
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(want)) {
            Ok(()) => repaired.push(path.to_path_buf()),
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(StoreError::io(path, e)),
        }
    }
    if meta.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(path, e))?;
            repair_tree(&entry.path(), repaired)?;
        }
    }
    Ok(())
}
