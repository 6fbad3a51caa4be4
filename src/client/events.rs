//! What a session reports to its host: events and status.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::groups::{GroupInfo, GroupParticipant, ParticipantAction};
use super::ClientError;
use crate::types::{Jid, MessageId};

/// A state change of one session. Serialized as
/// `{"type": "qr", "code": ..., "expires_in_secs": ...}` and so on.
///
/// The last event of every session task is `LoggedOut` or `Stopped`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A QR code to show; scanning it after `expires_in_secs` fails.
    Qr { code: String, expires_in_secs: u64 },
    /// A linking code to type on the phone.
    PairCode { code: String },
    /// The phone linked this device; a login follows.
    Paired {
        #[schema(value_type = String)]
        jid: Jid,
    },
    /// Logged in and online.
    Connected,
    /// An established connection ended (a reconnect usually follows).
    Disconnected { reason: String },
    /// The device is no longer linked; its credentials are gone.
    LoggedOut { reason: String },
    /// Waiting `delay_ms` before connection attempt `attempt`.
    Reconnecting { attempt: u32, delay_ms: u64 },
    /// The session task ended without logging out (shutdown, replaced by
    /// another client, temporary ban, QR codes exhausted, failure).
    Stopped { reason: String },
    /// A text message arrived (or one of our other devices sent one:
    /// `from_me`). Reported once per message id, even across restarts.
    Message(Box<IncomingMessage>),
    /// A message could not be decrypted; a retry was requested from the
    /// sender. Reported, never dropped silently.
    Undecryptable {
        #[schema(value_type = String)]
        id: MessageId,
        #[schema(value_type = String)]
        chat: Jid,
        #[schema(value_type = String)]
        sender: Jid,
        reason: String,
    },
    /// A contact's device presented a different identity key than before
    /// (WhatsApp shows "security code changed"); messages keep flowing.
    IdentityChanged {
        #[schema(value_type = String)]
        jid: Jid,
    },
    /// Receipts for messages we sent: `delivered`, `read` or `played`.
    Receipt {
        kind: ReceiptKind,
        #[schema(value_type = String)]
        chat: Jid,
        /// The device that sent the receipt.
        #[schema(value_type = String)]
        sender: Jid,
        #[schema(value_type = Vec<String>)]
        ids: Vec<MessageId>,
        timestamp: u64,
    },
    /// Members of a group were added, removed (or left), promoted to admin
    /// or demoted (`by`: who did it, when the server names them).
    GroupParticipants {
        #[schema(value_type = String)]
        group: Jid,
        action: ParticipantAction,
        participants: Vec<GroupParticipant>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        by: Option<Jid>,
        /// Why, when the server says (`invite` for a join by link, …).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        timestamp: u64,
    },
    /// A group's subject (name) changed.
    GroupSubject {
        #[schema(value_type = String)]
        group: Jid,
        subject: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        by: Option<Jid>,
        timestamp: u64,
    },
    /// A group's description changed (`null`: removed).
    GroupDescription {
        #[schema(value_type = String)]
        group: Jid,
        description: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        by: Option<Jid>,
        timestamp: u64,
    },
    /// A group was created with us in it (or we were added at creation).
    GroupCreated {
        group: Box<GroupInfo>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        by: Option<Jid>,
        timestamp: u64,
    },
    /// A group setting changed: `locked`/`unlocked` (who may edit the
    /// group's info), `announcement`/`not_announcement` (who may send),
    /// `ephemeral` (`value`: seconds messages last)/`not_ephemeral`.
    GroupSetting {
        #[schema(value_type = String)]
        group: Jid,
        setting: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        by: Option<Jid>,
        timestamp: u64,
    },
}

/// A received text message, as the host sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IncomingMessage {
    /// WhatsApp's message id (unique per sender).
    #[schema(value_type = String)]
    pub id: MessageId,
    /// The conversation: the other party's user JID (`123@s.whatsapp.net`).
    #[schema(value_type = String)]
    pub chat: Jid,
    /// The device that sent it (`123:0@s.whatsapp.net`, or `456:0@lid`
    /// from a contact addressed by LID).
    #[schema(value_type = String)]
    pub sender: Jid,
    /// The sender's phone-number user (`123@s.whatsapp.net`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub sender_pn: Option<Jid>,
    /// The sender's LID user (`456@lid`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub sender_lid: Option<Jid>,
    /// Seconds since the epoch, as the server stamped it.
    pub timestamp: u64,
    pub text: String,
    /// Sent by another device of our own account (to `chat`).
    pub from_me: bool,
    /// The push name the sender's server stanza carried, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_name: Option<String>,
    /// The message this one replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted: Option<QuotedMessage>,
    /// A media message's file (`text` is then its caption, or empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<Box<IncomingMedia>>,
}

/// The file a received media message points at: what it is, and what
/// fetching and opening it takes (`Client::download_media` with
/// [`IncomingMedia::reference`]). Binary fields are standard base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncomingMedia {
    /// `image`, `video`, `audio`, `document` or `sticker`.
    pub kind: String,
    pub mimetype: String,
    /// The file's size in bytes, as the sender gave it.
    pub file_length: u64,
    /// SHA-256 of the file.
    pub file_sha256: String,
    /// An audio message recorded as a voice note.
    pub voice_note: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Audio and video: the duration in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_count: Option<u32>,
    /// Where the encrypted file is on the media hosts.
    pub direct_path: String,
    /// The file's key (it opens this file only).
    pub media_key: String,
    /// SHA-256 of the encrypted file.
    pub file_enc_sha256: String,
}

impl IncomingMedia {
    pub fn from_message(media: &crate::media::MediaMessage) -> IncomingMedia {
        use base64::prelude::{Engine as _, BASE64_STANDARD};
        IncomingMedia {
            kind: media.kind.as_str().to_string(),
            mimetype: media.mimetype.clone(),
            file_length: media.file_length,
            file_sha256: BASE64_STANDARD.encode(media.file_sha256),
            voice_note: media.voice_note,
            caption: media.caption.clone(),
            file_name: media.file_name.clone(),
            width: media.width,
            height: media.height,
            seconds: media.seconds,
            page_count: media.page_count,
            direct_path: media.direct_path.clone(),
            media_key: BASE64_STANDARD.encode(media.media_key),
            file_enc_sha256: BASE64_STANDARD.encode(media.file_enc_sha256),
        }
    }

    /// What [`crate::client::Client::download_media`] takes.
    pub fn reference(&self) -> Result<crate::client::media::MediaRef, ClientError> {
        use base64::prelude::{Engine as _, BASE64_STANDARD};
        let bad =
            |what: &str| ClientError::InvalidMedia(format!("{what} is not 32 bytes of base64"));
        let bytes32 = |value: &str, what: &str| -> Result<[u8; 32], ClientError> {
            BASE64_STANDARD
                .decode(value)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad(what))
        };
        Ok(crate::client::media::MediaRef {
            kind: self.kind.parse().map_err(ClientError::InvalidMedia)?,
            direct_path: self.direct_path.clone(),
            media_key: bytes32(&self.media_key, "media_key")?,
            file_sha256: Some(bytes32(&self.file_sha256, "file_sha256")?),
            file_enc_sha256: Some(bytes32(&self.file_enc_sha256, "file_enc_sha256")?),
        })
    }
}

/// The message a reply quotes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuotedMessage {
    #[schema(value_type = String)]
    pub id: MessageId,
    /// Who wrote the quoted message, when the reply says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub sender: Option<Jid>,
    /// Its text, when it was a text message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What a receipt says happened to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    Delivered,
    Read,
    Played,
}

/// Where every session of a host delivers its events. One sink is shared
/// by all sessions, so implementations must be cheap and never block.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, session: &str, event: Event);

    /// Resolves once every event `session` emitted so far is stored
    /// durably (a host's webhook outbox), or `None` when the sink keeps
    /// nothing of it. A session waits on it after reporting a received
    /// message and before the receipt that lets the server forget it, so
    /// a crash in between cannot lose the message.
    fn durable(&self, _session: &str) -> Option<tokio::sync::oneshot::Receiver<()>> {
        None
    }
}

/// An unbounded channel sink, handy in tests.
pub struct ChannelSink {
    tx: mpsc::UnboundedSender<(String, Event)>,
}

impl ChannelSink {
    pub fn new() -> (ChannelSink, mpsc::UnboundedReceiver<(String, Event)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ChannelSink { tx }, rx)
    }
}

impl EventSink for ChannelSink {
    fn emit(&self, session: &str, event: Event) {
        // A dropped receiver just means nobody listens any more.
        let _ = self.tx.send((session.to_string(), event));
    }
}

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Loading credentials, not connected yet.
    Starting,
    /// Connected and showing QR codes, waiting for a phone.
    Qr,
    /// Opening a connection or logging in.
    Connecting,
    /// Logged in and online.
    Connected,
    /// Waiting before the next connection attempt.
    Reconnecting,
    /// Unlinked; nothing usable is stored.
    LoggedOut,
    /// Ended on purpose or by the server (see the last error).
    Stopped,
    /// Ended by an error (see the last error).
    Failed,
}

impl Status {
    /// Whether the session task has ended for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::LoggedOut | Status::Stopped | Status::Failed)
    }
}

/// What a host can read about a session at any time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub status: Status,
    /// Why the session last disconnected, stopped or failed.
    pub last_error: Option<String>,
    /// Own JID once linked.
    pub jid: Option<String>,
}

/// A message the server accepted from us.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SentMessage {
    #[schema(value_type = String)]
    pub id: MessageId,
    /// The conversation (the recipient's user JID).
    #[schema(value_type = String)]
    pub chat: Jid,
    /// Seconds since the epoch, as the server's ack stamped it.
    pub timestamp: u64,
}
