//! Session routes: create, list, get, delete, logout, restart, QR,
//! linking code, messages and read receipts.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::extract::{QueryOf, SessionId};
use super::json::{JsonBody, OptionalJsonBody};
use super::{ApiError, AppState};
use crate::host::{CreateSession, SessionInfo};

pub async fn create(
    State(state): State<AppState>,
    OptionalJsonBody(request): OptionalJsonBody<CreateSession>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    let info = state.host.create(request)?;
    Ok((StatusCode::CREATED, Json(info)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    Ok(Json(state.host.list()?))
}

pub async fn get(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(state.host.get(&id)?))
}

pub async fn delete(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<StatusCode, ApiError> {
    state.host.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn logout(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(state.host.logout(&id).await?))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairCodeRequest {
    phone: String,
}

pub async fn pair_code(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<PairCodeRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let code = state.host.pair_code(&id, &body.phone).await?;
    Ok(Json(serde_json::json!({ "code": code })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendText {
    to: String,
    text: String,
}

pub async fn send_message(
    State(state): State<AppState>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<SendText>,
) -> Result<impl IntoResponse, ApiError> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    chat: String,
    ids: Vec<String>,
}

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
    state.host.mark_read(&id, &body.chat, &body.ids).await?;
    Ok(StatusCode::NO_CONTENT)
}
