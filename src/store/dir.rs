//! The data root and its per-session directories.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::error::StoreError;
use super::group_sync::{self, GroupOf};
use super::hot_files::{HotFiles, Known, HOT_FILES_BUDGET};
use super::modes::{private_dir, private_file};
use super::names::{valid_file_name, valid_session_id, TMP_MARKER};

/// The root under which every session has its own directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    /// The hot files of every session under the root (`hot_files`).
    hot: Arc<HotFiles>,
}

/// One session's directory. Cheap to clone (a path); the directory itself
/// may not exist until [`SessionDir::create`].
#[derive(Clone, Debug)]
pub struct SessionDir {
    path: PathBuf,
    /// The data root's cache; none for a directory opened on its own.
    hot: Option<Arc<HotFiles>>,
    /// The flush group of the directory's filesystem, once known.
    group: GroupOf,
}

impl DataDir {
    /// Opens (creating if needed) the data root. Directories and files
    /// under it that others may read (left by an earlier version, or a
    /// copy) are made private again, with a warning naming them.
    pub fn open(root: impl Into<PathBuf>) -> Result<DataDir, StoreError> {
        let root = root.into();
        private_dir()
            .create(&root)
            .map_err(|e| StoreError::io(&root, e))?;
        #[cfg(unix)]
        super::modes::repair(&root)?;
        Ok(DataDir {
            root,
            hot: Arc::new(HotFiles::new(HOT_FILES_BUDGET)),
        })
    }

    /// The root path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The directory of session `id` (not created yet; see
    /// [`SessionDir::create`]).
    pub fn session(&self, id: &str) -> Result<SessionDir, StoreError> {
        if !valid_session_id(id) {
            return Err(StoreError::InvalidSessionId(id.to_string()));
        }
        Ok(SessionDir {
            path: self.root.join(id),
            hot: Some(self.hot.clone()),
            group: GroupOf::default(),
        })
    }

    /// Ids of every session directory under the root, sorted. Entries that
    /// are not directories or not valid ids are ignored.
    pub fn list_sessions(&self) -> Result<Vec<String>, StoreError> {
        let entries = fs::read_dir(&self.root).map_err(|e| StoreError::io(&self.root, e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&self.root, e))?;
            let is_dir = entry
                .file_type()
                .map_err(|e| StoreError::io(entry.path(), e))?
                .is_dir();
            if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
                if valid_session_id(name) {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Deletes session `id` and everything in it. Removing a session that
    /// does not exist is not an error.
    pub fn remove_session(&self, id: &str) -> Result<(), StoreError> {
        let dir = self.session(id)?;
        self.hot.forget_under(&dir.path);
        match fs::remove_dir_all(&dir.path) {
            Ok(()) => sync_dir(&self.root),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&dir.path, e)),
        }
    }
}

impl SessionDir {
    /// A session directory at an explicit path (tests, tools).
    pub fn at(path: impl Into<PathBuf>) -> SessionDir {
        SessionDir {
            path: path.into(),
            hot: None,
            group: GroupOf::default(),
        }
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the directory exists.
    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    /// Creates the directory if needed and deletes temporary files left by
    /// writes that a crash interrupted (they never replaced a real file).
    pub fn create(&self) -> Result<(), StoreError> {
        private_dir()
            .create(&self.path)
            .map_err(|e| StoreError::io(&self.path, e))?;
        let entries = fs::read_dir(&self.path).map_err(|e| StoreError::io(&self.path, e))?;
        for entry in entries.flatten() {
            let stale = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.contains(TMP_MARKER));
            if stale {
                tracing::debug!(path = %entry.path().display(), "removing stale temporary file");
                // Best effort: a leftover that cannot be removed is ignored by reads anyway.
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// The contents of file `name`, or `None` if it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.file_path(name)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// Like [`SessionDir::read`], from the data root's cache when hot: for
    /// small files read far more often than written (LID mappings). Only
    /// files that exist are remembered.
    pub fn read_hot(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_through(name, || {
            Ok(self.read(name)?.map(|body| Known { body, slot: None }))
        })
    }

    /// `name`'s contents from the data root's cache, or else as `load`
    /// finds them on disk, then kept in the cache. Absent files are not
    /// remembered: an idle session's lookups at login would fill the
    /// cache for nothing.
    fn read_through(
        &self,
        name: &str,
        load: impl FnOnce() -> Result<Option<Known>, StoreError>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.file_path(name)?;
        let Some(hot) = &self.hot else {
            return Ok(load()?.map(|known| known.body));
        };
        match hot.get(&path) {
            Ok(known) => Ok(Some(known.body)),
            Err(miss) => {
                let Some(known) = load()? else {
                    return Ok(None);
                };
                hot.fill(miss, &path, known.clone());
                Ok(Some(known.body))
            }
        }
    }

    /// After a write: the new contents of the files the cache held before
    /// (`was_cached`) go back into it. Only files read back while they
    /// existed stay: a record written once (a session's first message,
    /// such as the phone's key share at linking) is not hot.
    fn keep_written(&self, path: &Path, was_cached: bool, body: &[u8], slot: Option<(usize, u64)>) {
        if let (true, Some(hot)) = (was_cached, &self.hot) {
            let known = Known {
                body: body.to_vec(),
                slot,
            };
            hot.put(path, known);
        }
    }

    /// Forgets cached knowledge of `path` before it changes on disk;
    /// what was known of it.
    fn forget(&self, path: &Path) -> Option<Known> {
        self.hot.as_ref().and_then(|hot| hot.forget(path))
    }

    /// Replaces file `name` with `bytes` so that after a crash (process,
    /// kernel or power) the file holds either the old or the new contents,
    /// never a mix: write a temporary file in the same directory, flush it,
    /// rename it over `name`, flush again. Flushes are group commits shared
    /// with every concurrent writer (see `group_sync`).
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_all_atomic(&[(name, bytes)])
    }

    /// Replaces several files at once, each atomically as by
    /// [`SessionDir::write_atomic`], for the price of two flushes. After a
    /// crash each file is old or new on its own (not all-or-nothing).
    pub fn write_all_atomic(&self, files: &[(&str, &[u8])]) -> Result<(), StoreError> {
        self.write_all_renamed(files, true)
    }

    /// Replaces several files for the price of one flush: each is written
    /// to a temporary file and renamed over its name, then one flush
    /// makes all of it durable before this returns. A crash before that
    /// flush may leave a file old, new, missing or damaged (its data not
    /// on disk yet), so this is only for files whose readers take a
    /// damaged file as missing and can learn it again (LID mappings).
    pub fn write_all_damage_tolerant(&self, files: &[(&str, &[u8])]) -> Result<(), StoreError> {
        self.write_all_renamed(files, false)
    }

    fn write_all_renamed(
        &self,
        files: &[(&str, &[u8])],
        flush_before_rename: bool,
    ) -> Result<(), StoreError> {
        let mut staged = Vec::with_capacity(files.len());
        let result = (|| {
            for (name, bytes) in files {
                let path = self.file_path(name)?;
                let tmp = self
                    .path
                    .join(format!("{name}{TMP_MARKER}{:016x}", rand::random::<u64>()));
                let was_cached = self.forget(&path).is_some();
                staged.push((tmp.clone(), path, was_cached));
                write_file(&tmp, bytes)?;
            }
            if flush_before_rename {
                self.flush()?;
            }
            for (tmp, path, _) in &staged {
                fs::rename(tmp, path).map_err(|e| StoreError::io(path, e))?;
            }
            self.flush_or_defer()
        })();
        if result.is_ok() {
            for ((_, path, was_cached), (_, bytes)) in staged.iter().zip(files) {
                self.keep_written(path, *was_cached, bytes, None);
            }
        }
        if result.is_err() {
            for (tmp, _, _) in &staged {
                let _ = fs::remove_file(tmp);
            }
        }
        result
    }

    /// The newest version of slotted file `name` (see `store::slots`), or
    /// `None` if it has none; from the data root's cache when hot.
    pub fn read_slotted(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_through(name, || {
            Ok(
                super::slots::newest(&self.path, name)?.map(|(slot, seq, body)| Known {
                    slot: Some((slot, seq)),
                    body,
                }),
            )
        })
    }

    /// The newest version of slotted file `name`, read from disk and not
    /// kept in the cache (large files read rarely).
    pub fn read_slotted_uncached(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.file_path(name)?;
        super::slots::read(&self.path, name)
    }

    /// Writes new versions of several slotted files, each in place in its
    /// older slot, then one flush: after a crash each file reads as its
    /// old or its new version. The cache learns the new versions of files
    /// it held once they are written (a deferred flush, see
    /// [`super::deferring_flushes`], may complete after).
    pub fn write_slotted(&self, files: &[(&str, &[u8])]) -> Result<(), StoreError> {
        let mut written = Vec::with_capacity(files.len());
        for (name, bytes) in files {
            let path = self.file_path(name)?;
            if group_sync::rewritten_again(&path) {
                self.flush()?;
            }
            let cached = self.forget(&path);
            let was_cached = cached.is_some();
            let newest = match cached.and_then(|known| known.slot) {
                Some(slot) => Some(slot),
                None => super::slots::newest(&self.path, name)?.map(|(slot, seq, _)| (slot, seq)),
            };
            let slot = super::slots::write_after(&self.path, name, bytes, newest)?;
            written.push((path, slot, was_cached));
        }
        self.flush_or_defer()?;
        for ((path, slot, was_cached), (_, bytes)) in written.into_iter().zip(files) {
            self.keep_written(&path, was_cached, bytes, Some(slot));
        }
        Ok(())
    }

    /// Waits for a group flush of the directory's filesystem.
    fn flush(&self) -> Result<(), StoreError> {
        group_sync::flush(&self.path, &self.group).map_err(|e| StoreError::io(&self.path, e))
    }

    /// A write's last flush: waited for here, or noted for the caller
    /// inside [`super::deferring_flushes`].
    fn flush_or_defer(&self) -> Result<(), StoreError> {
        group_sync::flush_or_defer(&self.path, &self.group)
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// Deletes slotted file `name`; a missing one is not an error.
    pub fn remove_slotted(&self, name: &str) -> Result<(), StoreError> {
        let path = self.file_path(name)?;
        let _ = self.forget(&path);
        super::slots::remove(&self.path, name)
    }

    /// Deletes file `name`; a missing file is not an error.
    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        let path = self.file_path(name)?;
        let _ = self.forget(&path);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// Deletes file `name` (if there is one) once everything written to
    /// the directory before is on disk: after a crash it is either still
    /// there or its successor is durable.
    pub fn remove_after_flush(&self, name: &str) -> Result<(), StoreError> {
        let path = self.file_path(name)?;
        if !path.exists() {
            return Ok(());
        }
        self.flush()?;
        self.remove(name)
    }

    /// Deletes the files whose names start with `prefix` and that were
    /// last written more than `age` ago; how many went.
    pub fn remove_older_than(&self, prefix: &str, age: Duration) -> Result<usize, StoreError> {
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(&self.path, e)),
        };
        let cutoff = SystemTime::now().checked_sub(age);
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&self.path, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(prefix) || !valid_file_name(name) {
                continue;
            }
            let written = entry.metadata().and_then(|m| m.modified());
            let old = match (written, cutoff) {
                (Ok(written), Some(cutoff)) => written <= cutoff,
                (Ok(_), None) => false,
                (Err(_), _) => false,
            };
            if old {
                let _ = self.forget(&entry.path());
                match fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io(entry.path(), e)),
                }
            }
        }
        if removed > 0 {
            sync_dir(&self.path)?;
        }
        Ok(removed)
    }

    fn file_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        if !valid_file_name(name) {
            return Err(StoreError::InvalidFileName(name.to_string()));
        }
        Ok(self.path.join(name))
    }
}

/// Writes a new file; its data reaches the disk with the next flush (on
/// Linux) or right here (elsewhere, where no filesystem-wide flush exists).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = private_file()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    file.write_all(bytes).map_err(|e| StoreError::io(path, e))?;
    if cfg!(not(target_os = "linux")) {
        file.sync_all().map_err(|e| StoreError::io(path, e))?;
    }
    Ok(())
}

/// Makes a rename or delete in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> (tempfile::TempDir, DataDir) {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path().join("data")).unwrap();
        (tmp, data)
    }

    /// Session `s` of a fresh data root, created.
    fn created_session() -> (tempfile::TempDir, DataDir, SessionDir) {
        let (tmp, data) = data_dir();
        let s = data.session("s").unwrap();
        s.create().unwrap();
        (tmp, data, s)
    }

    #[test]
    fn cached_slotted_writes_alternate_slots_as_on_disk() {
        let (_tmp, data, s) = created_session();
        // Once read back, the file is hot: later writes rely on the cache
        // alone to pick the older slot.
        assert_eq!(s.read_slotted("peer").unwrap(), None);
        for version in [&b"one"[..], b"two", b"three"] {
            s.write_slotted(&[("peer", version)]).unwrap();
            assert_eq!(s.read_slotted("peer").unwrap().as_deref(), Some(version));
        }
        // A process starting afresh (no cache) reads the same newest
        // version, and a torn newest slot still falls back to the one
        // before: versions 1 and 3 share slot a.
        let fresh = DataDir::open(data.path()).unwrap().session("s").unwrap();
        assert_eq!(
            fresh.read_slotted("peer").unwrap().as_deref(),
            Some(&b"three"[..])
        );
        let a = s.path().join("peer.a");
        let mut bytes = fs::read(&a).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&a, &bytes).unwrap();
        let fresh = DataDir::open(data.path()).unwrap().session("s").unwrap();
        assert_eq!(
            fresh.read_slotted("peer").unwrap().as_deref(),
            Some(&b"two"[..])
        );
    }

    #[test]
    fn the_cache_forgets_removed_files_and_sessions() {
        let (_tmp, data, s) = created_session();
        s.write_slotted(&[("peer", b"v1")]).unwrap();
        assert!(s.read_slotted("peer").unwrap().is_some());
        s.remove_slotted("peer").unwrap();
        assert_eq!(s.read_slotted("peer").unwrap(), None);
        s.write_slotted(&[("peer", b"v2")]).unwrap();
        assert!(s.read_slotted("peer").unwrap().is_some());
        data.remove_session("s").unwrap();
        let again = data.session("s").unwrap();
        again.create().unwrap();
        assert_eq!(again.read_slotted("peer").unwrap(), None);
    }

    #[test]
    fn a_hot_whole_file_reads_its_latest_write_and_its_removal() {
        let (_tmp, _data, s) = created_session();
        assert_eq!(s.read_hot("map").unwrap(), None);
        s.write_all_damage_tolerant(&[("map", b"1")]).unwrap();
        // Read back once: hot from here on.
        assert_eq!(s.read_hot("map").unwrap().as_deref(), Some(&b"1"[..]));
        s.write_atomic("map", b"2").unwrap();
        assert_eq!(s.read_hot("map").unwrap().as_deref(), Some(&b"2"[..]));
        s.write_all_damage_tolerant(&[("map", b"3")]).unwrap();
        assert_eq!(s.read_hot("map").unwrap().as_deref(), Some(&b"3"[..]));
        // The cache answers from memory: a file changed behind the
        // store's back is not seen (nothing but `SessionDir` writes here).
        fs::write(s.path().join("map"), b"behind").unwrap();
        assert_eq!(s.read_hot("map").unwrap().as_deref(), Some(&b"3"[..]));
        s.remove("map").unwrap();
        assert_eq!(s.read_hot("map").unwrap(), None);
    }

    #[test]
    fn a_failed_slotted_write_leaves_nothing_stale_in_the_cache() {
        let (_tmp, data, s) = created_session();
        s.write_slotted(&[("peer", b"v1")]).unwrap();
        assert!(s.read_slotted("peer").unwrap().is_some());
        // The second file of the write cannot be written (a directory is
        // in its slot's way): the write fails after the first file
        // changed on disk, and reads must see the disk, not the cache.
        fs::create_dir(s.path().join("other.a")).unwrap();
        let failed = s.write_slotted(&[("peer", b"v2"), ("other", b"x")]);
        assert!(failed.is_err());
        let fresh = DataDir::open(data.path()).unwrap().session("s").unwrap();
        assert_eq!(
            s.read_slotted("peer").unwrap(),
            fresh.read_slotted("peer").unwrap()
        );
    }

    #[test]
    fn damage_tolerant_writes_replace_files_and_leave_no_temporary() {
        let (_tmp, _data, s) = created_session();
        s.write_all_damage_tolerant(&[("lid-of-1", b"2"), ("pn-of-2", b"1")])
            .unwrap();
        s.write_all_damage_tolerant(&[("lid-of-1", b"3")]).unwrap();
        assert_eq!(s.read("lid-of-1").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(s.read("pn-of-2").unwrap().as_deref(), Some(&b"1"[..]));
        let names: Vec<String> = fs::read_dir(s.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(TMP_MARKER)), "{names:?}");
    }

    #[test]
    fn open_creates_the_root() {
        let (_tmp, data) = data_dir();
        assert!(data.path().is_dir());
    }

    #[test]
    fn session_ids_are_validated() {
        let (_tmp, data) = data_dir();
        assert!(data.session("user_42-a").is_ok());
        assert!(data.session(&"a".repeat(64)).is_ok());
        for bad in ["", "../x", "a/b", "a.b", "é", &"a".repeat(65)] {
            assert!(
                matches!(data.session(bad), Err(StoreError::InvalidSessionId(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn write_then_read_back_and_overwrite() {
        let (_tmp, data) = data_dir();
        let s = data.session("s1").unwrap();
        s.create().unwrap();
        assert_eq!(s.read("creds.json").unwrap(), None);
        s.write_atomic("creds.json", b"one").unwrap();
        assert_eq!(s.read("creds.json").unwrap().as_deref(), Some(&b"one"[..]));
        s.write_atomic("creds.json", b"two").unwrap();
        assert_eq!(s.read("creds.json").unwrap().as_deref(), Some(&b"two"[..]));
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(s.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn file_names_cannot_escape_the_session_dir() {
        let (_tmp, data) = data_dir();
        let s = data.session("s1").unwrap();
        s.create().unwrap();
        for bad in ["../x", "a/b", ".hidden", "", "x.tmp-1"] {
            assert!(matches!(
                s.write_atomic(bad, b"x"),
                Err(StoreError::InvalidFileName(_))
            ));
        }
    }

    #[test]
    fn stale_temporary_files_are_cleaned_on_create() {
        let (_tmp, data) = data_dir();
        let s = data.session("s1").unwrap();
        s.create().unwrap();
        s.write_atomic("creds.json", b"good").unwrap();
        fs::write(s.path().join("creds.json.tmp-00ff"), b"half").unwrap();
        s.create().unwrap();
        assert!(!s.path().join("creds.json.tmp-00ff").exists());
        assert_eq!(s.read("creds.json").unwrap().as_deref(), Some(&b"good"[..]));
    }

    #[test]
    fn list_and_remove_sessions() {
        let (_tmp, data) = data_dir();
        for id in ["b", "a"] {
            data.session(id).unwrap().create().unwrap();
        }
        fs::write(data.path().join("stray-file"), b"").unwrap();
        assert_eq!(data.list_sessions().unwrap(), vec!["a", "b"]);
        data.remove_session("a").unwrap();
        data.remove_session("a").unwrap();
        assert_eq!(data.list_sessions().unwrap(), vec!["b"]);
    }

    #[test]
    fn remove_file_is_idempotent() {
        let (_tmp, data) = data_dir();
        let s = data.session("s1").unwrap();
        s.create().unwrap();
        s.write_atomic("f", b"x").unwrap();
        s.remove("f").unwrap();
        s.remove("f").unwrap();
        assert_eq!(s.read("f").unwrap(), None);
        assert!(s.exists());
    }

    #[test]
    fn writing_into_a_missing_dir_is_an_error_with_the_path() {
        let (_tmp, data) = data_dir();
        let s = data.session("never-created").unwrap();
        let err = s.write_atomic("f", b"x").unwrap_err();
        assert!(err.to_string().contains("never-created"), "{err}");
    }
}
