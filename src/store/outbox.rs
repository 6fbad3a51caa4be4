//! The interface to the webhook outbox: every delivery not made yet, one
//! row per event and destination, kept until its endpoint answered 2xx
//! (or it was given up).
//!
//! Rows of one endpoint (URL) go out in order, so only the oldest pending
//! row of an endpoint is ever handed out ([`WebhookOutbox::claim_head`]),
//! and while a deliverer holds it no other may take it: with a shared
//! store (PostgreSQL) each row is delivered by one node of a cluster at a
//! time, and a node that dies mid-attempt leaves its claim to run out,
//! after which another node sends the row again.
//! Must not touch: what an event says (callers hand it finished bodies),
//! HTTP, and when to try again (the host's delivery decides).

use std::time::Duration;

use super::StoreError;

/// A delivery to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    pub url: String,
    /// Signs the body when set.
    pub secret: Option<String>,
    /// The event's kind (`X-Wasp-Event`).
    pub event: String,
    /// The JSON body, as it will be sent.
    pub body: String,
    /// The session whose own webhook this row goes to; `None` for the
    /// global (operator's) webhook.
    pub owner: Option<String>,
}

/// A delivery not made yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub url: String,
    pub secret: Option<String>,
    pub event: String,
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    pub owner: Option<String>,
}

/// What [`WebhookOutbox::claim_head`] found at the head of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// The oldest pending row, now held by the caller.
    Claimed(Box<Delivery>),
    /// Nothing pending.
    Empty,
    /// The oldest row is not due for this long.
    Wait(Duration),
    /// Another deliverer holds the oldest row, for at most this long (it
    /// lets go as soon as its attempt ends).
    Held(Duration),
}

/// What is pending for one session's own webhook.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    /// Why the last failed attempt of its oldest pending row failed.
    pub last_error: Option<String>,
}

/// The outbox. Calls are short and blocking; every write is durable when
/// it returns. Times (`now`, `next_at`) are seconds since the Unix epoch
/// on the caller's clock.
pub trait WebhookOutbox: Send + Sync {
    /// Adds rows, all or none.
    fn insert(&self, rows: &[NewDelivery]) -> Result<(), StoreError>;

    /// Rows not delivered yet (and not given up), in the whole store.
    fn pending(&self) -> Result<u64, StoreError>;

    /// What is pending for session `owner`'s own webhook.
    fn backlog(&self, owner: &str) -> Result<Backlog, StoreError>;

    /// Every endpoint with pending rows, and when its oldest row is due.
    fn endpoints(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Takes the oldest pending row of endpoint `url` for this deliverer,
    /// for `hold` at most (then another may take it), if it is due at
    /// `now` and no other deliverer holds it.
    fn claim_head(&self, url: &str, now: u64, hold: Duration) -> Result<Head, StoreError>;

    /// Row `id` was delivered: it goes.
    fn delivered(&self, id: i64) -> Result<(), StoreError>;

    /// An attempt at row `id` failed: records it and when the next is due
    /// (or gives the row up, kept with `dead` for inspection), and lets
    /// the row go.
    fn failed(
        &self,
        id: i64,
        attempts: u32,
        next_at: u64,
        dead: bool,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Deletes every row bound for session `owner`'s own webhook, given
    /// up or not; how many went.
    fn drop_owner(&self, owner: &str) -> Result<usize, StoreError>;
}
