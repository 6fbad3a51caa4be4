//! The media hosts' HTTP routes, on the simulator's own listener:
//! `POST /mms/{type}/{token}?auth=…&token=…` stores an upload (its
//! SHA-256, base64url, must be the token: the real server names files by
//! their hash) and answers `{"url", "direct_path"}`;
//! `GET /v/t62.7118-24/{file}` serves it back until it expires.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::prelude::{Engine as _, BASE64_URL_SAFE, BASE64_URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::sim::state::SimState;

/// The path files are served under (the shape of WhatsApp's direct paths).
const FILES: &str = "/v/t62.7118-24";

/// The upload paths' media types (whatsmeow `mediaTypeToMMSType`).
const SEGMENTS: [&str; 5] = ["image", "video", "audio", "document", "md-msg-hist"];

pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/mms/{segment}/{token}", post(upload))
        .route("/v/t62.7118-24/{file}", get(download))
        .with_state(state)
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

/// The value of query parameter `key`.
fn query_param<'a>(uri: &'a Uri, key: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The direct path a stored file is served at.
pub(crate) fn direct_path(name: &str) -> String {
    format!("{FILES}/{name}.enc?ccb=11-4")
}

/// The stored file a direct path (or download URL) names.
pub(crate) fn file_name(direct_path: &str) -> Option<&str> {
    let rest = direct_path.split_once(FILES)?.1;
    let file = rest.trim_start_matches('/').split('?').next()?;
    file.strip_suffix(".enc")
}

async fn upload(
    State(state): State<Arc<SimState>>,
    Path((segment, token)): Path<(String, String)>,
    uri: Uri,
    body: Body,
) -> Response {
    if !SEGMENTS.contains(&segment.as_str()) {
        return refuse(StatusCode::NOT_FOUND, "unknown media type");
    }
    let auth = query_param(&uri, "auth").unwrap_or_default();
    if !state.media().token_valid(auth, state.now()) {
        return refuse(StatusCode::UNAUTHORIZED, "bad or expired auth token");
    }
    // A client asks first whether a large upload can be resumed
    // (whatsapp-rust `upload.rs`, WA Web `_checkIfAlreadyUploaded`): the
    // simulator keeps no partial uploads, so there is never anything to
    // resume and the client sends the whole file.
    if query_param(&uri, "resume") == Some("1") {
        return Json(json!({})).into_response();
    }
    if query_param(&uri, "file_offset").is_some() {
        return refuse(StatusCode::BAD_REQUEST, "resumed uploads are not kept");
    }
    let bytes = match axum::body::to_bytes(body, state.max_media_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "file too large"),
    };
    let named = BASE64_URL_SAFE
        .decode(&token)
        .or_else(|_| BASE64_URL_SAFE_NO_PAD.decode(&token))
        .unwrap_or_default();
    if named.as_slice() != Sha256::digest(&bytes).as_slice() {
        return refuse(StatusCode::BAD_REQUEST, "the file's hash is not its token");
    }
    let name = state.media().put(bytes);
    let path = direct_path(&name);
    let url = format!("http://{}{path}", state.media_host());
    Json(json!({ "url": url, "direct_path": path })).into_response()
}

async fn download(State(state): State<Arc<SimState>>, Path(file): Path<String>) -> Response {
    let found = file
        .strip_suffix(".enc")
        .and_then(|name| state.media().get(name));
    match found {
        Some(upload) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            upload.bytes,
        )
            .into_response(),
        None => refuse(StatusCode::NOT_FOUND, "no such file (expired?)"),
    }
}
