//! The bearer-key check every route but the health checks passes:
//! exactly one `Authorization: Bearer <key>` header with the right key.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::state::AppState;

pub async fn require_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(key) = &state.api_key {
        let presented = bearer_token(request.headers())?;
        match presented {
            Some(p) if key.matches(p) => {}
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "wrong API key",
                ))
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "missing API key: send Authorization: Bearer <key>",
                ))
            }
        }
    }
    Ok(next.run(request).await)
}

/// The token of the one `Authorization: Bearer <token>` header (the
/// scheme name is case-insensitive, RFC 9110 §11.1). Two headers are
/// refused: which one a proxy or a logger looked at is anyone's guess.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_authorization",
            "send exactly one Authorization header",
        ));
    }
    let Ok(value) = value.to_str() else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    Ok(scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start()))
}
