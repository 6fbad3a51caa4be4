//! Iqs: one spec type per request, and the table of those in flight.
//!
//! An [`IqSpec`] builds its request and reads its answer (the shape of
//! whatsapp-rust's `IqSpec`). [`super::Ctx::iq`] sends one and stores what
//! to do with the answer; the answer, a timeout or a lost connection all
//! reach that same continuation, as `Ok(answer)` or `Err(ClientError)`.

use std::collections::HashMap;

use tokio::time::Instant;

use super::feature::Then;
use crate::client::ClientError;
use crate::wire::Node;

/// One kind of iq: how to ask, and how to read what the server says.
pub trait IqSpec: Send + 'static {
    type Answer: Send + 'static;

    /// The request, with stanza id `id`.
    fn request(&self, id: &str) -> Node;

    /// Reads the server's answer (`type="result"` or `type="error"`; most
    /// specs start with [`expect_result`]).
    fn parse(&self, answer: &Node) -> Result<Self::Answer, ClientError>;
}

/// The answer itself when it is a result; the server's error otherwise.
pub fn expect_result(answer: &Node) -> Result<&Node, ClientError> {
    if answer.get_attr("type") == Some("result") {
        return Ok(answer);
    }
    let error = answer.child("error");
    let attr = |key| {
        error
            .and_then(|e| e.get_attr(key))
            .unwrap_or_default()
            .to_string()
    };
    Err(ClientError::Server {
        code: attr("code"),
        text: attr("text"),
    })
}

/// What happens with an iq's outcome.
pub(super) type Waiter = Box<dyn FnOnce(Result<&Node, ClientError>) -> Then + Send>;

struct Pending {
    waiter: Waiter,
    deadline: Instant,
}

/// Outstanding iqs of one session. Ids are `<random prefix>.<counter>`.
pub struct IqTracker {
    prefix: u32,
    counter: u32,
    pending: HashMap<String, Pending>,
}

impl Default for IqTracker {
    fn default() -> Self {
        IqTracker::new()
    }
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

    pub(super) fn track(&mut self, id: String, deadline: Instant, waiter: Waiter) {
        self.pending.insert(id, Pending { waiter, deadline });
    }

    /// The continuation for the answer to iq `id` (`None`: not ours).
    pub fn answer(&mut self, id: &str, answer: &Node) -> Option<Then> {
        let waiter = self.take(id)?;
        Some(waiter(Ok(answer)))
    }

    fn take(&mut self, id: &str) -> Option<Waiter> {
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
    pub fn expired(&mut self, now: Instant) -> Vec<Then> {
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
    pub fn drain(&mut self) -> Vec<Then> {
        let all: Vec<Waiter> = self.pending.drain().map(|(_, p)| p.waiter).collect();
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

    fn waiter() -> Waiter {
        Box::new(|_| Then::nothing())
    }

    #[test]
    fn ids_are_unique_and_deadlines_expire() {
        let mut t = IqTracker::new();
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

    #[test]
    fn error_answers_carry_the_servers_code() {
        let error = Node::new("iq")
            .attr("type", "error")
            .children(vec![Node::new("error")
                .attr("code", "404")
                .attr("text", "item-not-found")]);
        match expect_result(&error) {
            Err(ClientError::Server { code, text }) => {
                assert_eq!((code.as_str(), text.as_str()), ("404", "item-not-found"))
            }
            other => panic!("{other:?}"),
        }
        let ok = Node::new("iq").attr("type", "result");
        assert!(expect_result(&ok).is_ok());
    }
}
