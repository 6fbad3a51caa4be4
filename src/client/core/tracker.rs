//! The table of iqs in flight: ids, deadlines, and what to do with each
//! outcome.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::client::ClientError;
use crate::wire::Node;

/// What happens with an iq's outcome: it makes a `T` (the session's
/// continuation type) out of the answer or the failure.
pub type Waiter<T> = Box<dyn FnOnce(Result<&Node, ClientError>) -> T + Send>;

struct Pending<T> {
    waiter: Waiter<T>,
    deadline: Instant,
}

/// Outstanding iqs of one session. Ids are `<random prefix>.<counter>`.
pub struct IqTracker<T> {
    prefix: u32,
    counter: u32,
    pending: HashMap<String, Pending<T>>,
}

impl<T> Default for IqTracker<T> {
    fn default() -> Self {
        IqTracker::new()
    }
}

impl<T> IqTracker<T> {
    pub fn new() -> Self {
        IqTracker {
            prefix: rand::random::<u32>() & 0xFFFFF,
            counter: 0,
            pending: HashMap::new(),
        }
    }

    /// A fresh stanza id.
    pub fn next_id(&mut self) -> String {
        self.counter = self.counter.wrapping_add(1);
        format!("{:05x}.{}", self.prefix, self.counter)
    }

    pub fn track(&mut self, id: String, deadline: Instant, waiter: Waiter<T>) {
        self.pending.insert(id, Pending { waiter, deadline });
    }

    /// The continuation for the answer to iq `id` (`None`: not ours).
    pub fn answer(&mut self, id: &str, answer: &Node) -> Option<T> {
        let waiter = self.take(id)?;
        Some(waiter(Ok(answer)))
    }

    fn take(&mut self, id: &str) -> Option<Waiter<T>> {
        let taken = self.pending.remove(id).map(|p| p.waiter);
        if self.pending.is_empty() {
            // An idle session waits on nothing: give the table back
            // rather than keep it for the next ping.
            self.pending.shrink_to_fit();
        }
        taken
    }

    pub fn earliest_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Continuations of every iq whose deadline has passed, each told
    /// `Timeout`.
    pub fn expired(&mut self, now: Instant) -> Vec<T> {
        let ids: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter()
            .filter_map(|id| self.take(&id))
            .map(|waiter| waiter(Err(ClientError::Timeout)))
            .collect()
    }

    /// Continuations of every outstanding iq, each told `NotConnected`
    /// (the connection is gone).
    pub fn drain(&mut self) -> Vec<T> {
        let all: Vec<Waiter<T>> = self.pending.drain().map(|(_, p)| p.waiter).collect();
        self.pending.shrink_to_fit();
        all.into_iter()
            .map(|waiter| waiter(Err(ClientError::NotConnected)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn waiter() -> Waiter<()> {
        Box::new(|_| ())
    }

    #[test]
    fn ids_are_unique_and_deadlines_expire() {
        let mut t = IqTracker::<()>::new();
        let (a, b) = (t.next_id(), t.next_id());
        assert_ne!(a, b);
        let now = Instant::now();
        t.track(a.clone(), now + Duration::from_secs(1), waiter());
        t.track(b.clone(), now + Duration::from_secs(5), waiter());
        assert_eq!(t.earliest_deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(t.expired(now + Duration::from_secs(2)).len(), 1);
        assert!(t.take(&a).is_none());
        assert!(t.take(&b).is_some());
        assert_eq!(t.earliest_deadline(), None);
    }
}
