//! One lifecycle change at a time per session: a delete, logout or
//! restart waits for the one before it on the same session. Without it a
//! logout racing a delete wrote the logged-out record into the directory
//! the delete was removing (a 500), and a restart racing a delete could
//! start a session whose record was gone.
//! Must not touch: what the changes do (that is `pool`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub struct SessionTurns {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while one change runs; the next waits for it to drop.
pub struct Turn<'a> {
    turns: &'a SessionTurns,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SessionTurns {
    pub async fn take(&self, id: &str) -> Turn<'_> {
        let lock = self.lock().entry(id.to_string()).or_default().clone();
        Turn {
            turns: self,
            id: id.to_string(),
            guard: Some(lock.lock_owned().await),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Forget the lock once nobody holds or waits for it, so ids that
        // come and go leave nothing behind.
        let mut locks = self.turns.lock();
        if locks
            .get(&self.id)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_on_one_session_wait_and_leave_nothing_behind() {
        let turns = SessionTurns::default();
        let first = turns.take("a").await;
        let other = turns.take("b").await; // another session: no wait
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), turns.take("a"));
        assert!(
            waiting.await.is_err(),
            "second turn on a session ran at once"
        );
        drop((first, other));
        drop(turns.take("a").await);
        assert!(turns.lock().is_empty());
    }
}
