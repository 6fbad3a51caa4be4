//! The one task that runs a session: connect, handshake, then a
//! `select!` over the socket, host commands and the protocol's timers;
//! on a lost connection, back off and start over.

use std::collections::VecDeque;
use std::future::pending;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::connector::Connector;
use super::core::Then;
use super::core::{Action, Detached, Ending, Handle, Weight, Work};
use super::creds::{self, Creds, StoredCreds};
use super::events::Snapshot;
use super::events::{Event, EventSink, Status};
use super::payload::encode_payload;
use super::protocol::Protocol;
use super::{backoff, ClientConfig, ClientError};
use crate::signal::PreKey;
use crate::store::{AuthStore, AuthStores};
use crate::wire::socket::{client_handshake, ClientHandshake, NoiseSocket, Transport};

/// A command as it travels to the session task. Boxed because tokio's
/// bounded channel allocates its slots 32 at a time when it is created,
/// whatever its capacity: 32 boxes are 256 bytes of every idle session's
/// heap, 32 inline continuations would be twice that.
pub(crate) type QueuedCommand = Box<Then>;

pub(crate) struct Runner<C: Connector> {
    pub id: String,
    pub config: Arc<ClientConfig>,
    /// Where every session's state lives; this one's is opened by id for
    /// each blocking step (holding it open would cost every idle session
    /// an allocation).
    pub stores: Arc<dyn AuthStores>,
    pub sink: Arc<dyn EventSink>,
    pub state: watch::Sender<Snapshot>,
    pub commands: mpsc::Receiver<QueuedCommand>,
    /// Where detached work sends its commands: weak, so that the session
    /// still ends when every `Client` is dropped.
    pub handle: mpsc::WeakSender<QueuedCommand>,
    pub connector: Arc<C>,
}

/// A session's socket, boxed: a value passed into an async fn is kept
/// twice in its future (the argument and the local), so the serving
/// future would hold the socket's few hundred bytes twice (and ~1.5 KiB
/// twice with tokio-tungstenite's state, before `wire::websocket`).
type Socket<C> = Box<NoiseSocket<<C as Connector>::Transport>>;

impl<C: Connector> Runner<C> {
    pub async fn run(mut self) {
        let creds = match Box::pin(self.load_creds()).await {
            Ok(Some(creds)) => creds,
            Ok(None) => return, // logged out earlier: reported, nothing to run
            Err(e) => {
                self.finish(Status::Failed, Some(e.to_string()));
                self.emit(Event::Stopped {
                    reason: format!("cannot load credentials: {e}"),
                });
                return;
            }
        };
        self.set_jid(creds.jid());
        let mut protocol = Protocol::new(creds, self.config.clone());
        let mut attempt: u32 = 0;
        // Whether the last connection ended in a 515 restart: only the
        // first of a row is honoured at once, later ones back off, so a
        // server that answers every connection with 515 cannot spin this
        // task in a reconnect loop with no delay.
        let mut restarted = false;
        loop {
            self.set_status(Status::Connecting);
            // Each phase's future is boxed, so that the task itself stays small
            // and only the phase running holds memory: the connect and
            // handshake state (~several KiB) is gone while the session
            // serves, which is where an idle session spends its life.
            let ending = match Box::pin(self.connect(&mut protocol)).await {
                Ok(Some(socket)) => {
                    protocol.on_connected();
                    Box::pin(self.serve(&mut protocol, socket)).await
                }
                Ok(None) => Ending::Stop {
                    failed: false,
                    reason: "shutdown".into(),
                    done: None,
                },
                Err(Connect::Ended(ending)) => ending,
                Err(Connect::Failed(reason)) => Ending::Reconnect { reason, penalty: 0 },
            };
            let was_online = protocol.was_online();
            protocol.on_disconnected();
            let ending = match ending {
                Ending::Restart if restarted => Ending::Reconnect {
                    reason: "server asked to restart again without a normal disconnect".into(),
                    penalty: 0,
                },
                other => {
                    restarted = matches!(other, Ending::Restart);
                    other
                }
            };
            match ending {
                Ending::Restart => attempt = 0,
                Ending::Reconnect { reason, penalty } => {
                    tracing::info!(session = %self.id, %reason, "connection lost");
                    self.set_error(Some(reason.clone()));
                    if was_online {
                        self.emit(Event::Disconnected { reason });
                    }
                    if self.status() == Status::Connected {
                        attempt = 0;
                    }
                    attempt = attempt.saturating_add(1 + penalty);
                    if let Some(ending) = Box::pin(self.back_off(&mut protocol, attempt)).await {
                        Box::pin(self.end(protocol.creds().jid().cloned(), ending)).await;
                        return;
                    }
                }
                ending => {
                    Box::pin(self.end(protocol.creds().jid().cloned(), ending)).await;
                    return;
                }
            }
        }
    }

    /// Loads credentials, creating and storing fresh registration
    /// material on first start. `Ok(None)`: the session was logged out.
    async fn load_creds(&self) -> Result<Option<Creds>, ClientError> {
        let store = self.store()?;
        let push_name = self.config.push_name.clone();
        let now = self.config.clock.unix_secs();
        let loaded = blocking(move || {
            store.prepare()?;
            match creds::load(&*store)? {
                Some(stored) => Ok(stored),
                None => {
                    let fresh = StoredCreds::Active(Box::new(Creds::generate(&push_name, now)));
                    creds::save(&*store, &fresh)?;
                    Ok(fresh)
                }
            }
        })
        .await?;
        match loaded {
            StoredCreds::Active(creds) => Ok(Some(*creds)),
            StoredCreds::LoggedOut { logged_out, .. } => {
                self.finish(Status::LoggedOut, Some(logged_out.clone()));
                self.emit(Event::LoggedOut { reason: logged_out });
                Ok(None)
            }
        }
    }

    /// WebSocket + Noise handshake, bounded by the connect timeout, while
    /// still answering commands. `Ok(None)`: the client handle is gone.
    async fn connect(&mut self, protocol: &mut Protocol) -> Result<Option<Socket<C>>, Connect> {
        let payload = encode_payload(protocol.creds(), &self.config).ok_or_else(|| {
            Connect::Ended(Ending::Stop {
                failed: true,
                reason: "stored JID is invalid".into(),
                done: None,
            })
        })?;
        let config = self.config.clone();
        let connector = self.connector.clone();
        let noise_key = protocol.creds().noise_key.clone();
        let routing_info = protocol.creds().routing_info.clone();
        let attempt = async move {
            let transport = connector.connect(&config.url).await?;
            let hs = ClientHandshake {
                noise_key: &noise_key,
                root_key: &config.root_key,
                payload,
                routing_info: routing_info.as_deref(),
                now: config.clock.unix_secs(),
            };
            client_handshake(transport, hs).await
        };
        let attempt = timeout(self.config.connect_timeout, attempt);
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                result = &mut attempt => {
                    return match result {
                        Ok(Ok(socket)) => Ok(Some(Box::new(socket))),
                        Ok(Err(e)) => Err(Connect::Failed(format!("connect failed: {e}"))),
                        Err(_) => Err(Connect::Failed("connect timed out".into())),
                    };
                }
                command = self.commands.recv() => {
                    let Some(command) = command else { return Ok(None) };
                    let actions = protocol.on_command(*command, Instant::now());
                    if let Some(ending) = self.execute_offline(actions).await {
                        return Err(Connect::Ended(ending));
                    }
                }
            }
        }
    }

    /// Runs one established connection until it ends.
    async fn serve(&mut self, protocol: &mut Protocol, mut socket: Socket<C>) -> Ending {
        // Until the session is online (QR shown or logged in) no protocol
        // timer runs, so a server that goes quiet after the handshake (or
        // after pair-success, before its 515) would hold the session in
        // Connecting forever: it must say something within the connect
        // timeout of its last stanza.
        let mut quiet_until = Instant::now() + self.config.connect_timeout;
        let ending = loop {
            let deadline = protocol.next_deadline();
            let timer = async move {
                match deadline {
                    Some(at) => sleep_until(at).await,
                    None => pending().await,
                }
            };
            let online = protocol.was_online();
            let silence = async move {
                if online {
                    pending().await
                } else {
                    sleep_until(quiet_until).await
                }
            };
            let actions = tokio::select! {
                received = socket.recv_node() => match received {
                    // The node is dropped right here: nothing decoded is kept.
                    Ok(node) => {
                        quiet_until = Instant::now() + self.config.connect_timeout;
                        protocol.on_node(&node, Instant::now())
                    }
                    Err(e) => protocol.on_connection_lost(format!("connection lost: {e}")),
                },
                () = silence => protocol.on_connection_lost(
                    "server silent after the handshake: no pairing or login answer".into(),
                ),
                command = self.commands.recv() => match command {
                    Some(command) => protocol.on_command(*command, Instant::now()),
                    None => vec![Action::End(Ending::Stop {
                        failed: false,
                        reason: "shutdown".into(),
                        done: None,
                    })],
                },
                () = timer => protocol.on_timer(Instant::now()),
            };
            // Boxed: the waiting state above is what an idle session holds;
            // acting on a stanza needs more, and only for a moment.
            if let Some(ending) = Box::pin(self.execute(protocol, &mut socket, actions)).await {
                break ending;
            }
        };
        socket.close().await;
        ending
    }

    /// Executes actions in order; returns the ending if one came up.
    /// Blocking work runs here, between actions, on the blocking pool: the
    /// session reads nothing meanwhile, so its result reaches the protocol
    /// before any other input, and its follow-up actions run next.
    async fn execute(
        &self,
        protocol: &mut Protocol,
        socket: &mut Socket<C>,
        actions: Vec<Action>,
    ) -> Option<Ending> {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Blocking(work) => {
                    let store = match self.store() {
                        Ok(store) => store,
                        Err(e) => return Some(storage_failure(e)),
                    };
                    let then = match run_work(work, store).await {
                        Ok(then) => then,
                        Err(ending) => return Some(ending),
                    };
                    let next = protocol.on_command(then, Instant::now());
                    for action in next.into_iter().rev() {
                        queue.push_front(action);
                    }
                }
                Action::Send(node) => {
                    if let Err(e) = socket.send_node(&node).await {
                        return Some(send_failed(protocol, socket.as_mut(), e));
                    }
                }
                Action::SendFor(node, done) => {
                    let result = socket.send_node(&node).await;
                    let failed = result.as_ref().err().map(|e| e.to_string());
                    let _ = done.send(result.map_err(ClientError::from));
                    if let Some(e) = failed {
                        return Some(send_failed(protocol, socket.as_mut(), e));
                    }
                }
                other => {
                    if let Some(ending) = self.execute_local(protocol.creds(), other).await {
                        return Some(ending);
                    }
                }
            }
        }
        None
    }

    /// Executes actions while there is no socket (commands during connect
    /// or backoff never produce sends).
    async fn execute_offline(&self, actions: Vec<Action>) -> Option<Ending> {
        for action in actions {
            if let Action::End(ending) = action {
                return Some(ending);
            }
            tracing::debug!("action skipped while offline");
        }
        None
    }

    async fn execute_local(&self, creds: &Creds, action: Action) -> Option<Ending> {
        match action {
            Action::Emit(event) => {
                if let Event::Paired { jid } = &event {
                    self.set_jid(Some(jid));
                }
                self.emit(event);
            }
            Action::EmitDurable(event) => {
                self.emit(event);
                if let Some(stored) = self.sink.durable(&self.id) {
                    let _ = stored.await;
                }
            }
            Action::Status(status) => {
                if status == Status::Connected {
                    self.set_error(None);
                }
                self.set_status(status);
            }
            Action::SaveCreds => {
                if let Err(e) = self.save_creds(creds).await {
                    return Some(storage_failure(e));
                }
            }
            Action::StorePreKeys(keys) => {
                if let Err(e) = self.store_prekeys(keys).await {
                    return Some(storage_failure(e));
                }
            }
            Action::Detach(work) => self.detach(work),
            Action::End(ending) => return Some(ending),
            Action::Send(_) | Action::SendFor(..) | Action::Blocking(_) => {}
        }
        None
    }

    /// Starts `work` on a task of its own with a handle on this session
    /// (none once every `Client` is gone: the session is ending).
    fn detach(&self, work: Detached) {
        let Some(commands) = self.handle.upgrade() else {
            return;
        };
        let handle = Handle {
            id: self.id.as_str().into(),
            commands,
            state: self.state.subscribe(),
            config: self.config.clone(),
        };
        tokio::spawn(work.start(handle));
    }

    /// Waits out the backoff before `attempt`, still answering commands.
    async fn back_off(&mut self, protocol: &mut Protocol, attempt: u32) -> Option<Ending> {
        let delay = backoff::delay(
            attempt,
            self.config.reconnect_base,
            self.config.reconnect_max,
        );
        self.set_status(Status::Reconnecting);
        self.emit(Event::Reconnecting {
            attempt,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        });
        let wake = sleep(delay);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                () = &mut wake => return None,
                command = self.commands.recv() => {
                    let Some(command) = command else {
                        return Some(Ending::Stop { failed: false, reason: "shutdown".into(), done: None });
                    };
                    let actions = protocol.on_command(*command, Instant::now());
                    if let Some(ending) = self.execute_offline(actions).await {
                        return Some(ending);
                    }
                }
            }
        }
    }

    /// Final bookkeeping for a session that stops for good (`jid`: ours,
    /// kept in the logout record).
    async fn end(&self, jid: Option<crate::types::Jid>, ending: Ending) {
        match ending {
            Ending::Stop {
                failed,
                reason,
                done,
            } => {
                let status = if failed {
                    Status::Failed
                } else {
                    Status::Stopped
                };
                tracing::info!(session = %self.id, %reason, "session stopped");
                self.finish(status, Some(reason.clone()));
                self.emit(Event::Stopped { reason });
                if let Some(done) = done {
                    let _ = done.send(Ok(()));
                }
            }
            Ending::LoggedOut { reason, done } => {
                tracing::info!(session = %self.id, %reason, "logged out");
                let why = reason.clone();
                let wiped = match self.store() {
                    Ok(store) => blocking(move || creds::wipe(&*store, &why, jid.as_ref())).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = &wiped {
                    tracing::error!(session = %self.id, error = %e, "could not wipe credentials");
                }
                self.finish(Status::LoggedOut, Some(reason.clone()));
                self.emit(Event::LoggedOut { reason });
                if let Some(done) = done {
                    let _ = done.send(wiped);
                }
            }
            // Reconnects never end the task.
            Ending::Restart | Ending::Reconnect { .. } => {}
        }
    }

    async fn save_creds(&self, creds: &Creds) -> Result<(), ClientError> {
        let store = self.store()?;
        let stored = StoredCreds::Active(Box::new(creds.clone()));
        blocking(move || creds::save(&*store, &stored)).await
    }

    async fn store_prekeys(&self, keys: Vec<PreKey>) -> Result<(), ClientError> {
        let store = self.store()?;
        blocking(move || creds::append_prekeys(&*store, &keys)).await
    }

    /// This session's store.
    fn store(&self) -> Result<Arc<dyn AuthStore>, ClientError> {
        Ok(self.stores.open(&self.id)?)
    }

    fn emit(&self, event: Event) {
        self.sink.emit(&self.id, event);
    }

    fn status(&self) -> Status {
        self.state.borrow().status
    }

    fn set_status(&self, status: Status) {
        self.state.send_modify(|s| s.status = status);
    }

    fn set_error(&self, error: Option<String>) {
        self.state.send_modify(|s| s.last_error = error);
    }

    fn set_jid(&self, jid: Option<&crate::types::Jid>) {
        let jid = jid.map(|j| j.to_string());
        self.state.send_modify(|s| s.jid = jid);
    }

    fn finish(&self, status: Status, error: Option<String>) {
        self.state.send_modify(|s| {
            s.status = status;
            s.last_error = error;
            if status == Status::LoggedOut {
                s.jid = None;
            }
        });
    }
}

enum Connect {
    Ended(Ending),
    Failed(String),
}

/// A send failed because the server closed the connection. It may have
/// said why just before (`<stream:error>` for a conflict or a removed
/// device): stanzas already received are read, without waiting, and the
/// first one that ends the session decides; otherwise the connection was
/// simply lost.
fn send_failed<T: Transport>(
    protocol: &mut Protocol,
    socket: &mut NoiseSocket<T>,
    error: impl std::fmt::Display,
) -> Ending {
    use futures_util::FutureExt as _;
    while let Some(Ok(node)) = socket.recv_node().now_or_never() {
        let ending = protocol
            .on_node(&node, Instant::now())
            .into_iter()
            .find_map(ending_of);
        if let Some(ending) = ending {
            return ending;
        }
    }
    protocol
        .on_connection_lost(format!("send failed: {error}"))
        .into_iter()
        .find_map(ending_of)
        .unwrap_or(Ending::Reconnect {
            reason: format!("send failed: {error}"),
            penalty: 0,
        })
}

fn ending_of(action: Action) -> Option<Ending> {
    match action {
        Action::End(ending) => Some(ending),
        _ => None,
    }
}

/// Runs a step's work: light work in place when the store defers its
/// flushes (then awaits them, so nothing acts on its writes before they
/// are on disk), any other on the blocking pool.
async fn run_work(work: Work, store: Arc<dyn AuthStore>) -> Result<Then, Ending> {
    let ran = if work.weight() == Weight::Light && store.defers_flushes() {
        let (ran, pending) = crate::store::deferring_flushes(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.run(&*store)))
        });
        for flush in pending {
            if let Err(e) = flush.wait().await {
                return Err(Ending::Stop {
                    failed: true,
                    reason: format!("cannot flush the session's state to disk: {e}"),
                    done: None,
                });
            }
        }
        ran.map(|then| (then, store.fenced()))
            .map_err(|_| "it panicked".to_string())
    } else {
        tokio::task::spawn_blocking(move || {
            let then = work.run(&*store);
            (then, store.fenced())
        })
        .await
        .map_err(|e| e.to_string())
    };
    match ran {
        // Another node owns the session now: nothing of this step was
        // written, and nothing more may go out from here (the new owner
        // speaks for it).
        Ok((_, true)) => Err(fenced()),
        Ok((then, false)) => Ok(then),
        Err(e) => Err(Ending::Stop {
            failed: true,
            reason: format!("background work failed: {e}"),
            done: None,
        }),
    }
}

/// A store write was refused: another owner claimed the session's state
/// (a cluster's failover or hand-over). The session stops for good here;
/// it never reconnects on its own.
fn fenced() -> Ending {
    Ending::Stop {
        failed: false,
        reason: "fenced: another node runs this session now".into(),
        done: None,
    }
}

fn storage_failure(e: ClientError) -> Ending {
    if let ClientError::Store(crate::store::StoreError::Fenced { .. }) = e {
        return fenced();
    }
    Ending::Stop {
        failed: true,
        reason: format!("cannot store credentials: {e}"),
        done: None,
    }
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(ClientError::Creds(format!("storage task failed: {e}"))))
}
