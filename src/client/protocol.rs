//! The session's protocol logic without I/O: stanzas, commands and timer
//! ticks go in, [`Action`]s come out in the order they must happen. The
//! run loop ([`super::run`]) executes them; tests drive this directly
//! with plain nodes. CPU-heavy steps (PBKDF2 for linking codes) leave as
//! [`Action::Blocking`]: the run loop runs them on the blocking pool and
//! hands the result back through [`Protocol::on_work_done`].

mod messaging_flow;
mod pair_code_flow;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::config::ClientConfig;
use super::creds::Creds;
use super::events::{Event, Status};
use super::iq::{IqKind, IqTracker};
use super::pair_code::{self, CompanionFinish, CompanionHello, PairCodeError};
use super::pairing::{pair_error_reply, pair_sign_reply, verify_pair_success};
use super::{qr, stanzas, ClientError};
use crate::signal::{generate_prekeys, next_prekey_id, PreKey};
use crate::store::SessionDir;
use crate::wire::Node;

/// Completion signal for a command that ends or changes the session.
pub type Done = oneshot::Sender<Result<(), ClientError>>;

/// What the host asks a session to do.
pub enum Command {
    PairCode {
        phone: String,
        reply: oneshot::Sender<Result<String, ClientError>>,
    },
    Logout {
        done: Done,
    },
    Shutdown {
        done: Done,
    },
    SendNode {
        node: Node,
        done: Done,
    },
    SendIq {
        node: Node,
        reply: oneshot::Sender<Result<Node, ClientError>>,
    },
    SendText {
        to: String,
        text: String,
        quoted: Option<crate::proto::text::Quote>,
        reply: messaging_flow::SendReply,
    },
    MarkRead {
        chat: String,
        ids: Vec<String>,
        done: Done,
    },
}

/// CPU-heavy or disk work that must not run on the async workers; it
/// gets the session's directory.
pub struct Work(Box<dyn FnOnce(&SessionDir) -> WorkDone + Send>);

impl Work {
    fn new(work: impl FnOnce(&SessionDir) -> WorkDone + Send + 'static) -> Self {
        Work(Box::new(work))
    }

    /// Does the work (slow: call it from `spawn_blocking`).
    pub fn run(self, dir: &SessionDir) -> WorkDone {
        (self.0)(dir)
    }
}

/// The outcome of a [`Work`], for [`Protocol::on_work_done`].
pub enum WorkDone {
    PairCodeHello(Result<CompanionHello, PairCodeError>),
    PairCodeFinish {
        pairing_ref: Vec<u8>,
        iq_id: String,
        result: Result<CompanionFinish, PairCodeError>,
    },
    SendPlanned {
        message_id: String,
        result: Result<crate::client::messaging::Plan, ClientError>,
    },
    SendEncrypted {
        message_id: String,
        result: Result<crate::client::messaging::Encrypted, ClientError>,
    },
    Received {
        incoming: crate::client::messaging::Incoming,
        result: Result<crate::client::messaging::Received, ClientError>,
    },
}

/// One step for the run loop.
pub enum Action {
    Send(Node),
    /// Run this off the async workers, then feed its result to
    /// [`Protocol::on_work_done`] before anything else reaches the
    /// protocol; the actions that returns come before the ones after this.
    Blocking(Work),
    /// Send, then report the outcome to the caller.
    SendFor(Node, Done),
    Emit(Event),
    Status(Status),
    /// Persist the current credentials (before anything that follows).
    SaveCreds,
    /// Persist freshly generated one-time prekeys.
    StorePreKeys(Vec<PreKey>),
    /// The current connection is over.
    End(Ending),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
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

struct QrRotation {
    refs: VecDeque<String>,
    deadline: Instant,
}

pub struct Protocol {
    config: Arc<ClientConfig>,
    creds: Creds,
    phase: Phase,
    iqs: IqTracker,
    qr: Option<QrRotation>,
    /// A linking-code attempt; the QR rotation pauses while it lives.
    pair_code: Option<pair_code_flow::CodeFlow>,
    next_ping: Option<Instant>,
    /// Texts being sent.
    sends: messaging_flow::Sends,
}

impl Protocol {
    pub fn new(creds: Creds, config: Arc<ClientConfig>) -> Self {
        Protocol {
            config,
            creds,
            phase: Phase::Offline,
            iqs: IqTracker::new(),
            qr: None,
            pair_code: None,
            next_ping: None,
            sends: Default::default(),
        }
    }

    pub fn creds(&self) -> &Creds {
        &self.creds
    }

    /// Whether the last connection had reached a state the host saw as
    /// online (showing QR codes or logged in).
    pub fn was_online(&self) -> bool {
        matches!(self.phase, Phase::Pairing | Phase::Connected)
    }

    /// A handshake completed.
    pub fn on_connected(&mut self) {
        self.phase = Phase::Handshaken;
    }

    /// The connection is gone: forget per-connection state and fail the
    /// iqs that were waiting on it.
    pub fn on_disconnected(&mut self) {
        self.phase = Phase::Offline;
        self.qr = None;
        if let Some(flow) = self.pair_code.take() {
            flow.fail(ClientError::NotConnected);
        }
        self.next_ping = None;
        for kind in self.iqs.drain() {
            if let IqKind::External(reply) = kind {
                let _ = reply.send(Err(ClientError::NotConnected));
            }
        }
        self.sends.on_disconnected();
    }

    /// The socket failed or closed under us.
    pub fn on_connection_lost(&mut self, reason: String) -> Vec<Action> {
        if let Some(done) = self.take_pending_logout() {
            // The user asked to unlink; a dead socket does not change that.
            return vec![Action::End(Ending::LoggedOut {
                reason: "logout".into(),
                done,
            })];
        }
        vec![Action::End(Ending::Reconnect { reason, penalty: 0 })]
    }

    /// When the run loop must call [`Protocol::on_timer`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.next_ping,
            self.qr
                .as_ref()
                .filter(|_| self.pair_code.is_none())
                .map(|q| q.deadline),
            self.pair_code.as_ref().and_then(|f| f.deadline()),
            self.iqs.earliest_deadline(),
            self.messaging_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        // Every expired waiter is answered before the connection may end.
        let mut ending = None;
        for kind in self.iqs.expired(now) {
            match kind {
                IqKind::Logout { done } => {
                    tracing::warn!("logout not confirmed by the server in time; wiping anyway");
                    ending = Some(Ending::LoggedOut {
                        reason: "logout".into(),
                        done,
                    });
                }
                IqKind::Ping => {
                    if ending.is_none() {
                        ending = Some(Ending::Reconnect {
                            reason: "keepalive timeout".into(),
                            penalty: 0,
                        });
                    }
                }
                IqKind::External(reply) => {
                    let _ = reply.send(Err(ClientError::Timeout));
                }
                IqKind::SetActive
                | IqKind::PreKeyCount
                | IqKind::PreKeyUpload { .. }
                | IqKind::RotateSignedPreKey => {
                    tracing::warn!("post-login iq timed out");
                }
                IqKind::SendDevices { message_id } | IqKind::SendBundles { message_id } => {
                    out.extend(self.fail_send_timeout(&message_id));
                }
                IqKind::PairCodeHello => out.extend(self.on_pair_code_hello_answer(None, now)),
                // Silence after companion_finish is the pair-success
                // timer's to judge.
                IqKind::PairCodeFinish => tracing::warn!("companion_finish unanswered"),
            }
        }
        if let Some(ending) = ending {
            out.push(Action::End(ending));
            return out;
        }
        self.on_send_timer(now);
        let written_off = self.on_pair_code_timer(now);
        if !written_off.is_empty() {
            out.extend(written_off);
            return out;
        }
        if self.pair_code.is_none() && self.qr.as_ref().is_some_and(|q| q.deadline <= now) {
            self.rotate_qr(now, &mut out);
        }
        if self.next_ping.is_some_and(|t| t <= now) {
            self.next_ping = None;
            let id = self.iqs.next_id();
            out.push(Action::Send(stanzas::ping(&id)));
            self.iqs
                .track(id, IqKind::Ping, now + self.config.keepalive_timeout);
        }
        out
    }

    pub fn on_command(&mut self, command: Command, now: Instant) -> Vec<Action> {
        let online = self.phase != Phase::Offline;
        match command {
            Command::PairCode { phone, reply } => self.start_pair_code(&phone, reply),
            Command::Shutdown { done } => vec![Action::End(Ending::Stop {
                failed: false,
                reason: "shutdown".into(),
                done: Some(done),
            })],
            Command::Logout { done } => {
                let jid = self.creds.jid().map(str::to_string);
                match (self.phase, jid) {
                    (Phase::Connected, Some(jid)) => {
                        let id = self.iqs.next_id();
                        let node = stanzas::remove_companion_device(&id, &jid);
                        self.iqs.track(
                            id,
                            IqKind::Logout { done: Some(done) },
                            now + self.config.logout_timeout,
                        );
                        vec![Action::Send(node)]
                    }
                    // Not online (or never linked): nothing to tell the
                    // server; unlink locally.
                    _ => vec![Action::End(Ending::LoggedOut {
                        reason: "logout".into(),
                        done: Some(done),
                    })],
                }
            }
            Command::SendNode { node, done } => {
                if online {
                    vec![Action::SendFor(node, done)]
                } else {
                    let _ = done.send(Err(ClientError::NotConnected));
                    Vec::new()
                }
            }
            Command::SendIq { node, reply } => {
                if !online {
                    let _ = reply.send(Err(ClientError::NotConnected));
                    return Vec::new();
                }
                let id = self.iqs.next_id();
                let mut node = node;
                node.attrs.retain(|(k, _)| k != "id");
                node.attrs.push(("id".into(), id.clone()));
                self.iqs
                    .track(id, IqKind::External(reply), now + self.config.iq_timeout);
                vec![Action::Send(node)]
            }
            Command::SendText {
                to,
                text,
                quoted,
                reply,
            } => self.start_send(&to, text, quoted, reply, now),
            Command::MarkRead { chat, ids, done } => self.mark_read(&chat, &ids, done),
        }
    }

    /// The result of an [`Action::Blocking`].
    pub fn on_work_done(&mut self, done: WorkDone, now: Instant) -> Vec<Action> {
        match done {
            WorkDone::PairCodeHello(result) => self.on_pair_code_hello_ready(result, now),
            WorkDone::PairCodeFinish {
                pairing_ref,
                iq_id,
                result,
            } => self.on_pair_code_finish_ready(pairing_ref, iq_id, result, now),
            WorkDone::SendPlanned { message_id, result } => {
                self.on_send_planned(message_id, result, now)
            }
            WorkDone::SendEncrypted { message_id, result } => {
                self.on_send_encrypted(message_id, result, now)
            }
            WorkDone::Received { incoming, result } => self.on_received(incoming, result),
        }
    }

    pub fn on_node(&mut self, node: &Node, now: Instant) -> Vec<Action> {
        match node.tag.as_str() {
            "iq" => self.on_iq(node, now),
            "success" => self.on_success(node, now),
            "failure" => on_failure(node),
            "stream:error" => on_stream_error(node),
            "xmlstreamend" => vec![Action::End(Ending::Reconnect {
                reason: "server ended the stream".into(),
                penalty: 0,
            })],
            "ib" => self.on_ib(node),
            "notification" if pair_code::is_pair_code_notification(node) => {
                self.on_pair_code_notification(node)
            }
            "message" if self.phase == Phase::Connected => self.on_message(node),
            "receipt" => self.on_receipt(node),
            "notification" => {
                let mut out: Vec<Action> =
                    stanzas::ack(node).map(Action::Send).into_iter().collect();
                // `<notification type="encrypt"><count value=N/>`: the server
                // is running low on our one-time prekeys (whatsmeow
                // `handleEncryptNotification`).
                let low = node.get_attr("type") == Some("encrypt")
                    && node
                        .child("count")
                        .and_then(|c| c.get_attr("value"))
                        .and_then(|v| v.parse::<u32>().ok())
                        .is_some_and(|n| n < self.config.prekey_min_count);
                if low && self.phase == Phase::Connected {
                    out.extend(self.upload_prekeys(now));
                }
                // `<notification type="devices" from=user>`: that user
                // linked or removed a device (whatsmeow
                // `handleDeviceNotification`); ask again on the next send.
                if node.get_attr("type") == Some("devices") {
                    if let Some(user) = node
                        .get_attr("from")
                        .and_then(crate::client::messaging::DeviceAddress::parse)
                    {
                        self.sends.device_lists.forget(&user.user_jid());
                    }
                }
                out
            }
            "call" => {
                // Acked so the server stops redelivering; calls are not
                // handled.
                stanzas::ack(node).map(Action::Send).into_iter().collect()
            }
            "ack" => self.on_ack(node),
            other => {
                tracing::debug!(tag = other, "ignoring stanza");
                Vec::new()
            }
        }
    }

    fn on_iq(&mut self, iq: &Node, now: Instant) -> Vec<Action> {
        let kind = iq.get_attr("type").unwrap_or_default();
        if kind == "result" || kind == "error" {
            let waiter = iq.get_attr("id").and_then(|id| self.iqs.take(id));
            return match waiter {
                Some(waiter) => self.on_iq_response(waiter, iq, now),
                None => {
                    tracing::debug!("response to an unknown iq");
                    Vec::new()
                }
            };
        }
        if kind == "get" && iq.get_attr("xmlns") == Some("urn:xmpp:ping") {
            return stanzas::iq_result(iq)
                .map(Action::Send)
                .into_iter()
                .collect();
        }
        let from_server = iq.get_attr("from") == Some(stanzas::SERVER_JID);
        if kind == "set" && from_server {
            if let Some(pair_device) = iq.child("pair-device") {
                return self.on_pair_device(iq, pair_device, now);
            }
            if let Some(pair_success) = iq.child("pair-success") {
                return self.on_pair_success(iq, pair_success);
            }
        }
        tracing::debug!(kind, "ignoring iq");
        Vec::new()
    }

    fn on_iq_response(&mut self, waiter: IqKind, iq: &Node, now: Instant) -> Vec<Action> {
        let ok = iq.get_attr("type") == Some("result");
        match waiter {
            IqKind::Ping => {
                self.schedule_ping(now);
                Vec::new()
            }
            IqKind::SetActive => {
                if !ok {
                    tracing::warn!("server refused the active iq");
                }
                Vec::new()
            }
            IqKind::RotateSignedPreKey => {
                if !ok {
                    // Kept anyway: bundles the server hands out still name
                    // the previous key, which we keep.
                    tracing::warn!("server refused the signed prekey rotation");
                }
                Vec::new()
            }
            IqKind::PreKeyCount => {
                if !ok {
                    tracing::warn!("server refused the prekey count iq");
                    return Vec::new();
                }
                let count = iq
                    .child("count")
                    .and_then(|c| c.get_attr("value"))
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0);
                if count < self.config.prekey_min_count {
                    self.upload_prekeys(now)
                } else {
                    Vec::new()
                }
            }
            IqKind::PreKeyUpload { next_id } => {
                if ok {
                    self.creds.first_unuploaded_prekey_id = next_id;
                    vec![Action::SaveCreds]
                } else {
                    tracing::warn!("server refused the prekey upload");
                    Vec::new()
                }
            }
            IqKind::Logout { done } => vec![Action::End(Ending::LoggedOut {
                reason: "logout".into(),
                done,
            })],
            IqKind::SendDevices { message_id } => self.on_send_devices(&message_id, iq, now),
            IqKind::SendBundles { message_id } => self.on_send_bundles(message_id, iq),
            IqKind::PairCodeHello => self.on_pair_code_hello_answer(Some(iq), now),
            IqKind::PairCodeFinish => self.on_pair_code_finish_answer(iq),
            IqKind::External(reply) => {
                let _ = reply.send(if ok {
                    Ok(iq.clone())
                } else {
                    Err(iq_error(iq))
                });
                Vec::new()
            }
        }
    }

    fn on_pair_device(&mut self, iq: &Node, pair_device: &Node, now: Instant) -> Vec<Action> {
        let mut out: Vec<Action> = stanzas::iq_result(iq)
            .map(Action::Send)
            .into_iter()
            .collect();
        if self.creds.paired.is_some() {
            tracing::warn!("pair-device for an already linked device; ignored");
            return out;
        }
        let refs: VecDeque<String> = pair_device
            .child_nodes()
            .iter()
            .filter(|n| n.tag == "ref")
            .filter_map(|n| n.content_bytes())
            .filter_map(|b| std::str::from_utf8(b).ok())
            .map(str::to_string)
            .collect();
        self.phase = Phase::Pairing;
        out.push(Action::Status(Status::Qr));
        self.qr = Some(QrRotation {
            refs,
            deadline: now,
        });
        self.show_next_qr(now, self.config.qr_first_ttl, &mut out);
        out
    }

    fn rotate_qr(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.show_next_qr(now, self.config.qr_next_ttl, out);
    }

    fn show_next_qr(&mut self, now: Instant, ttl: Duration, out: &mut Vec<Action>) {
        let Some(rotation) = self.qr.as_mut() else {
            return;
        };
        match rotation.refs.pop_front() {
            Some(reference) => {
                rotation.deadline = now + ttl;
                out.push(Action::Emit(Event::Qr {
                    code: qr::qr_string(&reference, &self.creds, &self.config.browser),
                    expires_in_secs: ttl.as_secs(),
                }));
            }
            None => {
                // Like whatsmeow and WA Web: once the server's refs are
                // used up the pairing attempt is over; the host decides
                // whether to start a new one.
                self.qr = None;
                out.push(Action::Emit(Event::Disconnected {
                    reason: "qr timeout".into(),
                }));
                out.push(Action::End(Ending::Stop {
                    failed: false,
                    reason: "qr timeout".into(),
                    done: None,
                }));
            }
        }
    }

    fn on_pair_success(&mut self, iq: &Node, pair_success: &Node) -> Vec<Action> {
        let id = iq.get_attr("id").unwrap_or_default();
        if self.creds.paired.is_some() {
            tracing::warn!("pair-success for an already linked device; ignored");
            return Vec::new();
        }
        match verify_pair_success(&self.creds, pair_success) {
            Ok(pairing) => {
                let reply = pair_sign_reply(id, &pairing);
                let jid = pairing.identity.jid.clone();
                if !pairing.identity.business_name.is_empty() && self.creds.push_name.is_empty() {
                    self.creds.push_name = pairing.identity.business_name.clone();
                }
                self.creds.paired = Some(pairing.identity);
                // A new link starts with no prekeys on the server.
                self.creds.first_unuploaded_prekey_id = self.creds.next_prekey_id;
                self.phase = Phase::Paired;
                self.qr = None;
                if let Some(flow) = self.pair_code.take() {
                    flow.fail(ClientError::AlreadyLinked);
                }
                vec![
                    Action::SaveCreds,
                    Action::Send(reply),
                    Action::Status(Status::Connecting),
                    Action::Emit(Event::Paired { jid }),
                ]
            }
            Err(rejection) => {
                tracing::warn!(detail = %rejection.detail, "pair-success rejected");
                self.qr = None;
                if let Some(flow) = self.pair_code.take() {
                    flow.fail(ClientError::Pairing(rejection.detail.clone()));
                }
                vec![
                    Action::Send(pair_error_reply(id, &rejection)),
                    Action::End(Ending::Stop {
                        failed: true,
                        reason: format!("pairing failed: {}", rejection.detail),
                        done: None,
                    }),
                ]
            }
        }
    }

    fn on_success(&mut self, node: &Node, now: Instant) -> Vec<Action> {
        if self.creds.paired.is_none() {
            tracing::warn!("<success> before pairing; ignored");
            return Vec::new();
        }
        self.phase = Phase::Connected;
        let mut out = Vec::new();
        if let (Some(lid), Some(paired)) = (node.get_attr("lid"), self.creds.paired.as_mut()) {
            if paired.lid.as_deref() != Some(lid) {
                paired.lid = Some(lid.to_string());
                out.push(Action::SaveCreds);
            }
        }
        out.extend(self.maybe_rotate_signed_prekey(now));
        out.push(Action::Status(Status::Connected));
        out.push(Action::Emit(Event::Connected));
        let id = self.iqs.next_id();
        out.push(Action::Send(stanzas::set_active(&id)));
        self.iqs
            .track(id, IqKind::SetActive, now + self.config.iq_timeout);
        let id = self.iqs.next_id();
        out.push(Action::Send(stanzas::prekey_count(&id)));
        self.iqs
            .track(id, IqKind::PreKeyCount, now + self.config.iq_timeout);
        self.schedule_ping(now);
        out
    }

    /// At login: a signed prekey older than the rotation period is
    /// replaced. The new one is saved before the server hears of it, and
    /// the old one kept for first messages already encrypted to it.
    fn maybe_rotate_signed_prekey(&mut self, now: Instant) -> Vec<Action> {
        let wall = super::creds::unix_now();
        if self.creds.signed_prekey_at == 0 {
            self.creds.signed_prekey_at = wall;
            return vec![Action::SaveCreds];
        }
        let age = wall.saturating_sub(self.creds.signed_prekey_at);
        if age < self.config.signed_prekey_rotation.as_secs() {
            return Vec::new();
        }
        self.creds.rotate_signed_prekey(wall);
        let id = self.iqs.next_id();
        let node = stanzas::rotate_signed_prekey(&id, &self.creds.signed_prekey);
        self.iqs
            .track(id, IqKind::RotateSignedPreKey, now + self.config.iq_timeout);
        tracing::info!(
            id = self.creds.signed_prekey.id,
            "rotating the signed prekey"
        );
        vec![Action::SaveCreds, Action::Send(node)]
    }

    fn on_ib(&mut self, ib: &Node) -> Vec<Action> {
        let routing = ib
            .child("edge_routing")
            .and_then(|e| e.child("routing_info"))
            .and_then(Node::content_bytes)
            .filter(|b| !b.is_empty());
        match routing {
            Some(info) if self.creds.routing_info.as_deref() != Some(info) => {
                self.creds.routing_info = Some(info.to_vec());
                vec![Action::SaveCreds]
            }
            _ => Vec::new(),
        }
    }

    /// Generates a batch, persists it and the advanced id before the
    /// upload goes out, so a crash can never reuse an uploaded id.
    fn upload_prekeys(&mut self, now: Instant) -> Vec<Action> {
        if self
            .iqs
            .is_pending(|k| matches!(k, IqKind::PreKeyUpload { .. }))
        {
            return Vec::new();
        }
        let keys = generate_prekeys(self.creds.next_prekey_id, self.config.prekey_batch);
        let Some(last) = keys.last() else {
            return Vec::new();
        };
        let next_id = next_prekey_id(last.id);
        self.creds.next_prekey_id = next_id;
        let id = self.iqs.next_id();
        let node = stanzas::prekey_upload(
            &id,
            self.creds.registration_id,
            &self.creds.identity_key.public,
            &self.creds.signed_prekey,
            &keys,
        );
        self.iqs.track(
            id,
            IqKind::PreKeyUpload { next_id },
            now + self.config.iq_timeout,
        );
        vec![
            Action::StorePreKeys(keys),
            Action::SaveCreds,
            Action::Send(node),
        ]
    }

    fn schedule_ping(&mut self, now: Instant) {
        if self.phase != Phase::Connected {
            return;
        }
        let (min, max) = (self.config.keepalive_min, self.config.keepalive_max);
        let wait = if max > min {
            rand::thread_rng().gen_range(min..=max)
        } else {
            min
        };
        self.next_ping = Some(now + wait);
    }

    fn take_pending_logout(&mut self) -> Option<Option<Done>> {
        // Logout iqs are few; find one by draining and re-tracking is not
        // needed since the connection is over anyway.
        if !self.iqs.is_pending(|k| matches!(k, IqKind::Logout { .. })) {
            return None;
        }
        self.iqs.drain().into_iter().find_map(|k| match k {
            IqKind::Logout { done } => Some(done),
            IqKind::External(reply) => {
                let _ = reply.send(Err(ClientError::NotConnected));
                None
            }
            _ => None,
        })
    }
}

fn iq_error(iq: &Node) -> ClientError {
    let error = iq.child("error");
    ClientError::Server {
        code: error
            .and_then(|e| e.get_attr("code"))
            .unwrap_or_default()
            .to_string(),
        text: error
            .and_then(|e| e.get_attr("text"))
            .unwrap_or_default()
            .to_string(),
    }
}

/// `<failure reason=".."/>` answering a login (reason codes: wacore-0.7.0
/// `ConnectFailureReason`, whatsmeow `events.ConnectFailureReason`).
fn on_failure(node: &Node) -> Vec<Action> {
    let reason = node.get_attr("reason").unwrap_or_default();
    let stop = |text: String| Ending::Stop {
        failed: false,
        reason: text,
        done: None,
    };
    let ending = match reason {
        "401" => Ending::LoggedOut {
            reason: "logged out (401)".into(),
            done: None,
        },
        "403" => Ending::LoggedOut {
            reason: "account locked (403)".into(),
            done: None,
        },
        "406" => Ending::LoggedOut {
            reason: "logged out (406)".into(),
            done: None,
        },
        "402" => {
            let mut text = "temporarily banned".to_string();
            if let Some(code) = node.get_attr("code") {
                text.push_str(&format!(" (code {code})"));
            }
            if let Some(expire) = node.get_attr("expire") {
                text.push_str(&format!(", expires in {expire} s"));
            }
            stop(text)
        }
        "405" => stop("client outdated (405)".into()),
        "409" => stop("bad user agent (409)".into()),
        other => Ending::Reconnect {
            reason: format!("login failed ({other})"),
            penalty: 0,
        },
    };
    vec![Action::End(ending)]
}

/// `<stream:error>` (handling as in whatsapp-rust-0.7.0
/// `client/node_io.rs` and whatsmeow `connectionevents.go`).
fn on_stream_error(node: &Node) -> Vec<Action> {
    let code = node.get_attr("code").unwrap_or_default();
    let conflict = node
        .child("conflict")
        .map(|c| c.get_attr("type").unwrap_or_default());
    let ending = match (conflict, code) {
        (Some("replaced"), _) | (None, "409") => Ending::Stop {
            failed: false,
            reason: "replaced".into(),
            done: None,
        },
        (Some(kind), _) => Ending::LoggedOut {
            reason: if kind.is_empty() { "conflict" } else { kind }.to_string(),
            done: None,
        },
        (None, "515") => Ending::Restart,
        (None, "516") => Ending::LoggedOut {
            reason: "device_removed".into(),
            done: None,
        },
        (None, "401") => Ending::LoggedOut {
            reason: "unauthorized".into(),
            done: None,
        },
        (None, "429") => Ending::Reconnect {
            reason: "rate limited (429)".into(),
            penalty: 5,
        },
        (None, "503") => Ending::Reconnect {
            reason: "service unavailable (503)".into(),
            penalty: 0,
        },
        (None, _) if node.child("xml-not-well-formed").is_some() => Ending::Reconnect {
            reason: "server could not parse our stanza".into(),
            penalty: 0,
        },
        (None, other) => {
            // Informational (e.g. an <ack> the server is still owed); the
            // server closes the stream itself if it means to.
            tracing::warn!(code = other, "unhandled stream error");
            return Vec::new();
        }
    };
    vec![Action::End(ending)]
}
