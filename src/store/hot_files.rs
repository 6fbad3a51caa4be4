//! A bounded cache of the small files every message reads and rewrites:
//! slotted state (Signal sessions, sender keys) and the LID mappings a
//! send or a receive checks before it writes them again.
//!
//! Without it a text sent and received read each peer's two slots from
//! disk several times (`wasp bench` under strace: ~36 `open` calls per
//! text, two thirds of them reads of state this process had just
//! written). Every file of the data root is written by this process
//! alone, through `SessionDir`, which keeps the cache in step: a write
//! drops the entry before it touches the disk and, for a file the cache
//! held, puts the new version back once it is written (and its flush
//! done, or deferred to the caller: `group_sync`); a failed write leaves
//! no entry, so the next read goes to the disk. An entry also
//! remembers which slot holds the newest version, so a write needs no
//! read of the slots' headers.
//!
//! A file enters on a read that finds it on disk: a record written once
//! and never read back (a session's first message, such as the phone's
//! key share at linking) stays out, and absent files are not
//! remembered, so idle sessions hold nothing in it. One cache is shared
//! by every session of a data root, bounded in bytes
//! ([`HOT_FILES_BUDGET`]); when full, the least recently used half goes.
//!
//! Owns: what is cached and when it is dropped. Must not touch: the files
//! (`dir`, `slots` read and write them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The bytes of file contents the cache holds at most: the hot peers of
/// several thousand active sessions. Part of the memory the capacity
/// keeps for the process itself (`host::capacity`'s base reserve).
pub const HOT_FILES_BUDGET: usize = 4 << 20;

/// What the cache knows of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    /// The newest version's contents.
    pub body: Vec<u8>,
    /// For a slotted file, the slot holding it and its sequence number;
    /// none for a file replaced whole (renamed into place).
    pub slot: Option<(usize, u64)>,
}

/// The cache (see the module doc).
#[derive(Debug)]
pub struct HotFiles {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<PathBuf, Entry>,
    /// Contents bytes held (plus a fixed cost per entry).
    bytes: usize,
    /// Moves with every change; a read that missed inserts what it read
    /// only if nothing changed meanwhile (else a write may have come
    /// between its disk read and its insert).
    version: u64,
    /// Use counter for the least-recently-used eviction.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    known: Known,
    used: u64,
}

/// Bookkeeping per entry besides its contents (path, map slot).
const ENTRY_COST: usize = 128;

fn cost(path: &Path, known: &Known) -> usize {
    ENTRY_COST + path.as_os_str().len() + known.body.len()
}

/// A read that missed: what to hand back to [`HotFiles::fill`].
#[derive(Clone, Copy, Debug)]
pub struct Miss {
    version: u64,
}

impl HotFiles {
    pub fn new(budget: usize) -> HotFiles {
        HotFiles {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What is known of `path`, or a [`Miss`] to fill after reading it.
    pub fn get(&self, path: &Path) -> Result<Known, Miss> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        match inner.entries.get_mut(path) {
            Some(entry) => {
                entry.used = now;
                Ok(entry.known.clone())
            }
            None => Err(Miss {
                version: inner.version,
            }),
        }
    }

    /// Keeps what a read that missed found on disk, unless the cache
    /// changed since the miss.
    pub fn fill(&self, miss: Miss, path: &Path, known: Known) {
        let mut inner = self.lock();
        if inner.version == miss.version {
            self.insert(&mut inner, path, known);
        }
    }

    /// Forgets `path`, called before it is written or removed; what was
    /// known of it (a write takes the newest slot from it).
    pub fn forget(&self, path: &Path) -> Option<Known> {
        let mut inner = self.lock();
        inner.version += 1;
        let old = inner.entries.remove(path)?;
        inner.bytes -= cost(path, &old.known);
        Some(old.known)
    }

    /// Forgets every file under `dir` (a session removed).
    pub fn forget_under(&self, dir: &Path) {
        let mut inner = self.lock();
        inner.version += 1;
        Self::retain(&mut inner, |path, _| !path.starts_with(dir));
    }

    /// Keeps the version of `path` just written (its flush done, or
    /// deferred to the writer's caller).
    pub fn put(&self, path: &Path, known: Known) {
        let mut inner = self.lock();
        inner.version += 1;
        self.insert(&mut inner, path, known);
    }

    fn insert(&self, inner: &mut Inner, path: &Path, known: Known) {
        let size = cost(path, &known);
        if size > self.budget / 8 {
            // A large file would push out many small hot ones.
            if let Some(old) = inner.entries.remove(path) {
                inner.bytes -= cost(path, &old.known);
            }
            return;
        }
        inner.clock += 1;
        let used = inner.clock;
        if let Some(old) = inner
            .entries
            .insert(path.to_path_buf(), Entry { known, used })
        {
            inner.bytes -= cost(path, &old.known);
        }
        inner.bytes += size;
        if inner.bytes > self.budget {
            Self::evict_older_half(inner);
        }
    }

    /// Drops the least recently used half of the entries: one pass, so a
    /// full cache costs O(1) per insert on average.
    fn evict_older_half(inner: &mut Inner) {
        let mut uses: Vec<u64> = inner.entries.values().map(|e| e.used).collect();
        let middle = uses.len() / 2;
        let (_, median, _) = uses.select_nth_unstable(middle);
        let median = *median;
        Self::retain(inner, |_, entry| entry.used >= median);
    }

    /// Keeps the entries `keep` accepts, accounting for the bytes freed.
    fn retain(inner: &mut Inner, keep: impl Fn(&Path, &Entry) -> bool) {
        let mut freed = 0;
        inner.entries.retain(|path, entry| {
            let kept = keep(path, entry);
            if !kept {
                freed += cost(path, &entry.known);
            }
            kept
        });
        inner.bytes -= freed;
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(body: &[u8]) -> Known {
        Known {
            body: body.to_vec(),
            slot: Some((0, 1)),
        }
    }

    /// The miss of `path`, not in `cache` yet.
    fn miss(cache: &HotFiles, path: &Path) -> Miss {
        let Err(miss) = cache.get(path) else {
            panic!("{} is cached already", path.display())
        };
        miss
    }

    #[test]
    fn a_fill_after_a_change_is_dropped() {
        let cache = HotFiles::new(1 << 20);
        let path = Path::new("/d/s/session-1.0.json");
        let miss = miss(&cache, path);
        // A write lands between the disk read and the fill.
        cache.forget(path);
        cache.put(path, known(b"new"));
        cache.fill(miss, path, known(b"old"));
        assert_eq!(cache.get(path).ok(), Some(known(b"new")));
    }

    #[test]
    fn a_fill_without_a_change_is_kept_and_forget_drops_it() {
        let cache = HotFiles::new(1 << 20);
        let path = Path::new("/d/s/session-2.0.json");
        let miss = miss(&cache, path);
        cache.fill(miss, path, known(b"on disk"));
        assert_eq!(cache.get(path).ok(), Some(known(b"on disk")));
        cache.forget(path);
        assert!(cache.get(path).is_err());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn forget_under_drops_one_session_only() {
        let cache = HotFiles::new(1 << 20);
        cache.put(Path::new("/d/a/x"), known(b"1"));
        cache.put(Path::new("/d/ab/x"), known(b"2"));
        cache.forget_under(Path::new("/d/a"));
        assert!(cache.get(Path::new("/d/a/x")).is_err());
        assert!(cache.get(Path::new("/d/ab/x")).is_ok());
    }

    #[test]
    fn the_budget_holds_and_recent_entries_stay() {
        let cache = HotFiles::new(64 * 1024);
        let hot = Path::new("/d/s/hot");
        for i in 0..2000 {
            cache.put(&PathBuf::from(format!("/d/s/f{i}")), known(&[0u8; 100]));
            if i % 10 == 0 {
                // Read often: never the least recently used half.
                if cache.get(hot).is_err() {
                    cache.put(hot, known(b"h"));
                }
            }
            assert!(cache.bytes() <= 64 * 1024);
        }
        assert!(cache.get(hot).is_ok());
        assert!(cache.get(Path::new("/d/s/f1999")).is_ok());
        assert!(cache.get(Path::new("/d/s/f0")).is_err());
    }
}
