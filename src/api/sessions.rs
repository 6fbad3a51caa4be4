//! Session routes: create, list, get, delete, logout, restart, QR,
//! linking code, messages and read receipts. Each handler's
//! `#[utoipa::path]` is its entry in the OpenAPI document: the statuses
//! listed there are the ones it can answer (the server-wide ones, such as
//! 401 and 413, are added by `openapi.rs`).

use axum::extract::{FromRequest as _, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{QueryOf, SessionId};
use super::forward;
use super::json::{JsonBody, OptionalJsonBody};
use super::schemas::{CommandErrors, Image, QrFormat, SessionPath};
use super::state::AppState;
use crate::host::SentMessage;
use crate::host::{CreateSession, Placement, QrState, SendFile, SessionInfo};

#[utoipa::path(
    post,
    path = "/v1/sessions",
    summary = "Create and start a session",
    request_body(
        content = Option<CreateSession>,
        description = "Optional: an empty body creates a session with a generated id"
    ),
    responses(
        (status = 201, description = "Created and started", body = SessionInfo),
        (status = 400, description = "invalid_json, unknown_field, invalid_session_id, invalid_webhook", body = ErrorBody),
        (status = 409, description = "session_exists (here, or on another node of the cluster)", body = ErrorBody),
        (status = 500, description = "storage_error", body = ErrorBody),
        (status = 502, description = "node_unreachable: the node of the cluster chosen for it did not answer", body = ErrorBody),
        (status = 503, description = "capacity_exhausted (the whole cluster), shutting_down, cluster_unreachable", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    OptionalJsonBody(request): OptionalJsonBody<CreateSession>,
) -> Result<Response, ApiError> {
    let created = |info| (StatusCode::CREATED, Json(info)).into_response();
    if forward::is_forwarded(&headers) {
        // Another node placed it here.
        return Ok(created(state.host.create_claimed(request).await?));
    }
    match state.host.create_placed(request.clone()).await? {
        Placement::Here(info) => Ok(created(info)),
        Placement::There { node, url } => {
            let body = serde_json::to_vec(&request).unwrap_or_default();
            let forwarded = forward::node_request(
                axum::http::Method::POST,
                axum::http::Uri::from_static("/v1/sessions"),
                &headers,
                Some(body),
            );
            let from = state.host.node_id().unwrap_or_default().to_string();
            match forward::forward(forwarded, &url, &from).await {
                Ok(answer) => Ok(answer),
                Err(e) => {
                    state.host.release_place(&node).await;
                    Err(e)
                }
            }
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/sessions",
    summary = "List sessions",
    responses(
        (status = 200, description = "Every session", body = Vec<SessionInfo>),
        (status = 500, description = "storage_error", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let here = state.host.list_here().await?;
    let mut all: Vec<serde_json::Value> = here
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .collect();
    if !forward::is_forwarded(&headers) {
        // In a cluster: every other live node's sessions too.
        let from = state.host.node_id().unwrap_or_default().to_string();
        for (node, url) in state.host.other_nodes().await? {
            let ask = forward::node_request(
                axum::http::Method::GET,
                axum::http::Uri::from_static("/v1/sessions"),
                &headers,
                None,
            );
            match forward::ask_json(ask, &url, &from).await {
                Ok(serde_json::Value::Array(theirs)) => all.extend(theirs),
                Ok(other) => {
                    tracing::warn!(node, answer = %other, "a node's session list is not a list")
                }
                Err(e) => {
                    tracing::warn!(node, error = %e.message, "a node's sessions are left out of the list")
                }
            }
        }
        all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    }
    Ok(Json(all))
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}",
    summary = "Get a session",
    params(SessionPath),
    responses(
        (status = 200, description = "The session", body = SessionInfo),
        (status = 400, description = "invalid_path", body = ErrorBody),
        (status = 404, description = "session_not_found", body = ErrorBody),
        (status = 500, description = "storage_error", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(state.host.get(&id)?))
}

#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    summary = "Log out, wipe the state and forget a session",
    params(SessionPath),
    responses(
        (status = 204, description = "Gone"),
        (status = 400, description = "invalid_path", body = ErrorBody),
        (status = 404, description = "session_not_found", body = ErrorBody),
        (status = 500, description = "storage_error", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<StatusCode, ApiError> {
    state.host.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/logout",
    summary = "Unlink the device (the record stays, as logged_out)",
    params(SessionPath),
    responses(
        (status = 200, description = "The session after the logout", body = SessionInfo),
        (status = 400, description = "invalid_path", body = ErrorBody),
        CommandErrors,
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(state.host.logout(&id).await?))
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/restart",
    summary = "Restart a session from its stored state",
    params(SessionPath),
    responses(
        (status = 200, description = "The restarted session", body = SessionInfo),
        (status = 400, description = "invalid_path", body = ErrorBody),
        (status = 404, description = "session_not_found", body = ErrorBody),
        (status = 500, description = "storage_error", body = ErrorBody),
    )
)]
pub async fn restart(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(state.host.restart(&id).await?))
}

#[derive(Deserialize)]
pub struct QrQuery {
    format: Option<String>,
}

/// The QR code the session shows now: JSON (raw string and expiry), or a
/// PNG or SVG image to display as is.
#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/qr",
    summary = "The QR code the session shows now",
    params(
        SessionPath,
        ("format" = Option<QrFormat>, Query, description = "json (default), png or svg"),
    ),
    responses(
        (status = 200, description = "The code, as JSON or as an image", content(
            (QrState = "application/json"),
            (Image = "image/png"),
            (Image = "image/svg+xml"),
        )),
        (status = 400, description = "invalid_path, invalid_query, bad_format", body = ErrorBody),
        (status = 404, description = "session_not_found, no_qr", body = ErrorBody),
        (status = 500, description = "storage_error, qr_render", body = ErrorBody),
    )
)]
pub async fn qr(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    QueryOf(query): QueryOf<QrQuery>,
) -> Result<Response, ApiError> {
    let qr = state.host.qr(&id)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_qr",
            "this session shows no QR code now (linked, connecting, or not started)",
        )
    })?;
    match query.format.as_deref() {
        None | Some("json") => Ok(Json(qr).into_response()),
        Some("svg") => {
            let code = qrcode::QrCode::new(qr.qr.as_bytes()).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "qr_render",
                    e.to_string(),
                )
            })?;
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(256, 256)
                .build();
            Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
        }
        Some("png") => {
            let png = super::qr_png::render(qr.qr.as_bytes())
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "qr_render", e))?;
            Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
        }
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_format",
            format!("unknown QR format {other:?}: use json, png or svg"),
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairCodeRequest {
    /// The phone number of the account to link, digits only.
    phone: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PairCodeResponse {
    /// 8 characters to type on the phone.
    code: String,
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/pair-code",
    summary = "Ask for an 8-character linking code instead of a QR scan",
    params(SessionPath),
    request_body = PairCodeRequest,
    responses(
        (status = 200, description = "The code to type on the phone", body = PairCodeResponse),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, pair_code_refused", body = ErrorBody),
        CommandErrors,
    )
)]
pub async fn pair_code(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<PairCodeRequest>,
) -> Result<Json<PairCodeResponse>, ApiError> {
    let code = state.host.pair_code(&id, &body.phone).await?;
    Ok(Json(PairCodeResponse { code }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendText {
    /// `+<phone>`, `<n>@s.whatsapp.net`, a LID `<n>@lid`, or a group:
    /// `<id>@g.us`.
    to: String,
    /// The text; with a file, its caption. Not empty when no file is
    /// given.
    #[serde(default)]
    text: String,
    /// A file instead of a text: at most one of `image`, `video`,
    /// `audio`, `voice` (a voice note: OGG/Opus), `document`, `sticker`.
    image: Option<FileInput>,
    video: Option<FileInput>,
    audio: Option<FileInput>,
    voice: Option<FileInput>,
    document: Option<FileInput>,
    sticker: Option<FileInput>,
}

/// A file uploaded as a `multipart/form-data` form instead of JSON: the
/// text fields first, then one file part named by its kind (the form may
/// carry a file of up to 2 GiB, or the session's file limit).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the form is read part by part (`api::upload`)
pub struct UploadForm {
    /// As in JSON; before the file part.
    to: String,
    /// The caption.
    text: Option<String>,
    /// Else the part's `Content-Type` unless generic, else sniffed.
    mimetype: Option<String>,
    /// Else the part's file name.
    file_name: Option<String>,
    /// The file: one part, named `image`, `video`, `audio`, `voice`,
    /// `document` or `sticker`.
    #[schema(value_type = String, format = Binary)]
    document: Vec<u8>,
}

/// A file given in the request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileInput {
    /// The file, standard base64 (the whole request is limited to 16 MiB).
    #[serde(default)]
    data: String,
    /// Or where to fetch it (http or https; no redirects followed; when
    /// the API listens beyond loopback, private and internal addresses
    /// are refused as for webhooks).
    url: Option<String>,
    /// Sniffed from the file when missing (JPEG, PNG, WebP, PDF, OGG, MP4,
    /// MP3), else a default for the kind.
    mimetype: Option<String>,
    /// Documents: the name the recipient sees.
    file_name: Option<String>,
}

impl SendText {
    /// The one file given, with its kind; `Err` when more than one is.
    fn file(&mut self) -> Result<Option<(&'static str, FileInput)>, ApiError> {
        let mut given = [
            ("image", self.image.take()),
            ("video", self.video.take()),
            ("audio", self.audio.take()),
            ("voice", self.voice.take()),
            ("document", self.document.take()),
            ("sticker", self.sticker.take()),
        ]
        .into_iter()
        .filter_map(|(kind, file)| file.map(|f| (kind, f)));
        let first = given.next();
        if given.next().is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "one_file",
                "a message carries at most one file",
            ));
        }
        Ok(first)
    }
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/messages",
    summary = "Send a text or a file; answered once the server acknowledged it",
    params(SessionPath),
    request_body(content(
        (SendText = "application/json"),
        (UploadForm = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "Accepted by the server", body = SentMessage),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, empty_text, one_file, invalid_form (a multipart form that cannot be read, a text field over 64 KiB, `to` after the file part), invalid_media (not base64, empty, an unknown kind, a voice note that is not OGG/Opus, a form with no file part), invalid_recipient, unsupported_recipient (a LID whose phone number is not known yet while the account still chats by number)", body = ErrorBody),
        (status = 413, description = "body_too_large (over 16 MiB), media_too_large (over the session's file limit)", body = ErrorBody),
        (status = 422, description = "not_on_whatsapp", body = ErrorBody),
        (status = 403, description = "not_group_admin: only a group admin may do that", body = ErrorBody),
        (status = 502, description = "media_failed: no media host took the file", body = ErrorBody),
        CommandErrors,
        (status = 404, description = "session_not_found, group_not_found (or we are not a member)", body = ErrorBody),
    )
)]
pub async fn send_message(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    request: axum::extract::Request,
) -> Result<impl IntoResponse, ApiError> {
    if super::state::is_multipart(request.headers()) {
        return super::upload::send_upload(state, id, request).await;
    }
    // The route takes uploads of up to 2 GiB; JSON stays at its own limit.
    let request = request.map(|body| {
        axum::body::Body::new(http_body_util::Limited::new(
            body,
            super::state::MAX_MESSAGE_BODY_BYTES,
        ))
    });
    let JsonBody(mut body) = JsonBody::<SendText>::from_request(request, &state).await?;
    if let Some((kind, file)) = body.file()? {
        use base64::prelude::{Engine as _, BASE64_STANDARD};
        let data = BASE64_STANDARD.decode(file.data.as_bytes()).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_media",
                format!("{kind}.data is not standard base64: {e}"),
            )
        })?;
        let file = SendFile {
            kind: kind.to_string(),
            data,
            url: file.url,
            mimetype: file.mimetype,
            caption: Some(body.text).filter(|t| !t.is_empty()),
            file_name: file.file_name,
        };
        let sent = state.host.send_file(&id, &body.to, file).await?;
        return Ok((StatusCode::CREATED, Json(sent)));
    }
    if body.text.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_text",
            "text must not be empty",
        ));
    }
    let sent = state.host.send_text(&id, &body.to, &body.text).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// The conversation the messages came in.
    chat: String,
    /// Who sent them: required when `chat` is a group (the message event's
    /// `sender`), ignored otherwise.
    #[serde(default)]
    sender: Option<String>,
    /// Their ids; at least one.
    ids: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/sessions/{id}/read",
    summary = "Send read receipts for received messages",
    params(SessionPath),
    request_body = MarkRead,
    responses(
        (status = 204, description = "Receipts sent"),
        (status = 400, description = "invalid_path, invalid_json, unknown_field, no_ids, invalid_recipient", body = ErrorBody),
        CommandErrors,
    )
)]
pub async fn mark_read(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<MarkRead>,
) -> Result<StatusCode, ApiError> {
    if body.ids.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_ids",
            "ids must list at least one message id",
        ));
    }
    state
        .host
        .mark_read(&id, &body.chat, body.sender.as_deref(), &body.ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
