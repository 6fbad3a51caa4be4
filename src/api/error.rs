//! API errors: every failure is `{"error": code, "message": text}` with
//! the status that says what went wrong.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::host::{HostError, SessionErrorKind};

/// What every error answer carries.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code (`session_not_found`, `invalid_json`, ...).
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 413 for a body over its route's limit
    /// (`state::body_limit`).
    pub fn body_too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "request bodies are limited to {} bytes ({} to send a message, which may carry a file in base64; {} for a multipart upload)",
                super::state::MAX_BODY_BYTES,
                super::state::MAX_MESSAGE_BODY_BYTES,
                super::state::MAX_UPLOAD_BODY_BYTES
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Capacity frees up when sessions end; ask clients to come back.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        response
    }
}

impl From<HostError> for ApiError {
    fn from(e: HostError) -> Self {
        use StatusCode as S;
        let (status, code) = match &e {
            HostError::NotFound(_) => (S::NOT_FOUND, "session_not_found"),
            HostError::AlreadyExists(_) => (S::CONFLICT, "session_exists"),
            HostError::InvalidId(_) => (S::BAD_REQUEST, "invalid_session_id"),
            HostError::InvalidWebhook(_) => (S::BAD_REQUEST, "invalid_webhook"),
            HostError::CapacityExhausted { .. } => (S::SERVICE_UNAVAILABLE, "capacity_exhausted"),
            HostError::ShuttingDown => (S::SERVICE_UNAVAILABLE, "shutting_down"),
            HostError::Session { kind, .. } => session_status(*kind),
            HostError::Store(_) | HostError::Database(_) => {
                tracing::error!(error = %e, "storage failure");
                (S::INTERNAL_SERVER_ERROR, "storage_error")
            }
            HostError::Cluster(_) => (S::SERVICE_UNAVAILABLE, "cluster_unreachable"),
            HostError::NodeNotFound(_) => (S::NOT_FOUND, "node_not_found"),
            HostError::CannotDrain(_) => (S::CONFLICT, "cannot_drain"),
            HostError::CannotMove(_) => (S::CONFLICT, "cannot_move"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn session_status(kind: SessionErrorKind) -> (StatusCode, &'static str) {
    use SessionErrorKind as K;
    use StatusCode as S;
    match kind {
        K::NotConnected => (S::CONFLICT, "not_connected"),
        K::Stopped => (S::CONFLICT, "session_stopped"),
        K::InvalidRecipient => (S::BAD_REQUEST, "invalid_recipient"),
        K::UnsupportedRecipient => (S::BAD_REQUEST, "unsupported_recipient"),
        K::NotOnWhatsApp => (S::UNPROCESSABLE_ENTITY, "not_on_whatsapp"),
        K::InvalidGroup => (S::BAD_REQUEST, "invalid_group"),
        K::GroupNotFound => (S::NOT_FOUND, "group_not_found"),
        K::NotGroupAdmin => (S::FORBIDDEN, "not_group_admin"),
        K::Timeout => (S::GATEWAY_TIMEOUT, "timeout"),
        K::ServerRefused => (S::BAD_GATEWAY, "server_error"),
        K::NotImplemented => (S::NOT_IMPLEMENTED, "not_implemented"),
        K::AlreadyLinked => (S::CONFLICT, "already_linked"),
        K::NotPairing => (S::CONFLICT, "not_pairing"),
        K::PairCodeBusy => (S::CONFLICT, "pair_code_busy"),
        K::PairCodeRefused => (S::BAD_REQUEST, "pair_code_refused"),
        K::MediaGone => (S::GONE, "media_gone"),
        K::MediaTooLarge => (S::PAYLOAD_TOO_LARGE, "media_too_large"),
        K::MediaFailed => (S::BAD_GATEWAY, "media_failed"),
        K::InvalidMedia => (S::BAD_REQUEST, "invalid_media"),
        K::MediaBusy => (S::SERVICE_UNAVAILABLE, "media_busy"),
        K::UnknownMessage => (S::NOT_FOUND, "unknown_message"),
        K::Internal => (S::INTERNAL_SERVER_ERROR, "internal_error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SessionErrorKind;

    #[test]
    fn group_refusals_have_their_own_statuses() {
        for (kind, status, code) in [
            (SessionErrorKind::InvalidGroup, 400, "invalid_group"),
            (SessionErrorKind::GroupNotFound, 404, "group_not_found"),
            (SessionErrorKind::NotGroupAdmin, 403, "not_group_admin"),
        ] {
            let error = ApiError::from(HostError::Session {
                kind,
                message: "m".into(),
            });
            assert_eq!((error.status.as_u16(), error.code), (status, code));
        }
    }
}
