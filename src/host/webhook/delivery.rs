//! Delivering the outbox's rows: one queue per endpoint (URL), in order
//! within it, many endpoints at once.
//!
//! An endpoint with pending rows is served by one worker task at a time,
//! which POSTs its oldest row, then the next. Attempts across endpoints
//! run concurrently, at most `concurrency` at once; each attempt has its
//! own connect and total timeouts. A failed attempt sends only its own
//! endpoint into backoff (the row keeps its place, so order holds); the
//! others carry on. Dropping a session's rows abandons the attempt in
//! flight for one of them.
//!
//! With an outbox shared by the nodes of a cluster, each attempt first
//! claims its row in the store (one node at a time sends an endpoint's
//! head), and the dispatcher looks at the whole outbox every few seconds
//! (`sweep`), so rows a dead node left behind are sent by the others.
//! Must not touch: how rows are written (that is `outbox`), HTTP details
//! (that is `http_post`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::time::Instant;

use super::config::WebhookConfig;
use super::http_post::{self, PostError, PostOptions};
use super::outbox::Outbox;
use crate::host::HostError;
use crate::store::{Delivery as Row, Head};
use crate::types::SharedClock;

/// How long the dispatcher sleeps when nothing is scheduled (it wakes
/// earlier on every commit and every finished attempt).
const IDLE_WAIT: Duration = Duration::from_secs(60);
/// Pause of an endpoint after the outbox could not be read or updated.
const STORAGE_PAUSE: Duration = Duration::from_secs(5);
/// A claim on a row outlives the attempt by this much, so it never runs
/// out while its node is still sending.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);
/// How soon to ask again about an endpoint whose head another node is
/// sending (its claim ends with the attempt, usually well before it
/// runs out).
const HELD_RECHECK: Duration = Duration::from_millis(500);

pub struct Delivery {
    /// Attempts answered 2xx, and attempts that failed, since start.
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    outbox: Arc<Outbox>,
    config: WebhookConfig,
    options: PostOptions,
    /// Locked before the outbox's connection, never the other way round.
    state: Mutex<State>,
    permits: Arc<Semaphore>,
    wake: Arc<Notify>,
    /// When a failed row is due again.
    clock: SharedClock,
    /// How often to look for endpoints with pending rows that this node
    /// did not write (a shared outbox); `None` on a single node.
    sweep: Option<Duration>,
}

#[derive(Default)]
struct State {
    /// Endpoints that may have pending rows.
    endpoints: HashMap<String, Endpoint>,
    /// Attempts in flight, by row id.
    in_flight: HashMap<i64, InFlight>,
}

#[derive(Default)]
struct Endpoint {
    /// A worker serves it now.
    busy: bool,
    /// Backing off: no attempt before then.
    not_before: Option<Instant>,
}

struct InFlight {
    owner: Option<String>,
    /// Sent (or dropped) to abandon the attempt.
    cancel: oneshot::Sender<()>,
}

/// What a worker takes from its endpoint's queue.
enum Claim {
    Row(Box<Row>, oneshot::Receiver<()>),
    /// The queue is empty; the endpoint is forgotten.
    Empty,
    Pause(Duration),
}

impl Delivery {
    pub fn new(
        outbox: Arc<Outbox>,
        config: WebhookConfig,
        clock: SharedClock,
        sweep: Option<Duration>,
    ) -> Arc<Delivery> {
        let options = PostOptions {
            tls: http_post::tls_config(&config.extra_roots),
            connect_timeout: config.connect_timeout,
            timeout: config.attempt_timeout,
        };
        Arc::new(Delivery {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            outbox,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            clock,
            sweep,
            config,
            options,
            state: Mutex::new(State::default()),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Picks up the endpoints an earlier run left rows for (each waits
    /// until its oldest row is due) and starts the dispatcher.
    pub fn start(self: &Arc<Self>) {
        self.pick_up();
        let delivery = Arc::downgrade(self);
        let wake = self.wake.clone();
        let sweep = self.sweep;
        tokio::spawn(async move {
            let mut next_sweep = sweep.map(|every| Instant::now() + every);
            loop {
                let woken = wake.notified();
                tokio::pin!(woken);
                // Registered before dispatching, so a commit meanwhile
                // wakes the next round.
                woken.as_mut().enable();
                let Some(delivery) = delivery.upgrade() else {
                    break;
                };
                if let (Some(at), Some(every)) = (next_sweep, sweep) {
                    if at <= Instant::now() {
                        delivery.pick_up();
                        next_sweep = Some(Instant::now() + every);
                    }
                }
                let mut wait = delivery.dispatch();
                if let Some(at) = next_sweep {
                    wait = wait.min(at.saturating_duration_since(Instant::now()));
                }
                drop(delivery);
                let _ = tokio::time::timeout(wait, woken).await;
            }
        });
    }

    /// Adds every endpoint with pending rows that is not known yet (each
    /// waits until its oldest row is due): at start, what an earlier run
    /// left; with a shared outbox, also what other nodes left.
    fn pick_up(&self) {
        match self.outbox.rows().endpoints() {
            Ok(endpoints) => {
                let now = self.clock.unix_secs();
                let mut state = self.lock();
                for (url, next_at) in endpoints {
                    let wait = Duration::from_secs(next_at.saturating_sub(now));
                    state.endpoints.entry(url).or_insert_with(|| Endpoint {
                        busy: false,
                        not_before: Some(Instant::now() + wait),
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "reading the webhook outbox failed"),
        }
    }

    /// The outbox committed rows for these endpoints.
    pub fn committed(&self, urls: BTreeSet<String>) {
        let mut state = self.lock();
        for url in urls {
            state.endpoints.entry(url).or_default();
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Deletes every row bound for session `owner`'s own webhook and
    /// abandons the attempt in flight for one of them.
    pub fn drop_session(&self, owner: &str) -> Result<usize, HostError> {
        // Under the state lock: no worker can claim one of these rows
        // between the delete and the cancellation.
        let mut state = self.lock();
        let dropped = self.outbox.rows().drop_owner(owner)?;
        let abandoned: Vec<i64> = state
            .in_flight
            .iter()
            .filter(|(_, f)| f.owner.as_deref() == Some(owner))
            .map(|(id, _)| *id)
            .collect();
        for id in abandoned {
            if let Some(attempt) = state.in_flight.remove(&id) {
                let _ = attempt.cancel.send(());
            }
        }
        Ok(dropped)
    }

    /// Starts a worker for every endpoint that is idle and due; returns
    /// how long until the next one is due.
    fn dispatch(self: &Arc<Self>) -> Duration {
        let now = Instant::now();
        let mut wait = IDLE_WAIT;
        let mut due = Vec::new();
        {
            let mut state = self.lock();
            for (url, endpoint) in state.endpoints.iter_mut() {
                if endpoint.busy {
                    continue;
                }
                match endpoint.not_before {
                    Some(at) if at > now => wait = wait.min(at - now),
                    _ => {
                        endpoint.busy = true;
                        endpoint.not_before = None;
                        due.push(url.clone());
                    }
                }
            }
        }
        for url in due {
            let delivery = self.clone();
            tokio::spawn(async move { delivery.serve(url).await });
        }
        wait
    }

    /// One endpoint's worker: delivers its rows in order until the queue
    /// is empty or an attempt fails.
    async fn serve(self: Arc<Self>, url: String) {
        loop {
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                return;
            };
            let (row, abandon) = match self.claim(&url) {
                Claim::Row(row, abandon) => (row, abandon),
                Claim::Empty => return,
                Claim::Pause(pause) => return self.release(&url, pause),
            };
            let outcome = tokio::select! {
                result = self.attempt(&row) => Some(result),
                _ = abandon => None,
            };
            drop(permit);
            self.lock().in_flight.remove(&row.id);
            let Some(result) = outcome else {
                tracing::info!(url = %row.url, session = ?row.owner, "webhook attempt abandoned: its session was deleted");
                continue;
            };
            if let Some(pause) = self.record(&row, result) {
                return self.release(&url, pause);
            }
        }
    }

    /// The oldest row of `url`, claimed in the store and registered as
    /// in flight.
    fn claim(&self, url: &str) -> Claim {
        let mut state = self.lock();
        let hold = self.config.connect_timeout + self.config.attempt_timeout + CLAIM_MARGIN;
        match self
            .outbox
            .rows()
            .claim_head(url, self.clock.unix_secs(), hold)
        {
            Ok(Head::Claimed(row)) => {
                let (cancel, abandon) = oneshot::channel();
                let owner = row.owner.clone();
                state.in_flight.insert(row.id, InFlight { owner, cancel });
                Claim::Row(row, abandon)
            }
            // A commit after this read adds the endpoint again.
            Ok(Head::Empty) => {
                state.endpoints.remove(url);
                Claim::Empty
            }
            Ok(Head::Wait(wait)) => Claim::Pause(wait),
            // Another node is sending it.
            Ok(Head::Held(held)) => Claim::Pause(held.min(HELD_RECHECK)),
            Err(e) => {
                tracing::error!(error = %e, "reading the webhook outbox failed");
                Claim::Pause(STORAGE_PAUSE)
            }
        }
    }

    async fn attempt(&self, row: &Row) -> Result<(), PostError> {
        let mut headers = vec![
            ("X-Wasp-Event", row.event.clone()),
            ("X-Wasp-Delivery", row.id.to_string()),
        ];
        if let Some(secret) = &row.secret {
            let mac = crate::crypto::hmac_sha256(secret.as_bytes(), &[row.body.as_bytes()]);
            headers.push(("X-Wasp-Signature", format!("sha256={}", hex::encode(mac))));
        }
        // Sessions' own webhooks are set by tenants: guarded. The global
        // one is the operator's.
        let guard = row.owner.is_some().then_some(&self.config.guard);
        http_post::post(
            &row.url,
            &headers,
            row.body.as_bytes(),
            &self.options,
            guard,
        )
        .await
    }

    /// Stores the outcome of an attempt; returns how long the endpoint
    /// must pause, if it must.
    fn record(&self, row: &Row, result: Result<(), PostError>) -> Option<Duration> {
        let error = match result {
            Ok(()) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                return self.outbox.rows().delivered(row.id).err().map(|e| {
                    tracing::error!(error = %e, "updating the webhook outbox failed");
                    STORAGE_PAUSE
                });
            }
            Err(e) => e,
        };
        self.failed.fetch_add(1, Ordering::Relaxed);
        let attempts = row.attempts + 1;
        let dead = attempts >= self.config.max_attempts;
        let delay = self.config.backoff(attempts);
        tracing::warn!(url = %row.url, attempt = attempts, error = %error, "webhook delivery failed");
        let next_at = self.clock.unix_secs() + delay.as_secs().max(1);
        if let Err(e) =
            self.outbox
                .rows()
                .failed(row.id, attempts, next_at, dead, &error.to_string())
        {
            tracing::error!(error = %e, "updating the webhook outbox failed");
            return Some(STORAGE_PAUSE);
        }
        if dead {
            tracing::error!(url = %row.url, attempts, "webhook delivery given up");
            // The next row is tried at once; it has its own attempts.
            return None;
        }
        Some(delay)
    }

    /// The worker of `url` stops; the endpoint waits `pause`.
    fn release(&self, url: &str, pause: Duration) {
        if let Some(endpoint) = self.lock().endpoints.get_mut(url) {
            endpoint.busy = false;
            endpoint.not_before = Some(Instant::now() + pause);
        }
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
