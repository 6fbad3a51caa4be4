//! Group commit for durable writes: many writers, one `syncfs`.
//!
//! A durable atomic write needs its data on disk before the rename and the
//! rename on disk before it returns. Doing that with `fsync` per file and
//! per directory costs two journal commits per write (about 900 writes/s
//! on the 2-core benchmark machine, which capped text messages at ~180/s).
//! Here every writer that needs a flush waits for a `syncfs(2)` of the
//! filesystem that *started after* it asked; one such call covers every
//! writer waiting at that moment, so the cost is shared (leader/follower:
//! whoever finds no flush running performs the next one).
//!
//! A writer on an async task need not block a thread for that wait: inside
//! [`deferring`], a write's last flush is only noted, and the caller gets
//! a [`PendingFlush`] to await before it acts on what it wrote. A flusher
//! thread per filesystem then leads the flushes such waiters need.
//!
//! Off Linux this falls back to `fsync` of the given paths.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// One filesystem's flush schedule.
struct Group {
    state: Mutex<Schedule>,
    done: Condvar,
    /// Wakes the flusher thread when a deferred writer needs a flush.
    wanted: Condvar,
    /// The last completed flush, for async waiters.
    completed: tokio::sync::watch::Sender<u64>,
    /// A directory of the filesystem, kept open: `syncfs` needs any
    /// descriptor on it, and opening one per flush cost two system calls.
    handle: OnceLock<File>,
}

impl Default for Group {
    fn default() -> Group {
        Group {
            state: Mutex::default(),
            done: Condvar::new(),
            wanted: Condvar::new(),
            completed: tokio::sync::watch::channel(0).0,
            handle: OnceLock::new(),
        }
    }
}

#[derive(Default)]
struct Schedule {
    /// Flushes started so far; the one running (if any) is number `started`.
    started: u64,
    /// The last flush that has finished.
    completed: u64,
    running: bool,
    /// The flush deferred writers wait for (the flusher thread's target).
    requested: u64,
    /// Whether the flusher thread runs.
    flusher: bool,
    /// The outcome of each recent flush (errors only), by number.
    failed: Vec<(u64, String)>,
}

impl Schedule {
    /// The outcome of flush `needed` once it has completed: an error if
    /// it or any later completed flush failed.
    fn outcome(&self, needed: u64) -> std::io::Result<()> {
        match self.failed.iter().find(|(n, _)| *n >= needed) {
            Some((_, e)) => Err(std::io::Error::other(e.clone())),
            None => Ok(()),
        }
    }
}

/// How many flushes' errors are kept for waiters that look late.
const FAILURES_KEPT: u64 = 1024;

/// Groups by filesystem (device number).
fn group_for(path: &Path) -> std::io::Result<Arc<Group>> {
    static GROUPS: OnceLock<Mutex<HashMap<u64, Arc<Group>>>> = OnceLock::new();
    let dev = device_of(path)?;
    let groups = GROUPS.get_or_init(Default::default);
    let mut groups = groups.lock().unwrap_or_else(|p| p.into_inner());
    Ok(groups.entry(dev).or_default().clone())
}

#[cfg(unix)]
fn device_of(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.dev())
}

#[cfg(not(unix))]
fn device_of(_path: &Path) -> std::io::Result<u64> {
    Ok(0)
}

fn lock(group: &Group) -> MutexGuard<'_, Schedule> {
    group.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A directory's flush group, looked up at its first flush and then
/// kept by the directory's holder: the lookup is a `statx` of the
/// directory, which done for every flush was 1.4% of serve's CPU per
/// text in `wasp bench`.
#[derive(Clone, Default)]
pub struct GroupOf(OnceLock<Arc<Group>>);

impl GroupOf {
    fn get(&self, dir: &Path) -> std::io::Result<Arc<Group>> {
        if let Some(group) = self.0.get() {
            return Ok(group.clone());
        }
        let group = group_for(dir)?;
        Ok(self.0.get_or_init(|| group).clone())
    }
}

impl std::fmt::Debug for GroupOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "GroupOf(known)"
        } else {
            "GroupOf(unknown)"
        })
    }
}

/// Returns once everything written to `dir`'s filesystem before this call
/// (file data, renames, deletions) is on disk. `group` is `dir`'s.
pub fn flush(dir: &Path, group: &GroupOf) -> std::io::Result<()> {
    #[cfg(test)]
    WAITED.with(|w| w.set(w.get() + 1));
    let (group, needed) = next_flush(dir, group)?;
    wait_for(&group, dir, needed)
}

/// `dir`'s group and the number of the flush that covers what was
/// written there so far: a flush already running may have begun before
/// that write, so the next one.
fn next_flush(dir: &Path, group: &GroupOf) -> std::io::Result<(Arc<Group>, u64)> {
    let group = group.get(dir)?;
    let needed = lock(&group).started + 1;
    Ok((group, needed))
}

/// Like [`flush`], except inside [`deferring`] on this thread: then the
/// flush is noted for the caller of `deferring` to await, and this
/// returns at once. For a write's last flush only (one that nothing
/// written after it depends on).
pub fn flush_or_defer(dir: &Path, group: &GroupOf) -> std::io::Result<()> {
    // Elsewhere a flush syncs only the directory it is given, so a
    // flusher thread could not stand in for every writer's own.
    let deferring = DEFERRAL.with(|d| d.borrow().is_some());
    if !deferring || cfg!(not(target_os = "linux")) {
        return flush(dir, group);
    }
    let (group, needed) = next_flush(dir, group)?;
    DEFERRAL.with(|d| {
        if let Some(deferral) = d.borrow_mut().as_mut() {
            let pending = &mut deferral.pending;
            match pending.iter_mut().find(|p| Arc::ptr_eq(&p.group, &group)) {
                Some(p) => p.needed = p.needed.max(needed),
                None => pending.push(PendingFlush {
                    group,
                    dir: dir.to_path_buf(),
                    needed,
                }),
            }
        }
    });
    Ok(())
}

/// What a [`deferring`] call on this thread has noted so far.
#[derive(Default)]
struct Deferral {
    /// The flushes its writes need, one per filesystem.
    pending: Vec<PendingFlush>,
    /// The files it rewrote in place.
    rewritten: Vec<PathBuf>,
}

thread_local! {
    /// The [`deferring`] call running on this thread, if any.
    static DEFERRAL: RefCell<Option<Deferral>> = const { RefCell::new(None) };
    /// Flushes waited for on this thread (for the tests).
    #[cfg(test)]
    static WAITED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Notes that `path` is about to be rewritten in place; true when it was
/// already, inside the same [`deferring`] on this thread. Its caller then
/// flushes first: a two-slot file overwrites its older slot, and a second
/// write before the first is on disk would overwrite the only durable one.
pub fn rewritten_again(path: &Path) -> bool {
    DEFERRAL.with(|d| {
        let mut d = d.borrow_mut();
        let Some(deferral) = d.as_mut() else {
            return false;
        };
        if deferral.rewritten.iter().any(|p| p == path) {
            return true;
        }
        deferral.rewritten.push(path.to_path_buf());
        false
    })
}

/// Runs `work` with its writes' last flushes deferred: their data is in
/// the page cache when it returns, and on disk once every returned
/// [`PendingFlush`] has completed. Nothing that depends on those writes
/// being durable may happen before.
pub fn deferring<T>(work: impl FnOnce() -> T) -> (T, Vec<PendingFlush>) {
    /// Leaves deferral mode even if `work` unwinds.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DEFERRAL.with(|d| d.borrow_mut().take());
        }
    }
    DEFERRAL.with(|d| *d.borrow_mut() = Some(Deferral::default()));
    let reset = Reset;
    let out = work();
    let deferral = DEFERRAL.with(|d| d.borrow_mut().take()).unwrap_or_default();
    drop(reset);
    (out, deferral.pending)
}

/// A flush that deferred writes need before they count as durable.
pub struct PendingFlush {
    group: Arc<Group>,
    dir: PathBuf,
    needed: u64,
}

impl PendingFlush {
    /// Completes once the flush has (the flusher thread leads it, so no
    /// thread of the caller's blocks meanwhile); an error if it failed.
    pub async fn wait(self) -> std::io::Result<()> {
        let mut completed = self.group.completed.subscribe();
        {
            let mut s = lock(&self.group);
            if s.completed >= self.needed {
                return s.outcome(self.needed);
            }
            s.requested = s.requested.max(self.needed);
            if !s.flusher {
                start_flusher(self.group.clone(), self.dir.clone())?;
                s.flusher = true;
            }
            self.group.wanted.notify_one();
        }
        // The sender lives in the group, which this waiter holds.
        let _ = completed.wait_for(|c| *c >= self.needed).await;
        lock(&self.group).outcome(self.needed)
    }
}

/// The thread that leads the flushes deferred writers wait for (one per
/// filesystem, for the life of the process). `dir` is any directory on
/// it: `syncfs` flushes the whole filesystem.
fn start_flusher(group: Arc<Group>, dir: PathBuf) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("wasp-flusher".into())
        .spawn(move || loop {
            let target = {
                let mut s = lock(&group);
                while s.requested <= s.completed {
                    s = group.wanted.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                s.requested
            };
            // Its outcome reaches each waiter through the schedule.
            let _ = wait_for(&group, &dir, target);
        })
        .map(drop)
}

/// Waits until flush number `needed` has completed, leading flushes when
/// none is running.
fn wait_for(group: &Group, dir: &Path, needed: u64) -> std::io::Result<()> {
    let mut s = lock(group);
    let mut yielded = false;
    loop {
        if s.completed >= needed {
            return s.outcome(needed);
        }
        if !s.running && !yielded {
            // Before leading, let writers about to flush reach this point
            // too: they then share this flush instead of waiting for the
            // next (fewer `syncfs` calls under load; nothing to wait for
            // when no other thread is runnable).
            yielded = true;
            drop(s);
            std::thread::yield_now();
            s = lock(group);
            continue;
        }
        if !s.running {
            s.running = true;
            s.started += 1;
            let number = s.started;
            drop(s);
            let result = sync_filesystem(group, dir);
            s = lock(group);
            s.running = false;
            s.completed = number;
            s.failed.retain(|(n, _)| *n + FAILURES_KEPT > number);
            if let Err(e) = result {
                s.failed.push((number, e.to_string()));
            }
            group.done.notify_all();
            group.completed.send_replace(number);
            continue;
        }
        s = group.done.wait(s).unwrap_or_else(|p| p.into_inner());
    }
}

#[cfg(target_os = "linux")]
fn sync_filesystem(group: &Group, dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let handle = match group.handle.get() {
        Some(handle) => handle,
        None => {
            let opened = File::open(dir)?;
            group.handle.get_or_init(|| opened)
        }
    };
    // SAFETY: `syncfs` only reads the descriptor, which the group keeps
    // open for the life of the process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::syncfs(handle.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_group: &Group, dir: &Path) -> std::io::Result<()> {
    // Without syncfs: make at least the directory entry durable; file data
    // is fsynced by the caller on these platforms (see `dir.rs`).
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_flushes_all_return_after_a_flush_completes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().to_path_buf();
        // The group is per filesystem and process-wide: other tests flush
        // through it at the same time, so only this test's share is counted.
        let before = group_for(&path).unwrap().state.lock().unwrap().completed;
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    std::fs::write(path.join(format!("f{i}")), b"x").unwrap();
                    flush(&path, &GroupOf::default())
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let group = group_for(&path).unwrap();
        let s = group.state.lock().unwrap();
        // Not `!s.running`: another test's flush may be under way right now.
        assert!(s.completed > before, "no flush completed");
    }

    /// Flushes this thread has waited for (each test runs on a thread of
    /// its own).
    fn waited_here() -> u64 {
        WAITED.with(|w| w.get())
    }

    fn completed(path: &Path) -> u64 {
        group_for(path).unwrap().state.lock().unwrap().completed
    }

    #[tokio::test]
    async fn a_deferred_flush_is_awaited_not_waited_for() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().to_path_buf();
        let base = waited_here();
        let ((), pending) = deferring(|| {
            std::fs::write(path.join("f"), b"x").unwrap();
            flush_or_defer(&path, &GroupOf::default()).unwrap();
        });
        assert_eq!(pending.len(), 1, "the flush was not noted");
        assert_eq!(waited_here(), base, "the deferred flush was waited for");
        let needed = pending[0].needed;
        for flush in pending {
            flush.wait().await.unwrap();
        }
        assert!(completed(&path) >= needed);
        // The mode ends with the call.
        assert!(DEFERRAL.with(|d| d.borrow().is_none()));
    }

    #[tokio::test]
    async fn the_flusher_thread_leads_when_nobody_else_flushes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().to_path_buf();
        let ((), pending) = deferring(|| flush_or_defer(&path, &GroupOf::default()).unwrap());
        let needed = pending[0].needed;
        // Not waited for by this thread: a flush numbered `needed` runs
        // only because the waiter asked the flusher thread for it.
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            pending.into_iter().next().unwrap().wait(),
        )
        .await;
        assert!(matches!(waited, Ok(Ok(()))), "{waited:?}");
        assert!(completed(&path) >= needed);
    }

    #[test]
    fn a_file_rewritten_twice_while_deferred_is_flushed_in_between() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::store::SessionDir::at(tmp.path().join("s"));
        dir.create().unwrap();
        dir.write_slotted(&[("peer", b"v0")]).unwrap();
        let base = waited_here();
        let ((), _pending) = deferring(|| {
            dir.write_slotted(&[("peer", b"v1")]).unwrap();
            dir.write_slotted(&[("other", b"v1")]).unwrap();
            assert_eq!(waited_here(), base, "a first write waited for its flush");
            // v2 overwrites the slot holding v0, the last durable version:
            // v1 must be on disk first.
            dir.write_slotted(&[("peer", b"v2")]).unwrap();
            assert_eq!(waited_here(), base + 1, "no flush before the rewrite");
        });
        assert_eq!(dir.read_slotted("peer").unwrap().unwrap(), b"v2");
    }
}
