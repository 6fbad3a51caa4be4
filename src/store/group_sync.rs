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
//! Off Linux this falls back to `fsync` of the given paths.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// One filesystem's flush schedule.
#[derive(Default)]
struct Group {
    state: Mutex<Schedule>,
    done: Condvar,
    /// A directory of the filesystem, kept open: `syncfs` needs any
    /// descriptor on it, and opening one per flush cost two system calls.
    handle: OnceLock<File>,
}

#[derive(Default)]
struct Schedule {
    /// Flushes started so far; the one running (if any) is number `started`.
    started: u64,
    /// The last flush that has finished.
    completed: u64,
    running: bool,
    /// The outcome of each recent flush (errors only), by number.
    failed: Vec<(u64, String)>,
}

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

/// Returns once everything written to `dir`'s filesystem before this call
/// (file data, renames, deletions) is on disk.
pub fn flush(dir: &Path) -> std::io::Result<()> {
    let group = group_for(dir)?;
    let mut s = group.state.lock().unwrap_or_else(|p| p.into_inner());
    // A flush already running may have begun before our write: we need
    // the next one.
    let needed = s.started + 1;
    let mut yielded = false;
    loop {
        if s.completed >= needed {
            return match s.failed.iter().find(|(n, _)| *n >= needed) {
                Some((_, e)) => Err(std::io::Error::other(e.clone())),
                None => Ok(()),
            };
        }
        if !s.running && !yielded {
            // Before leading, let writers about to flush reach this point
            // too: they then share this flush instead of waiting for the
            // next (fewer `syncfs` calls under load; nothing to wait for
            // when no other thread is runnable).
            yielded = true;
            drop(s);
            std::thread::yield_now();
            s = group.state.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        if !s.running {
            s.running = true;
            s.started += 1;
            let number = s.started;
            drop(s);
            let result = sync_filesystem(&group, dir);
            s = group.state.lock().unwrap_or_else(|p| p.into_inner());
            s.running = false;
            s.completed = number;
            s.failed.retain(|(n, _)| *n + 64 > number);
            if let Err(e) = result {
                s.failed.push((number, e.to_string()));
            }
            group.done.notify_all();
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
                    flush(&path)
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
}
