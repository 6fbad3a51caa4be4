//! What the protocol asks the run loop to do, in order.

use tokio::sync::oneshot;

use super::feature::Then;
use crate::client::events::{Event, Status};
use crate::client::ClientError;
use crate::signal::PreKey;
use crate::store::AuthStore;
use crate::wire::Node;

/// Completion signal for a command that ends or changes the session.
pub type Done = oneshot::Sender<Result<(), ClientError>>;

/// CPU-heavy or disk work that must not run on the async workers. It gets
/// the session's store and returns what to do with its result, addressed
/// to the feature that asked for it.
pub struct Work(Box<WorkFn>);

type WorkFn = dyn FnOnce(&dyn AuthStore) -> Then + Send;

impl Work {
    pub fn new(work: impl FnOnce(&dyn AuthStore) -> Then + Send + 'static) -> Self {
        Work(Box::new(work))
    }

    /// Does the work (slow: call it from `spawn_blocking`).
    pub fn run(self, store: &dyn AuthStore) -> Then {
        (self.0)(store)
    }
}

/// One step for the run loop.
pub enum Action {
    Send(Node),
    /// Send, then report the outcome to the caller.
    SendFor(Node, Done),
    /// Run this off the async workers, then feed its continuation back to
    /// the protocol before anything else reaches it; the actions that
    /// returns come before the ones after this.
    Blocking(Work),
    Emit(Event),
    /// Emit, then wait until the host has stored the event durably before
    /// the next action: what follows (a receipt) lets the server forget it.
    EmitDurable(Event),
    Status(Status),
    /// Persist the current credentials (before anything that follows).
    SaveCreds,
    /// Persist freshly generated one-time prekeys.
    StorePreKeys(Vec<PreKey>),
    /// The current connection is over.
    End(Ending),
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Send(node) => write!(f, "Send(<{}>)", node.tag),
            Action::SendFor(node, _) => write!(f, "SendFor(<{}>)", node.tag),
            Action::Blocking(_) => f.write_str("Blocking"),
            Action::Emit(e) => write!(f, "Emit({e:?})"),
            Action::EmitDurable(e) => write!(f, "EmitDurable({e:?})"),
            Action::Status(s) => write!(f, "Status({s:?})"),
            Action::SaveCreds => f.write_str("SaveCreds"),
            Action::StorePreKeys(keys) => write!(f, "StorePreKeys({})", keys.len()),
            Action::End(e) => write!(f, "End({e:?})"),
        }
    }
}

/// How a connection ends and what follows.
pub enum Ending {
    /// Reconnect at once, no backoff (the 515 restart after pairing).
    Restart,
    /// Reconnect after a backoff; `penalty` extra attempts lengthen it.
    Reconnect { reason: String, penalty: u32 },
    /// Stop the session (`failed` marks an error rather than a decision).
    Stop {
        failed: bool,
        reason: String,
        done: Option<Done>,
    },
    /// The device is unlinked: wipe the credentials and stop.
    LoggedOut { reason: String, done: Option<Done> },
}

impl Ending {
    /// Which ending wins when several come up at once: an unlinked device
    /// stays unlinked whatever else happened.
    pub fn outranks(&self, other: &Ending) -> bool {
        matches!(self, Ending::LoggedOut { .. }) && !matches!(other, Ending::LoggedOut { .. })
    }
}

impl std::fmt::Debug for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Restart => f.write_str("Restart"),
            Ending::Reconnect { reason, penalty } => {
                write!(f, "Reconnect({reason:?}, penalty {penalty})")
            }
            Ending::Stop { failed, reason, .. } => write!(f, "Stop({reason:?}, failed {failed})"),
            Ending::LoggedOut { reason, .. } => write!(f, "LoggedOut({reason:?})"),
        }
    }
}
