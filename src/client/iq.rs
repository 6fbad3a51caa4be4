//! Iq request/response correlation: unique ids and a small waiter map.

use std::collections::HashMap;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::ClientError;
use crate::wire::Node;

/// What an outstanding iq was for, i.e. what to do with its answer.
pub enum IqKind {
    Ping,
    SetActive,
    PreKeyCount,
    /// On success, prekeys below `next_id` count as uploaded.
    PreKeyUpload {
        next_id: u32,
    },
    /// Logout waits for this one, then wipes.
    Logout {
        done: Option<oneshot::Sender<Result<(), ClientError>>>,
    },
    /// `companion_hello` (linking code, stage 1).
    PairCodeHello,
    /// `companion_finish` (linking code, stage 2).
    PairCodeFinish,
    /// A new signed prekey announced to the server.
    RotateSignedPreKey,
    /// Device lists for a text being sent.
    SendDevices {
        message_id: String,
    },
    /// Prekey bundles for a text being sent.
    SendBundles {
        message_id: String,
    },
    /// An iq sent through the client API.
    External(oneshot::Sender<Result<Node, ClientError>>),
}

struct Pending {
    kind: IqKind,
    deadline: Instant,
}

/// Outstanding iqs of one session. Ids are `<random prefix>.<counter>`.
pub struct IqTracker {
    prefix: u32,
    counter: u32,
    pending: HashMap<String, Pending>,
}

impl IqTracker {
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

    pub fn track(&mut self, id: String, kind: IqKind, deadline: Instant) {
        self.pending.insert(id, Pending { kind, deadline });
    }

    pub fn take(&mut self, id: &str) -> Option<IqKind> {
        let taken = self.pending.remove(id).map(|p| p.kind);
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

    /// Removes and returns every iq whose deadline has passed.
    pub fn expired(&mut self, now: Instant) -> Vec<IqKind> {
        let ids: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter().filter_map(|id| self.take(&id)).collect()
    }

    /// Removes every outstanding iq (the connection is gone).
    pub fn drain(&mut self) -> Vec<IqKind> {
        let all: Vec<IqKind> = self.pending.drain().map(|(_, p)| p.kind).collect();
        self.pending.shrink_to_fit();
        all
    }

    pub fn is_pending(&self, pred: impl Fn(&IqKind) -> bool) -> bool {
        self.pending.values().any(|p| pred(&p.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_are_unique_and_deadlines_expire() {
        let mut t = IqTracker::new();
        let (a, b) = (t.next_id(), t.next_id());
        assert_ne!(a, b);
        let now = Instant::now();
        t.track(a.clone(), IqKind::Ping, now + Duration::from_secs(1));
        t.track(b.clone(), IqKind::SetActive, now + Duration::from_secs(5));
        assert_eq!(t.earliest_deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(t.expired(now + Duration::from_secs(2)).len(), 1);
        assert!(t.take(&a).is_none());
        assert!(t.take(&b).is_some());
        assert_eq!(t.earliest_deadline(), None);
    }
}
