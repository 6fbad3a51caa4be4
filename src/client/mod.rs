//! One WhatsApp session: the companion-device state machine.
//!
//! Owns: everything one linked device does — pairing (QR and linking
//! code), login, keepalive, reconnect with backoff, stream errors,
//! prekeys, groups, messaging — and the events a host subscribes to.
//! Must not touch: other sessions, HTTP, process-wide state; its state
//! goes to the [`AuthStore`] it is given, never to files of its own.
//!
//! Each session is ONE tokio task ([`Client::spawn`]); the [`Client`]
//! value is a cheap handle to it (a command sender and a status watch).
//! The protocol logic is I/O-free ([`protocol`]): stanzas in, actions
//! out, so it is tested with plain nodes.
//!
//! Folders are features (`connection`, `pairing`, `prekeys`, `groups`,
//! `messaging`, `raw`): each owns its state, the stanzas it handles, its
//! iq specs and its commands; `core` holds what they are built from;
//! `protocol` dispatches between them; `run` is the task that does the
//! I/O.
//!
//! Lifecycle: the last event of every session task is `LoggedOut` or
//! `Stopped`. A session whose stored credentials say logged out reports
//! `LoggedOut` again at start and does not connect; to link it anew,
//! remove its state and spawn it again.

mod backoff;
mod config;
mod connection;
mod connector;
pub mod core;
pub mod creds;
mod error;
mod events;
pub mod groups;
pub mod media;
pub mod messaging;
pub mod pairing;
mod payload;
mod prekeys;
mod props;
pub mod protocol;
mod raw;
mod run;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

pub use config::{ClientConfig, DEFAULT_URL};
pub use connector::{Connector, WebSocketConnector};
pub use error::ClientError;
pub use events::{
    ChannelSink, Event, EventSink, IncomingMedia, IncomingMessage, QuotedMessage, ReceiptKind,
    SentMessage, Snapshot, Status,
};
pub use pairing::qr_string;

use core::Then;
use run::{QueuedCommand, Runner};

use crate::store::{AuthStore, AuthStores};
use crate::wire::Node;

/// Commands waiting for a busy session; senders wait when it is full.
const COMMAND_QUEUE: usize = 8;

/// A handle to one running session. Cloning is cheap; dropping every
/// handle shuts the session down.
#[derive(Clone)]
pub struct Client {
    id: Arc<str>,
    commands: mpsc::Sender<QueuedCommand>,
    state: watch::Receiver<Snapshot>,
    /// For work done outside the session's task (media transfers).
    config: Arc<ClientConfig>,
}

/// Detached work (`core::Detached`) drives its session as a `Client`.
/// A method here, not a function in `core`, so that features reach it
/// without naming `Client` (which would close an import circle).
impl core::Handle {
    pub(crate) fn into_client(self) -> Client {
        Client {
            id: self.id,
            commands: self.commands,
            state: self.state,
            config: self.config,
        }
    }
}

impl Client {
    /// Spawns session `id`'s task connecting over WebSockets to
    /// `config.url`, keeping its state in `stores` under its id.
    pub fn spawn(
        id: String,
        config: Arc<ClientConfig>,
        stores: Arc<dyn AuthStores>,
        sink: Arc<dyn EventSink>,
    ) -> Client {
        let connector = Arc::new(WebSocketConnector::new(config.tls.clone()));
        Client::spawn_with(id, config, stores, sink, connector)
    }

    /// Like [`Client::spawn`] with a custom transport (tests).
    pub fn spawn_with<C: Connector>(
        id: String,
        config: Arc<ClientConfig>,
        stores: Arc<dyn AuthStores>,
        sink: Arc<dyn EventSink>,
        connector: Arc<C>,
    ) -> Client {
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let (state, state_rx) = watch::channel(Snapshot {
            status: Status::Starting,
            last_error: None,
            jid: None,
        });
        let runner = Runner {
            id: id.clone(),
            config: config.clone(),
            stores,
            sink,
            state,
            commands,
            handle: commands_tx.downgrade(),
            connector,
        };
        tokio::spawn(runner.run());
        Client {
            id: id.into(),
            commands: commands_tx,
            state: state_rx,
            config,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn status(&self) -> Status {
        self.state.borrow().status
    }

    pub fn last_error(&self) -> Option<String> {
        self.state.borrow().last_error.clone()
    }

    /// Own JID (`user:device@s.whatsapp.net`) once linked.
    pub fn jid(&self) -> Option<String> {
        self.state.borrow().jid.clone()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.borrow().clone()
    }

    /// Waits until the status satisfies `pred` (or the task has ended),
    /// returning the status then.
    pub async fn wait_for(&self, pred: impl Fn(Status) -> bool) -> Status {
        let mut state = self.state.clone();
        let result = state
            .wait_for(|s| pred(s.status) || s.status.is_terminal())
            .await
            .map(|s| s.status);
        result.unwrap_or_else(|_| self.status())
    }

    /// Asks for an 8-character linking code for `phone` (digits with
    /// country code; `+`, spaces and dashes allowed) to type on the phone
    /// instead of scanning a QR. Valid once the session shows QR codes
    /// (status `Qr`); QR codes stop while the code is live. Returns the
    /// code (canonical, e.g. `ABCD1234`; people read it as `ABCD-1234`)
    /// and emits [`Event::PairCode`] with it.
    ///
    /// Asking again replaces a code still on screen. A code that cannot
    /// link any more (unused for `pair_code_ttl`, not confirmed within
    /// `pair_code_success_timeout` after the phone typed it, refreshed or
    /// refused by the server) ends the pairing attempt like exhausted QR
    /// codes do: `Disconnected` then `Stopped`; spawn the session again.
    ///
    /// Errors: `AlreadyLinked`, `NotPairing` (no QR shown yet),
    /// `NotConnected`, `PairCode` (invalid phone number, server refusal),
    /// `PairCodeBusy` (another request is in flight), `Timeout`.
    pub async fn request_pair_code(&self, phone: &str) -> Result<String, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(pairing::request_code(phone.to_string(), reply))
            .await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Unlinks this device: asks the server to remove it (waiting for the
    /// answer up to the logout timeout), wipes the credentials, emits
    /// `LoggedOut` and ends the session.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        if self.command(connection::logout(done)).await.is_err() {
            return self.ended_as(Status::LoggedOut);
        }
        match rx.await {
            Ok(result) => result,
            Err(_) => self.ended_as(Status::LoggedOut),
        }
    }

    /// Closes the connection cleanly and ends the session task; the
    /// credentials stay for the next start.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.command(connection::shutdown(done)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Sends a text message to `to` (a phone number with country code, or
    /// a user JID) and returns once the server acknowledged it: encrypted
    /// for every device of the recipient and every other device of ours.
    ///
    /// Errors: `NotConnected`, `InvalidRecipient`, `UnsupportedRecipient`
    /// (a LID address), `NotOnWhatsApp`, `Timeout`, `Server` (the server
    /// refused the message).
    pub async fn send_text(&self, to: &str, text: &str) -> Result<SentMessage, ClientError> {
        self.send_reply(to, text, None).await
    }

    /// Like [`Client::send_text`], quoting (replying to) another message.
    pub async fn send_reply(
        &self,
        to: &str,
        text: &str,
        quoted: Option<crate::proto::text::Quote>,
    ) -> Result<SentMessage, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(messaging::send_text(
            to.to_string(),
            text.to_string(),
            quoted,
            reply,
        ))
        .await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Marks messages of `chat` as read: sends read receipts for `ids` to
    /// their sender. Errors: `NotConnected`, `InvalidRecipient` (also for a
    /// group: use [`Client::mark_read_from`]).
    pub async fn mark_read(&self, chat: &str, ids: &[String]) -> Result<(), ClientError> {
        self.mark_read_from(chat, None, ids).await
    }

    /// Like [`Client::mark_read`], naming who sent the messages: required
    /// in a group (the member's phone number or user JID, as in the
    /// message event's `sender`), ignored in a one-to-one chat.
    pub async fn mark_read_from(
        &self,
        chat: &str,
        sender: Option<&str>,
        ids: &[String],
    ) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        self.command(messaging::mark_read(
            chat.to_string(),
            sender.map(str::to_string),
            ids.to_vec(),
            done,
        ))
        .await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Sends one stanza as is.
    pub async fn send_node(&self, node: Node) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        self.command(raw::send_node(node, done)).await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Sends an iq (its `id` is assigned here) and waits for the answer:
    /// the result node, or the server's error.
    pub async fn send_iq(&self, iq: Node) -> Result<Node, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(raw::send_iq(iq, reply)).await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    async fn command(&self, command: Then) -> Result<(), ClientError> {
        self.commands
            .send(Box::new(command))
            .await
            .map_err(|_| ClientError::Stopped)
    }

    /// After the task ended: fine if it ended the way the caller wanted.
    fn ended_as(&self, wanted: Status) -> Result<(), ClientError> {
        if self.status() == wanted {
            Ok(())
        } else {
            Err(ClientError::Stopped)
        }
    }
}

/// Unlinks a session that is not running, in its store: nothing usable
/// to log in remains (the server learns of it at the next login). One
/// already unlinked keeps the reason it has; one with no state at all is
/// given the logged-out record.
pub fn log_out_stored(store: &dyn AuthStore, reason: &str) -> Result<(), ClientError> {
    store.prepare()?;
    let jid = match creds::load(store) {
        Ok(Some(creds::StoredCreds::LoggedOut { .. })) => return Ok(()),
        Ok(Some(creds::StoredCreds::Active(creds))) => creds.jid().cloned(),
        _ => None,
    };
    creds::wipe(store, reason, jid.as_ref())
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
