//! The HTTP side of the simulator's one listener: the chat WebSocket at
//! `/ws/chat` and the JSON admin API under `/sim`.
//!
//! Errors are `{"error": code, "message": text}` with the status of
//! [`SimError::http_status`].
//!
//! Owns: the routes, their JSON bodies and status codes (the contract in
//! README.md). Must not touch: what an operation does (`SimState`'s
//! methods in `api`), the chat protocol (`network::conn`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::sim::error::SimError;
use crate::sim::network::conn;
use crate::sim::network::transport::ServerWebSocket;
use crate::sim::state::{FaultKind, SimState};
use crate::wire::socket::ServerIdentity;

/// Largest WebSocket message accepted: well above any stanza a companion
/// sends while pairing or idling, far below the 16 MiB frame limit.
const MAX_WS_MESSAGE: usize = 1 << 20;
/// Small WebSocket buffers: thousands of idle connections share the
/// process (tungstenite's defaults are 128 KiB each way).
const WS_BUFFER: usize = 4 * 1024;

#[derive(Clone)]
struct App {
    state: Arc<SimState>,
    identity: Arc<ServerIdentity>,
}

/// The simulator's routes over `state`, presenting `identity` to clients.
/// The largest admin request: a 64 MiB file in base64, with room.
const MAX_ADMIN_BODY: usize = 96 << 20;

pub fn router(state: Arc<SimState>, identity: Arc<ServerIdentity>) -> Router {
    Router::new()
        .route("/ws/chat", get(chat))
        .route("/sim/root-key", get(root_key))
        .route("/sim/phones", post(create_phone))
        .route("/sim/phones/{phone}/scan", post(scan))
        .route("/sim/phones/{phone}/pair-code", post(pair_code))
        .route("/sim/phones/{phone}/devices", get(devices))
        .route(
            "/sim/phones/{phone}/messages",
            post(send_message).get(messages),
        )
        .route("/sim/phones/{phone}/read", post(read))
        .route("/sim/phones/{phone}/lid", get(lid_status).post(set_lid))
        .route("/sim/phones/{phone}/lid-mappings", post(share_lid_mappings))
        .route("/sim/phones/{phone}/history-sync", post(share_history))
        .route("/sim/phones/{phone}/reinstall", post(reinstall))
        .route("/sim/phones/{phone}/clear-chats", post(clear_chats))
        .route("/sim/phones/{phone}/receipts", get(receipts))
        .route("/sim/groups", post(create_group))
        .route("/sim/groups/{group}", get(group))
        .route("/sim/groups/{group}/participants", post(group_participants))
        .route("/sim/groups/{group}/subject", post(group_subject))
        .route("/sim/groups/{group}/settings", post(group_settings))
        .route("/sim/devices/{jid}/fault", post(fault))
        .route("/sim/media/expire", post(expire_media))
        .route("/sim/connections", get(connections))
        .fallback(not_found)
        // A phone's file arrives as base64 in JSON: big files are what the
        // memory tests send (axum's default stops at 2 MB).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_ADMIN_BODY))
        .with_state(App {
            state: state.clone(),
            identity,
        })
        .merge(crate::sim::media::routes::router(state))
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "error": self.code(), "message": self.to_string() });
        (status, Json(body)).into_response()
    }
}

async fn not_found() -> Response {
    let body = json!({ "error": "not_found", "message": "no such endpoint" });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Parses a JSON body into `T`, as a 400 JSON error when it does not fit.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, SimError> {
    serde_json::from_slice(body)
        .map_err(|e| SimError::BadRequest(format!("invalid JSON body: {e}")))
}

async fn chat(ws: WebSocketUpgrade, State(app): State<App>) -> Response {
    ws.max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
        .on_upgrade(move |socket| {
            conn::serve(ServerWebSocket::new(socket), app.state, app.identity)
        })
}

async fn root_key(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({ "root_public_key": hex::encode(app.state.root_public_key()) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePhone {
    phone: Option<String>,
}

async fn create_phone(State(app): State<App>, body: Bytes) -> Result<Response, SimError> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        CreatePhone { phone: None }
    } else {
        parse_body::<CreatePhone>(&body)?
    };
    let phone = app.state.create_phone(request.phone)?;
    Ok((StatusCode::CREATED, Json(json!({ "phone": phone }))).into_response())
}

#[derive(Deserialize)]
struct Scan {
    qr: String,
}

async fn scan(
    State(app): State<App>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<Scan>(&body)?;
    let device = app.state.scan(&phone, &request.qr).await?;
    Ok(Json(json!({ "device": device })))
}

#[derive(Deserialize)]
struct PairCode {
    code: String,
}

async fn pair_code(
    State(app): State<App>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<PairCode>(&body)?;
    let device = app.state.enter_pair_code(&phone, &request.code).await?;
    Ok(Json(json!({ "device": device })))
}

async fn devices(
    State(app): State<App>,
    Path(phone): Path<String>,
) -> Result<Json<serde_json::Value>, SimError> {
    let devices = app.state.devices(&phone)?;
    Ok(Json(json!({ "devices": devices })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    to: String,
    #[serde(default)]
    text: String,
    /// Id of a received message this one replies to.
    reply_to: Option<String>,
    /// A file instead of a text.
    media: Option<SendMedia>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMedia {
    /// `image`, `video`, `audio`, `document` or `sticker`.
    kind: String,
    /// The file, standard base64.
    data: String,
    mimetype: String,
    caption: Option<String>,
    file_name: Option<String>,
    #[serde(default)]
    voice_note: bool,
}

/// The phone sends a text (or a file), end-to-end encrypted to every
/// device of the recipient and every companion of its own.
async fn send_message(
    State(app): State<App>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let request = parse_body::<SendMessage>(&body)?;
    if let Some(media) = request.media {
        use base64::prelude::{Engine as _, BASE64_STANDARD};
        let kind = media
            .kind
            .parse()
            .ok()
            // History blobs are not sent as chat messages.
            .filter(|k| *k != crate::media::MediaKind::History)
            .ok_or_else(|| SimError::BadRequest(format!("unknown media kind {:?}", media.kind)))?;
        let data = BASE64_STANDARD
            .decode(media.data.as_bytes())
            .map_err(|e| SimError::BadRequest(format!("media data is not base64: {e}")))?;
        let media = crate::sim::PhoneMedia {
            kind,
            data,
            mimetype: media.mimetype,
            caption: media.caption,
            file_name: media.file_name,
            voice_note: media.voice_note,
        };
        let sent = app.state.phone_send_media(&phone, &request.to, media)?;
        return Ok((StatusCode::CREATED, Json(json!(sent))).into_response());
    }
    if request.text.is_empty() {
        return Err(SimError::BadRequest("text must not be empty".into()));
    }
    let sent = app.state.phone_send(
        &phone,
        &request.to,
        &request.text,
        request.reply_to.as_deref(),
    )?;
    Ok((StatusCode::CREATED, Json(json!(sent))).into_response())
}

/// The texts the phone received and decrypted, oldest first.
async fn messages(
    State(app): State<App>,
    Path(phone): Path<String>,
) -> Result<Json<serde_json::Value>, SimError> {
    Ok(Json(
        json!({ "messages": app.state.phone_messages(&phone)? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    ids: Vec<String>,
}

/// The phone reads received messages: read receipts go to their senders.
async fn read(
    State(app): State<App>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<Read>(&body)?;
    let receipts = app.state.phone_read(&phone, &request.ids)?;
    Ok(Json(json!({ "read": receipts })))
}

/// The account's LID and whether its 1:1 chats are on it.
async fn lid_status(
    State(app): State<App>,
    Path(phone): Path<String>,
) -> Result<Json<serde_json::Value>, SimError> {
    Ok(Json(json!(app.state.lid_status(&phone)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLid {
    migrated: bool,
}

/// Moves the account's 1:1 chats to LID addressing (or back).
async fn set_lid(
    State(app): State<App>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<SetLid>(&body)?;
    Ok(Json(json!(app
        .state
        .set_lid_migrated(&phone, request.migrated)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareLids {
    contacts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareHistory {
    contacts: Vec<String>,
    #[serde(default)]
    inline: bool,
}

/// The phone hands its companions a history chunk with its contacts' LIDs.
async fn share_history(
    State(app): State<App>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<ShareHistory>(&body)?;
    Ok(Json(json!(app.state.share_history(
        &phone,
        &request.contacts,
        request.inline
    )?)))
}

/// The phone pushes its contacts' LIDs to its companions.
async fn share_lid_mappings(
    State(app): State<App>,
    Path(phone): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<ShareLids>(&body)?;
    Ok(Json(json!(app
        .state
        .share_lid_mappings(&phone, &request.contacts)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireMedia {
    direct_path: String,
}

/// The media hosts drop a file, as when media expires.
async fn expire_media(
    State(app): State<App>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<ExpireMedia>(&body)?;
    app.state.expire_media(&request.direct_path)?;
    Ok(Json(json!({})))
}

/// WhatsApp is reinstalled on the phone: a new Signal identity.
async fn reinstall(
    State(app): State<App>,
    Path(phone): Path<String>,
) -> Result<Json<serde_json::Value>, SimError> {
    app.state.reinstall_phone(&phone)?;
    Ok(Json(json!({})))
}

/// The phone's user clears every chat: the phone forgets the messages
/// it received (and cannot upload their files again).
async fn clear_chats(
    State(app): State<App>,
    Path(phone): Path<String>,
) -> Result<Json<serde_json::Value>, SimError> {
    app.state.phone_clear_chats(&phone)?;
    Ok(Json(json!({})))
}

/// Delivery and read receipts for the phone's sent texts, oldest first.
async fn receipts(
    State(app): State<App>,
    Path(phone): Path<String>,
) -> Result<Json<serde_json::Value>, SimError> {
    Ok(Json(
        json!({ "receipts": app.state.phone_receipts(&phone)? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGroup {
    creator: String,
    subject: String,
    #[serde(default)]
    participants: Vec<String>,
    addressing_mode: Option<String>,
}

/// A phone creates a group.
async fn create_group(State(app): State<App>, body: Bytes) -> Result<Response, SimError> {
    let request = parse_body::<CreateGroup>(&body)?;
    let group = app.state.create_group(
        &request.creator,
        &request.subject,
        &request.participants,
        request.addressing_mode.as_deref(),
    )?;
    Ok((StatusCode::CREATED, Json(json!(group))).into_response())
}

/// A group, its members and their roles.
async fn group(
    State(app): State<App>,
    Path(group): Path<String>,
) -> Result<Json<serde_json::Value>, SimError> {
    Ok(Json(json!(app.state.group(&group)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupParticipants {
    by: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// A member's phone adds and removes members.
async fn group_participants(
    State(app): State<App>,
    Path(group): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<GroupParticipants>(&body)?;
    let group =
        app.state
            .change_group_participants(&group, &request.by, &request.add, &request.remove)?;
    Ok(Json(json!(group)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSubject {
    by: String,
    subject: String,
}

/// A member's phone renames the group.
async fn group_subject(
    State(app): State<App>,
    Path(group): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<GroupSubject>(&body)?;
    let group = app
        .state
        .rename_group(&group, &request.by, &request.subject)?;
    Ok(Json(json!(group)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSettings {
    by: String,
    locked: bool,
}

/// An admin's phone locks the group's info (or unlocks it).
async fn group_settings(
    State(app): State<App>,
    Path(group): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<GroupSettings>(&body)?;
    let group = app.state.lock_group(&group, &request.by, request.locked)?;
    Ok(Json(json!(group)))
}

#[derive(Deserialize)]
struct Fault {
    kind: String,
}

async fn fault(
    State(app): State<App>,
    Path(jid): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, SimError> {
    let request = parse_body::<Fault>(&body)?;
    let kind = match request.kind.as_str() {
        "drop" => FaultKind::Drop,
        "conflict" => FaultKind::Conflict,
        "logout" => FaultKind::Logout,
        "silence" => FaultKind::Silence,
        other => {
            return Err(SimError::BadRequest(format!(
                "unknown fault kind {other:?} (drop, conflict, logout, silence)"
            )))
        }
    };
    app.state.fault(&jid, kind)?;
    Ok(Json(json!({})))
}

/// `GET /sim/connections`: logins, devices online, and the most
/// connections one device ever had logged in at once.
async fn connections(State(app): State<App>) -> Json<crate::sim::LoginReport> {
    Json(app.state.logins())
}
