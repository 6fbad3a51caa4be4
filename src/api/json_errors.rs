//! The last word on every answer: an error that is not JSON yet (axum's
//! own 405 and rejections, anything a layer answers in text) becomes the
//! API's `{"error", "message"}` with the same status and headers (`Allow`
//! stays). Also refuses, before any handler, a body announced larger
//! than the API accepts, so the client is not left sending it.
//! Must not touch: successful answers (images, metrics, event streams).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::body_limit;

/// Text kept from a non-JSON error body for the message.
const MAX_TEXT: usize = 4096;

pub async fn json_errors(request: Request, next: Next) -> Response {
    if let Some(refused) = announced_too_large(&request) {
        return refused;
    }
    let method = request.method().clone();
    let response = next.run(request).await;
    if response.status().as_u16() < 400 || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let status = parts.status;
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        format!("method {method} is not allowed here; allowed: {allowed}")
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let json = ApiError::new(status, code_of(status), message).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in json_parts.headers.iter() {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, json_body)
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The error code for a status no handler chose a code for.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    }
}

/// 413 straight from `Content-Length`, without reading the body; the
/// connection closes since the body is left unread.
fn announced_too_large(request: &Request<Body>) -> Option<Response> {
    let length: u64 = request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if length <= body_limit(request.method(), request.uri().path(), request.headers()) as u64 {
        return None;
    }
    let mut response = ApiError::body_too_large().into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}
