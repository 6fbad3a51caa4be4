//! One lock per session id for the operations that change a session's
//! life (create, delete, logout, restart, restore), so two of them never
//! interleave on one session: a logout cannot write credentials into a
//! directory a delete is removing, nor race a restart's new task.
//! Operations on different sessions never wait for each other.
//! Must not touch: what the operations do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct SessionLocks {
    /// Weak: an entry lives only while someone holds or awaits its lock.
    locks: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

/// Held while one lifecycle operation runs on a session.
pub struct SessionGuard<'a> {
    locks: &'a SessionLocks,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SessionLocks {
    /// Waits for session `id`'s lock.
    pub async fn lock(&self, id: &str) -> SessionGuard<'_> {
        let lock = self.entry(id);
        let guard = lock.lock_owned().await;
        self.guard(id, guard)
    }

    /// Session `id`'s lock if nobody holds it now.
    pub fn try_lock(&self, id: &str) -> Option<SessionGuard<'_>> {
        let guard = self.entry(id).try_lock_owned().ok();
        // Dropping a failed attempt's entry is done by the holder's guard.
        guard.map(|g| self.guard(id, g))
    }

    fn entry(&self, id: &str) -> Arc<AsyncMutex<()>> {
        let mut locks = self.map();
        if let Some(lock) = locks.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(AsyncMutex::new(()));
        locks.insert(id.to_string(), Arc::downgrade(&lock));
        lock
    }

    fn guard(&self, id: &str, guard: OwnedMutexGuard<()>) -> SessionGuard<'_> {
        SessionGuard {
            locks: self,
            id: id.to_string(),
            guard: Some(guard),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<AsyncMutex<()>>>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        // Release first; then forget the entry if nobody else wants it.
        self.guard.take();
        let mut locks = self.locks.map();
        if locks.get(&self.id).is_some_and(|w| w.strong_count() == 0) {
            locks.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_id_and_entries_go_when_unused() {
        let locks = SessionLocks::default();
        let a = locks.lock("a").await;
        assert!(locks.try_lock("a").is_none());
        let b = locks.try_lock("b").expect("other ids are free");
        drop(a);
        assert!(locks.try_lock("a").is_some());
        drop(b);
        assert!(locks.map().is_empty());
    }
}
