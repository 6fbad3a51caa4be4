//! The protocol's vocabulary, in one place because each names the others:
//! the context every feature shares ([`Ctx`]), the [`Action`]s features
//! hand the run loop, blocking [`Work`], work beside the session
//! ([`Detached`]) with the session [`Handle`] it gets, and the continuations ([`Then`])
//! that bring an iq's answer, a work's result or a command back to the
//! feature they are addressed to.

use std::any::{Any, TypeId};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::tracker::IqTracker;
use crate::client::config::ClientConfig;
use crate::client::creds::Creds;
use crate::client::events::{Event, Snapshot, Status};
use crate::client::ClientError;
use crate::signal::PreKey;
use crate::store::AuthStore;
use crate::types::DeviceAddress;
use crate::wire::Node;

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No connection.
    Offline,
    /// Handshake done, waiting for pair-device or success.
    Handshaken,
    /// Showing QR codes.
    Pairing,
    /// Linked; waiting for the server's 515 restart.
    Paired,
    /// Logged in.
    Connected,
}

/// Shared by every feature of one session.
pub struct Ctx {
    pub config: Arc<ClientConfig>,
    /// The device's credentials; a feature that changes them also returns
    /// [`Action::SaveCreds`] before anything that depends on the change.
    pub creds: Creds,
    pub phase: Phase,
    pub iqs: IqTracker<Then>,
    /// Moves on whenever some group's members may have changed (a `w:gp2`
    /// notification, our own change): what a feature cached of groups'
    /// members before is stale.
    pub groups_epoch: u64,
}

impl Ctx {
    pub fn new(creds: Creds, config: Arc<ClientConfig>) -> Ctx {
        Ctx {
            config,
            creds,
            phase: Phase::Offline,
            iqs: IqTracker::new(),
            groups_epoch: 0,
        }
    }

    /// Seconds since the epoch, by the configured clock.
    pub fn unix_now(&self) -> u64 {
        self.config.clock.unix_secs()
    }

    /// This device, once linked.
    pub fn own_device(&self) -> Option<DeviceAddress> {
        DeviceAddress::from_jid(&self.creds.paired.as_ref()?.jid)
    }
}

/// Completion signal for a command that ends or changes the session.
pub type Done = oneshot::Sender<Result<(), ClientError>>;

/// A step's CPU and disk work: on the blocking pool, or in place when it
/// is light ([`Weight`]). It gets the session's store and returns what to
/// do with its result, addressed to the feature that asked for it.
pub struct Work {
    work: Box<WorkFn>,
    weight: Weight,
}

type WorkFn = dyn FnOnce(&dyn AuthStore) -> Then + Send;

/// Where a step's [`Work`] may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// The blocking pool.
    Heavy,
    /// Light enough for the session's own task: tens of microseconds of
    /// CPU (a ratchet step, not an X3DH), reads of records the store
    /// likely caches, and writes whose only wait is their last flush.
    /// Where the store defers flushes ([`AuthStore::defers_flushes`]) the
    /// session runs it in place and awaits the flush without a thread
    /// hop; elsewhere it takes the blocking pool like heavy work.
    Light,
}

impl Work {
    /// Work for the blocking pool.
    pub fn new(work: impl FnOnce(&dyn AuthStore) -> Then + Send + 'static) -> Self {
        Work::weighing(Weight::Heavy, work)
    }

    /// Work of the given weight.
    pub fn weighing(
        weight: Weight,
        work: impl FnOnce(&dyn AuthStore) -> Then + Send + 'static,
    ) -> Self {
        Work {
            work: Box::new(work),
            weight,
        }
    }

    /// Where it may run.
    pub fn weight(&self) -> Weight {
        self.weight
    }

    /// Does the work (from `spawn_blocking`, unless it is light).
    pub fn run(self, store: &dyn AuthStore) -> Then {
        (self.work)(store)
    }
}

// ---- Work beside the session ----
//
// For what must not stall the session's socket while it runs (downloading
// the history chunks the phone uploads): async work on a task of its
// own that talks to the session the way any caller does, by commands.

/// What a session's handle is made of: what a `Client` holds.
pub struct Handle {
    pub id: Arc<str>,
    pub commands: mpsc::Sender<Box<Then>>,
    pub state: watch::Receiver<Snapshot>,
    pub config: Arc<ClientConfig>,
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Async work to run on its own task with the session's handle. The
/// session keeps running meanwhile; the work reaches it only by commands,
/// so it ends (its commands fail) when the session does.
pub struct Detached(Box<dyn FnOnce(Handle) -> Task + Send>);

impl Detached {
    pub fn new<F, Fut>(work: F) -> Detached
    where
        F: FnOnce(Handle) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Detached(Box::new(move |handle| Box::pin(work(handle))))
    }

    /// The work, ready to spawn.
    pub fn start(self, handle: Handle) -> impl Future<Output = ()> + Send {
        (self.0)(handle)
    }
}

/// One step for the run loop.
pub enum Action {
    Send(Node),
    /// Send, then report the outcome to the caller.
    SendFor(Node, Done),
    /// Run this off the async workers (or in place, when light and the
    /// store defers its flushes: see [`Weight`]), then feed its
    /// continuation back to the protocol before anything else reaches it;
    /// the actions that returns come before the ones after this.
    Blocking(Work),
    /// Start this on a task of its own, beside the session.
    Detach(Detached),
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
            Action::Detach(_) => f.write_str("Detach"),
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

/// The features of one session, found by type: how a [`Then`] reaches
/// the feature it is addressed to.
pub trait Features {
    fn find(&mut self, feature: TypeId) -> Option<&mut dyn Any>;
}

/// What to do later, addressed to one feature: with an iq's answer, with
/// the result of blocking work, or on a command from the session's handle.
pub struct Then(Box<Step>);

type Step = dyn FnOnce(&mut dyn Features, &mut Ctx, Instant) -> Vec<Action> + Send;

impl Then {
    /// A step run on feature `F`'s state.
    pub fn to<F: Any + Send>(
        step: impl FnOnce(&mut F, &mut Ctx, Instant) -> Vec<Action> + Send + 'static,
    ) -> Then {
        Then(Box::new(move |features, ctx, now| {
            match features
                .find(TypeId::of::<F>())
                .and_then(|f| f.downcast_mut::<F>())
            {
                Some(feature) => step(feature, ctx, now),
                None => {
                    tracing::error!(
                        feature = std::any::type_name::<F>(),
                        "continuation for a feature this session lacks"
                    );
                    Vec::new()
                }
            }
        }))
    }

    /// A step that needs only the shared context.
    pub fn ctx(step: impl FnOnce(&mut Ctx, Instant) -> Vec<Action> + Send + 'static) -> Then {
        Then(Box::new(move |_, ctx, now| step(ctx, now)))
    }

    /// A step with nothing left to do.
    pub fn nothing() -> Then {
        Then(Box::new(|_, _, _| Vec::new()))
    }

    pub fn run(self, features: &mut dyn Features, ctx: &mut Ctx, now: Instant) -> Vec<Action> {
        (self.0)(features, ctx, now)
    }
}
