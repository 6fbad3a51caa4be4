//! The pool of running sessions and everything a host does to them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use tokio::sync::broadcast;

use super::capacity::{self, CapacityReport, MemoryReport, DEFAULT_SESSION_COST};
use super::event::{CapacityEvent, HostEvent, HostEventKind, QrState};
use super::fanout::Fanout;
use super::locks::SessionLocks;
use super::running::{Reservation, Running};
use super::webhook::{Backlog, WebhookConfig, WebhookTarget, Webhooks};
use super::HostError;
use crate::client::{self, Client, ClientConfig, ClientError, SentMessage, Status};
use crate::store::{
    valid_session_id, AuthStores, DataDir, FileStores, Leases, PgLeases, PgOutbox, PgRecords,
    PgStores, Postgres, PostgresConfig, SessionRecords, SessionRow, SqliteOutbox, SqliteRecords,
    StoreError, WebhookOutbox,
};
use crate::types::SharedClock;

/// How a host runs.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Root of all state: `DATA/wasp.db` and one directory per session
    /// (with `postgres`: the media spool only).
    pub data: PathBuf,
    /// Keep every session's auth state and the host's records in this
    /// PostgreSQL database instead of the data directory.
    pub postgres: Option<PostgresConfig>,
    /// Shared by every session.
    pub client: Arc<ClientConfig>,
    /// Explicit session limit; derived from the memory limit when unset.
    pub max_sessions: Option<usize>,
    /// Memory limit to derive capacity from; cgroup `memory.max` when unset.
    pub memory_limit: Option<u64>,
    /// Stored sessions started per second during restore.
    pub restore_per_sec: u32,
    /// The global webhook and the retry policy.
    pub webhooks: WebhookConfig,
    /// Wall-clock time for records, events and webhook retries; the
    /// sessions' own clock (`client.clock`) by default.
    pub clock: SharedClock,
    /// Media uploads and downloads in flight at once, across sessions;
    /// more are refused (`media_busy`) so files cannot push the process
    /// past its memory.
    pub max_media_transfers: usize,
    /// Converts voice notes that are not OGG/Opus (`--ffmpeg`); without
    /// it they are refused.
    pub voice_converter: Option<super::voice::VoiceConverter>,
    /// The cluster this host is a node of (`--redis`), connected;
    /// joined by [`Host::join_cluster`].
    pub cluster: Option<crate::cluster::Cluster>,
}

impl HostConfig {
    pub fn new(data: impl Into<PathBuf>, client: ClientConfig) -> HostConfig {
        HostConfig {
            data: data.into(),
            postgres: None,
            clock: client.clock.clone(),
            client: Arc::new(client),
            max_sessions: None,
            memory_limit: None,
            restore_per_sec: 100,
            webhooks: WebhookConfig::default(),
            max_media_transfers: 16,
            voice_converter: None,
            cluster: None,
        }
    }
}

/// Without any limit in force: the brief's target density.
const UNLIMITED_DEFAULT_SESSIONS: usize = 5_000;

/// Moves what an outbox in the data directory still had to send (a node
/// that ran without `--postgres` before) into the shared one.
fn move_local_outbox(
    db_path: &std::path::Path,
    shared: &dyn WebhookOutbox,
) -> Result<(), HostError> {
    if !db_path.exists() {
        return Ok(());
    }
    let moved = SqliteOutbox::open(db_path)?.move_pending_into(shared)?;
    if moved > 0 {
        tracing::info!(
            moved,
            "pending webhooks moved from the data directory to PostgreSQL"
        );
    }
    Ok(())
}

/// How often a node looks in a shared (PostgreSQL) outbox for webhooks
/// the other nodes left, such as those of a node that died.
const OUTBOX_SWEEP: Duration = Duration::from_secs(5);

/// What `POST /v1/sessions` asks for.
#[derive(Clone, Debug, Default, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// `[A-Za-z0-9_-]{1,64}`; generated when absent.
    pub id: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

/// A session as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub status: Status,
    pub jid: Option<String>,
    pub created_at: u64,
    pub last_error: Option<String>,
    pub webhook_url: Option<String>,
    /// In a cluster: the node it runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The session host. Share it as `Arc<Host>`.
pub struct Host {
    config: HostConfig,
    /// Every session's auth state.
    stores: Arc<dyn AuthStores>,
    pub(super) records: Box<dyn SessionRecords>,
    pub(super) fanout: Arc<Fanout>,
    pub(super) webhooks: Webhooks,
    pub(super) running: Running,
    /// Create, delete, logout, restart and restore of one session never
    /// interleave.
    pub(super) locks: SessionLocks,
    /// Configured, or derived from the memory limit and the budgeted
    /// per-session cost (which the monitor updates from measurement).
    max_sessions: AtomicUsize,
    /// Bytes budgeted per session for the derived capacity.
    session_budget: AtomicU64,
    memory_limit: Option<u64>,
    alert: AtomicBool,
    /// RSS when the host opened, before any session: the base that
    /// per-session cost is measured against.
    baseline_rss: Option<u64>,
    ready: AtomicBool,
    closing: AtomicBool,
    /// One permit per media transfer in flight.
    media_transfers: Arc<tokio::sync::Semaphore>,
    /// This host as a node of a cluster, when it is one.
    cluster: Option<super::cluster_state::ClusterNode>,
}

impl Host {
    /// Opens the data directory and the records; starts no session yet
    /// (see [`Host::restore`]).
    pub fn open(config: HostConfig) -> Result<Arc<Host>, HostError> {
        let data = DataDir::open(&config.data)?;
        let spool = &config.client.media_dir;
        super::media::prepare_spool(spool, spool.starts_with(&config.data));
        let db_path = data.path().join("wasp.db");
        let node_id = config.cluster.as_ref().map(|c| c.node_id().to_string());
        let mut leases: Option<Arc<dyn Leases>> = None;
        let mut outbox: Option<Arc<dyn WebhookOutbox>> = None;
        let (stores, records): (Arc<dyn AuthStores>, Box<dyn SessionRecords>) =
            match &config.postgres {
                Some(postgres) => {
                    let pg = Postgres::connect(postgres)?;
                    // In a cluster the state is shared, so sessions can
                    // move: each claim names this node, and its leases
                    // say which sessions are its own.
                    let stores = match &node_id {
                        Some(node) => {
                            leases = Some(Arc::new(PgLeases::new(pg.clone(), node)));
                            PgStores::for_node(pg.clone(), node)
                        }
                        None => PgStores::new(pg.clone()),
                    };
                    let deliverer = node_id.as_deref().unwrap_or("local");
                    outbox = Some(Arc::new(PgOutbox::new(pg.clone(), deliverer)));
                    (Arc::new(stores), Box::new(PgRecords::new(pg)))
                }
                None => (
                    Arc::new(FileStores::new(data)),
                    Box::new(SqliteRecords::open(&db_path)?),
                ),
            };
        // The outbox sits beside the records: in PostgreSQL every node
        // writes to it and delivers from it, looking for what the others
        // left every few seconds.
        let (outbox, sweep) = match outbox {
            Some(shared) => {
                move_local_outbox(&db_path, &*shared)?;
                (shared, Some(OUTBOX_SWEEP))
            }
            None => (
                Arc::new(SqliteOutbox::open(&db_path)?) as Arc<dyn WebhookOutbox>,
                None,
            ),
        };
        let webhooks = Webhooks::new(outbox, config.webhooks.clone(), config.clock.clone(), sweep);
        for record in records.all()? {
            webhooks.set_target(&record.id, target_of(&record));
        }
        let fanout = Arc::new(Fanout::new(webhooks.start(), config.clock.clone()));
        let memory_limit = config.memory_limit.or_else(capacity::cgroup_memory_limit);
        let max_media_transfers = config.max_media_transfers.max(1);
        let config_cluster = config.cluster.clone();
        let max_sessions = config.max_sessions.unwrap_or_else(|| match memory_limit {
            Some(limit) => capacity::derive_max_sessions(limit, DEFAULT_SESSION_COST),
            None => UNLIMITED_DEFAULT_SESSIONS,
        });
        Ok(Arc::new(Host {
            config,
            stores,
            records,
            fanout,
            webhooks,
            running: Running::default(),
            locks: SessionLocks::default(),
            max_sessions: AtomicUsize::new(max_sessions),
            session_budget: AtomicU64::new(DEFAULT_SESSION_COST),
            memory_limit,
            alert: AtomicBool::new(false),
            baseline_rss: capacity::process_rss(),
            ready: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            media_transfers: Arc::new(tokio::sync::Semaphore::new(max_media_transfers)),
            cluster: config_cluster.map(|c| super::cluster_state::ClusterNode::new(c, leases)),
        }))
    }

    /// Starts every stored session, paced (`restore_per_sec`, jittered) so
    /// thousands do not hit the server at once, and marks the host ready.
    /// Each session reads its own state: one stored as logged out ends at
    /// once as `logged_out` with the reason, an unreadable one as `failed`
    /// with the error; neither connects nor counts against capacity.
    pub async fn restore(self: &Arc<Self>) -> Result<usize, HostError> {
        let pace = Duration::from_secs(1) / self.config.restore_per_sec.max(1);
        let mut started = 0;
        // A node that runs no session (a cluster's router) restores none.
        let records = match self.config.max_sessions {
            Some(0) => Vec::new(),
            _ => self.records.all()?,
        };
        // With leases, the sessions this node holds; the free ones are
        // adopted once restore is done.
        let held = self.held_here().await?;
        for record in records {
            if self.closing.load(Ordering::Relaxed) {
                break;
            }
            {
                // Deleted, or started by a restart or a logout, since the
                // list was read: leave it.
                let _lock = self.locks.lock(&record.id).await;
                let gone = self.records.get(&record.id)?.is_none();
                if gone || self.running.get(&record.id).is_some() {
                    continue;
                }
                // In a cluster whose nodes share the records, the node
                // that runs a session restores it, no other.
                if !self.claim_restored(&record.id, held.as_ref()).await {
                    continue;
                }
                match self.start(&record.id) {
                    Err(HostError::ShuttingDown) => break,
                    // Adopted by another node since this one listed it.
                    Err(HostError::Store(StoreError::Taken { node, .. })) => {
                        tracing::info!(session = %record.id, %node, "taken over meanwhile");
                        continue;
                    }
                    started => started?,
                }
            }
            started += 1;
            let jitter = rand::thread_rng().gen_range(0.5..1.5);
            tokio::time::sleep(pace.mul_f64(jitter)).await;
        }
        self.ready.store(true, Ordering::Relaxed);
        self.check_capacity();
        tracing::info!(started, "restore finished");
        Ok(started)
    }

    /// Every stored session was started, and the cluster (when this host
    /// is a node of one) answered the last heartbeat.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
            && self
                .cluster
                .as_ref()
                .is_none_or(|c| c.reachable() && c.leased())
    }

    /// Shutting down: no session starts any more.
    pub(super) fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// The pace of restores (and of adoptions in a cluster): sessions
    /// started per second.
    pub(super) fn restore_rate(&self) -> u32 {
        self.config.restore_per_sec.max(1)
    }

    /// Places left under the session limit.
    pub(super) fn free_places(&self) -> usize {
        self.max_sessions().saturating_sub(self.session_count())
    }

    /// Every stored session was started (whatever the cluster says).
    pub fn is_restored(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub(super) fn cluster_node(&self) -> Option<&super::cluster_state::ClusterNode> {
        self.cluster.as_ref()
    }

    /// Creates and starts a new session. Refused past capacity: running
    /// sessions are never touched by an admission. The capacity check
    /// reserves a place at once, so concurrent creates cannot overshoot.
    pub fn create(&self, request: CreateSession) -> Result<SessionInfo, HostError> {
        if self.closing.load(Ordering::Relaxed) {
            return Err(HostError::ShuttingDown);
        }
        let id = match request.id {
            Some(id) if valid_session_id(&id) => id,
            Some(id) => return Err(HostError::InvalidId(id)),
            None => new_session_id(),
        };
        if let Some(url) = &request.webhook_url {
            validate_webhook_url(url)?;
            self.webhooks.check_url(url)?;
        }
        // Busy: a delete (or another lifecycle step) of a session with
        // this id is under way.
        let _lock = self
            .locks
            .try_lock(&id)
            .ok_or_else(|| HostError::AlreadyExists(id.clone()))?;
        let max = self.max_sessions();
        let reservation = self
            .running
            .reserve(max)
            .ok_or(HostError::CapacityExhausted { max })?;
        let record = SessionRow {
            id: id.clone(),
            created_at: self.config.clock.unix_secs(),
            webhook_url: request.webhook_url,
            webhook_secret: request.webhook_secret,
        };
        if !self.records.insert(&record)? {
            return Err(HostError::AlreadyExists(id));
        }
        self.webhooks.set_target(&id, target_of(&record));
        // A directory left by an earlier session of the same id would log
        // in as that account: a new session starts clean.
        self.stores.remove(&id)?;
        self.admit(reservation, &id)?;
        self.check_capacity();
        self.get(&id)
    }

    pub fn list(&self) -> Result<Vec<SessionInfo>, HostError> {
        let records = self.records.all()?;
        Ok(records.into_iter().map(|r| self.info(r)).collect())
    }

    pub fn get(&self, id: &str) -> Result<SessionInfo, HostError> {
        let record = self
            .records
            .get(id)?
            .ok_or_else(|| HostError::NotFound(id.to_string()))?;
        Ok(self.info(record))
    }

    /// Logs the session out (when it runs), wipes its state and forgets it,
    /// with the webhook deliveries still pending for it.
    pub async fn delete(&self, id: &str) -> Result<(), HostError> {
        let _lock = self.lock_existing(id).await?;
        if let Some(client) = self.running.take(id) {
            if let Err(e) = client.logout().await {
                tracing::warn!(session = id, error = %e, "logout before delete failed");
                client.shutdown().await;
            }
        }
        // The record goes first: a crash before the directory is removed
        // leaves an unused directory (a new session of this id removes
        // it), never a record that would come back as a fresh session.
        self.records.remove(id)?;
        // Events the session emitted until now are in the outbox before
        // its rows go, so none is written after the drop.
        self.webhooks.set_target(id, None);
        self.fanout.flush().await;
        self.webhooks.drop_session(id)?;
        self.stores.remove(id)?;
        self.fanout.forget(id);
        self.check_capacity();
        self.release_session(id).await;
        Ok(())
    }

    /// Unlinks the device; the record stays (status `logged_out`).
    pub async fn logout(&self, id: &str) -> Result<SessionInfo, HostError> {
        let _lock = self.lock_existing(id).await?;
        let running = self.running.get(id).filter(|c| !c.status().is_terminal());
        let unlinked = match running {
            Some(client) => client.logout().await,
            None => Err(ClientError::Stopped),
        };
        match unlinked {
            Ok(()) => {}
            // No task runs (any more: it may have stopped on its own
            // meanwhile): unlink on disk, then start the session so that it
            // reports `logged_out` from its state.
            Err(ClientError::Stopped) => {
                if self.closing.load(Ordering::Relaxed) {
                    return Err(HostError::ShuttingDown);
                }
                // A session whose state is gone (a crash before its first
                // write, an operator's cleanup) has nothing to keep; one
                // already unlinked keeps its stored reason.
                client::log_out_stored(&*self.stores.open(id)?, "logged out by the host")?;
                self.start(id)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.get(id)
    }

    /// Stops the session (if it runs) and starts it again from its state.
    pub async fn restart(&self, id: &str) -> Result<SessionInfo, HostError> {
        let _lock = self.lock_existing(id).await?;
        if let Some(client) = self.running.take(id) {
            client.shutdown().await;
        }
        self.start(id)?;
        self.get(id)
    }

    /// Session `id`'s lifecycle lock, once it is sure the session exists
    /// (a delete may have finished while this waited).
    async fn lock_existing(&self, id: &str) -> Result<super::locks::SessionGuard<'_>, HostError> {
        self.get(id)?;
        let lock = self.locks.lock(id).await;
        self.get(id)?;
        Ok(lock)
    }

    pub fn qr(&self, id: &str) -> Result<Option<QrState>, HostError> {
        self.get(id)?;
        Ok(self.fanout.qr(id))
    }

    pub async fn pair_code(&self, id: &str, phone: &str) -> Result<String, HostError> {
        Ok(self.running_client(id)?.request_pair_code(phone).await?)
    }

    pub async fn send_text(
        &self,
        id: &str,
        to: &str,
        text: &str,
    ) -> Result<SentMessage, HostError> {
        let sent = self.connected_client(id)?.send_text(to, text).await?;
        self.fanout
            .counters
            .messages_out
            .fetch_add(1, Ordering::Relaxed);
        Ok(sent)
    }

    /// Read receipts for `ids` of `chat`; `sender` names the member in a
    /// group.
    /// Uploads `file` and sends it to `to` from session `id`.
    pub async fn send_file(
        &self,
        id: &str,
        to: &str,
        file: super::media::SendFile,
    ) -> Result<SentMessage, HostError> {
        let client = self.connected_client(id)?;
        let convert = self.config.voice_converter.is_some();
        let (file, source) = file.into_outgoing(convert)?;
        let _transfer = self.media_permit()?;
        match source {
            super::media::Source::Data(data) => {
                self.send_prepared(&client, to, file, data.as_slice()).await
            }
            super::media::Source::Url {
                url,
                mimetype_given,
            } => {
                let webhooks = &self.config.webhooks;
                let rules = super::media_fetch::FetchRules {
                    guard: &webhooks.guard,
                    extra_roots: &webhooks.extra_roots,
                    connect_timeout: webhooks.connect_timeout,
                    max_bytes: self.config.client.max_media_bytes,
                };
                let fetched = super::media_fetch::fetch(&url, &rules).await?;
                let mut file = file;
                let body = super::media::first_bytes(
                    &mut file,
                    mimetype_given,
                    convert,
                    fetched.body,
                    fetched.content_type,
                )
                .await?;
                self.send_prepared(&client, to, file, body).await
            }
        }
    }

    /// Uploads a file whose bytes stream in as `body` (a multipart form's
    /// file part; `content_type` as the part declared it) and sends it to
    /// `to` from session `id`. `file` says the rest (no data or url).
    pub async fn send_file_stream<R: tokio::io::AsyncRead + Unpin>(
        &self,
        id: &str,
        to: &str,
        file: super::media::SendFile,
        body: R,
        content_type: Option<String>,
    ) -> Result<SentMessage, HostError> {
        let client = self.connected_client(id)?;
        let convert = self.config.voice_converter.is_some();
        let (mut file, mimetype_given) = file.into_streamed(convert)?;
        let _transfer = self.media_permit()?;
        let body =
            super::media::first_bytes(&mut file, mimetype_given, convert, body, content_type)
                .await?;
        self.send_prepared(&client, to, file, body).await
    }

    /// Sends a checked file: a voice note through the converter first,
    /// when there is one.
    async fn send_prepared<R: tokio::io::AsyncRead + Unpin>(
        &self,
        client: &Client,
        to: &str,
        mut file: crate::client::media::OutgoingFile,
        body: R,
    ) -> Result<SentMessage, HostError> {
        let sent = match &self.config.voice_converter {
            Some(converter) if file.voice_note => {
                let config = &self.config.client;
                let converted = converter
                    .convert(
                        body,
                        &config.media_dir,
                        config.max_media_bytes,
                        config.media_stall_timeout,
                    )
                    .await?;
                file.mimetype = super::voice::OGG_OPUS.to_string();
                file.waveform = converted.waveform.map(|bars| bars.to_vec());
                // The spool file goes when `converted` does, after the send.
                client.send_file(to, file, converted.file).await?
            }
            _ => client.send_file(to, file, body).await?,
        };
        self.fanout
            .counters
            .messages_out
            .fetch_add(1, Ordering::Relaxed);
        Ok(sent)
    }

    /// A received file (a message event's `media`) fetched, checked and
    /// decrypted by session `id`, as a stream.
    pub async fn download_media(
        &self,
        id: &str,
        media: crate::client::IncomingMedia,
    ) -> Result<super::media::MediaDownload, HostError> {
        let client = self.connected_client(id)?;
        let transfer = self.media_permit()?;
        Ok(super::media::download(client, media, transfer).await?)
    }

    /// The file of received message `message_id`, by the record session
    /// `id` kept of it, fetched, checked and decrypted as a stream. When
    /// the media hosts no longer have it, the session's phone is asked to
    /// upload it again (up to `REUPLOAD_TIMEOUT`), and the new copy is
    /// fetched.
    pub async fn download_message_media(
        &self,
        id: &str,
        message_id: &str,
    ) -> Result<super::media::MediaDownload, HostError> {
        let client = self.connected_client(id)?;
        let media = client
            .received_media(message_id)
            .await?
            .ok_or_else(|| HostError::Session {
                kind: super::SessionErrorKind::UnknownMessage,
                message: format!(
                    "no file kept for message {message_id:?} (not received by this session, \
                     not a file, or older than the media retention)"
                ),
            })?;
        let transfer = self.media_permit()?;
        match super::media::download(client.clone(), media, transfer).await {
            Err(ClientError::MediaGone(why)) => {
                // The hosts forgot the file: our phone may still have it
                // and upload it again (WhatsApp's media retry).
                tracing::info!(session = id, message_id, %why, "media gone; asking the phone to upload it again");
                let media = client.reupload_media(message_id).await?;
                let transfer = self.media_permit()?;
                Ok(super::media::download(client, media, transfer).await?)
            }
            downloaded => Ok(downloaded?),
        }
    }

    /// A media transfer may start: one of `max_media_transfers` permits,
    /// held until it ends.
    fn media_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, HostError> {
        self.media_transfers
            .clone()
            .try_acquire_owned()
            .map_err(|_| HostError::Session {
                kind: super::SessionErrorKind::MediaBusy,
                message: format!(
                    "{} media transfers are in flight already; try again shortly",
                    self.config.max_media_transfers
                ),
            })
    }

    pub async fn mark_read(
        &self,
        id: &str,
        chat: &str,
        sender: Option<&str>,
        ids: &[String],
    ) -> Result<(), HostError> {
        Ok(self
            .connected_client(id)?
            .mark_read_from(chat, sender, ids)
            .await?)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HostEvent> {
        self.fanout.subscribe()
    }

    pub fn capacity(&self) -> CapacityReport {
        let sessions = self.session_count();
        let rss = capacity::process_rss();
        CapacityReport {
            sessions,
            max_sessions: self.max_sessions(),
            utilization: capacity::utilization(
                sessions as u64,
                self.max_sessions() as u64,
                rss,
                self.memory_limit,
            ),
            memory: MemoryReport {
                rss_bytes: rss,
                limit_bytes: self.memory_limit,
                per_session_bytes: self.session_budget.load(Ordering::Relaxed),
                measured_per_session_bytes: capacity::measured_cost(
                    rss,
                    self.baseline_rss,
                    sessions,
                ),
            },
            alert: self.alert.load(Ordering::Relaxed),
            media_transfers: self
                .config
                .max_media_transfers
                .max(1)
                .saturating_sub(self.media_transfers.available_permits()),
            max_media_transfers: self.config.max_media_transfers.max(1),
        }
    }

    pub(super) fn max_sessions(&self) -> usize {
        self.max_sessions.load(Ordering::Relaxed)
    }

    /// With a derived capacity: budgets sessions at what they measurably
    /// cost here once that is more than the default, and derives
    /// `max_sessions` again. Running sessions are never touched; only
    /// admissions see the new limit. Returns whether the limit changed.
    fn refresh_budget(&self, report: &CapacityReport) -> bool {
        let (None, Some(limit)) = (self.config.max_sessions, self.memory_limit) else {
            return false;
        };
        let budget =
            capacity::budget_cost(report.memory.measured_per_session_bytes, report.sessions);
        if self.session_budget.swap(budget, Ordering::Relaxed) != budget {
            let max = capacity::derive_max_sessions(limit, budget);
            self.max_sessions.store(max, Ordering::Relaxed);
            tracing::info!(budget, max, "per-session budget follows the measured cost");
            return true;
        }
        false
    }

    /// Raises or clears the capacity alert (log, event) on a change.
    /// Called on every admission and removal, and by the monitor (which
    /// also updates the per-session budget from measurement).
    pub fn check_capacity(&self) {
        let mut report = self.capacity();
        if self.refresh_budget(&report) {
            report = self.capacity();
        }
        let raised = self.alert.load(Ordering::Relaxed);
        let Some(raise) = capacity::next_alert(raised, report.utilization) else {
            return;
        };
        if self.alert.swap(raise, Ordering::Relaxed) == raise {
            return; // another caller got there first
        }
        let (sessions, max_sessions, utilization) =
            (report.sessions, report.max_sessions, report.utilization);
        let event = if raise {
            tracing::warn!(
                sessions,
                max_sessions,
                utilization,
                "capacity alert: past 80%"
            );
            CapacityEvent::Alert {
                sessions,
                max_sessions,
                utilization,
                node: self.node_id().map(str::to_string),
            }
        } else {
            tracing::info!(sessions, max_sessions, utilization, "capacity recovered");
            CapacityEvent::Recovered {
                sessions,
                max_sessions,
                utilization,
                node: self.node_id().map(str::to_string),
            }
        };
        self.fanout.publish(None, HostEventKind::Capacity(event));
    }

    /// Samples memory every `period` for as long as the host lives, so a
    /// memory-driven alert is raised even without admissions.
    pub fn spawn_monitor(self: &Arc<Self>, period: Duration) {
        let host = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                match host.upgrade() {
                    Some(host) if !host.closing.load(Ordering::Relaxed) => host.check_capacity(),
                    _ => break,
                }
            }
        });
    }

    /// Refuses new sessions and shuts every running one down cleanly
    /// (their state stays for the next start).
    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::Relaxed);
        let clients = self.running.drain();
        let closing = clients.iter().map(|c| c.shutdown());
        futures_util::future::join_all(closing).await;
        // Every event the sessions emitted is in the outbox before we go.
        self.fanout.flush().await;
    }

    /// Process-lifetime counters for /metrics: reconnects, messages and
    /// receipts received, undecryptable messages, webhook deliveries and
    /// failed attempts.
    pub fn counters(&self) -> Counters {
        let c = &self.fanout.counters;
        let (webhooks_delivered, webhooks_failed) = self.webhooks.attempts();
        Counters {
            reconnects: c.reconnects.load(Ordering::Relaxed),
            messages_in: c.messages_in.load(Ordering::Relaxed),
            messages_out: c.messages_out.load(Ordering::Relaxed),
            receipts_in: c.receipts_in.load(Ordering::Relaxed),
            undecryptable: c.undecryptable.load(Ordering::Relaxed),
            webhooks_delivered,
            webhooks_failed,
        }
    }

    /// Webhook deliveries not made yet.
    pub fn pending_webhooks(&self) -> Result<u64, HostError> {
        self.webhooks.pending()
    }

    /// Deliveries pending for session `id`'s own webhook, and why the
    /// oldest one last failed (a deleted session has none).
    pub fn webhook_backlog(&self, id: &str) -> Result<Backlog, HostError> {
        self.webhooks.backlog(id)
    }

    /// Runs session `id` (replacing a task that ended); not once the host
    /// is shutting down.
    pub(super) fn start(&self, id: &str) -> Result<(), HostError> {
        if self.closing.load(Ordering::Relaxed) {
            return Err(HostError::ShuttingDown);
        }
        let client = self.spawn(id)?;
        self.running.insert(id, client);
        Ok(())
    }

    /// Runs a new session in the place `reservation` holds.
    fn admit(&self, reservation: Reservation<'_>, id: &str) -> Result<(), HostError> {
        let client = self.spawn(id)?;
        self.running.admit(reservation, id, client);
        Ok(())
    }

    /// Claims the session's state (see `AuthStores::claim`: any earlier
    /// writer of it is fenced) and runs it.
    fn spawn(&self, id: &str) -> Result<Client, HostError> {
        self.stores.claim(id)?;
        Ok(Client::spawn(
            id.to_string(),
            self.config.client.clone(),
            self.stores.clone(),
            self.fanout.clone(),
        ))
    }

    fn info(&self, record: SessionRow) -> SessionInfo {
        let snapshot = self.client(&record.id).map(|c| c.snapshot());
        let (status, jid, last_error) = match snapshot {
            Some(s) => (s.status, s.jid, s.last_error),
            None => (Status::Stopped, None, None),
        };
        SessionInfo {
            id: record.id,
            status,
            jid,
            created_at: record.created_at,
            last_error,
            webhook_url: record.webhook_url,
            node: self.cluster_node().map(|c| c.cluster.node_id().to_string()),
        }
    }

    /// Sessions counted against capacity: those with a live task.
    fn session_count(&self) -> usize {
        self.running.live()
    }

    fn client(&self, id: &str) -> Option<Client> {
        self.running.get(id)
    }

    fn running_client(&self, id: &str) -> Result<Client, HostError> {
        // A running client has its record (a delete takes the client out
        // first), so the record is read only to tell a session that does
        // not exist (404) from one that does not run (409): the profile
        // of `wasp bench` showed this SQLite read as 4% of a text's CPU.
        if let Some(client) = self.client(id).filter(|c| !c.status().is_terminal()) {
            return Ok(client);
        }
        self.get(id)?;
        Err(HostError::from(ClientError::NotConnected))
    }

    /// Messages need a logged-in session: anything else is a clear 409
    /// rather than a wait.
    pub(super) fn connected_client(&self, id: &str) -> Result<Client, HostError> {
        let client = self.running_client(id)?;
        if client.status() == Status::Connected {
            Ok(client)
        } else {
            Err(HostError::from(ClientError::NotConnected))
        }
    }
}

/// See [`Host::counters`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub reconnects: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub receipts_in: u64,
    pub undecryptable: u64,
    pub webhooks_delivered: u64,
    pub webhooks_failed: u64,
}

/// Webhooks go to `http://` or `https://host[:port]/path` URLs.
pub fn validate_webhook_url(url: &str) -> Result<(), HostError> {
    super::webhook::validate_url(url)
}

pub(super) fn target_of(record: &SessionRow) -> Option<WebhookTarget> {
    record.webhook_url.as_ref().map(|url| WebhookTarget {
        url: url.clone(),
        secret: record.webhook_secret.clone(),
    })
}

pub(super) fn new_session_id() -> String {
    let bytes: [u8; 8] = rand::thread_rng().gen();
    hex::encode(bytes)
}
