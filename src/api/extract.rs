//! Path and query extractors whose rejections are API errors (axum's
//! own answer 400 in plain text): a session id that is not UTF-8, a
//! repeated or malformed query parameter.
//! Must not touch: what the values mean (handlers and the host check).

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The `{id}` segment of a session route.
pub struct SessionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(SessionId(id)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                e.body_text(),
            )),
        }
    }
}

/// The `{id}` and `{group}` segments of a group route.
pub struct GroupRoute {
    pub id: String,
    pub group: String,
}

impl<S: Send + Sync> FromRequestParts<S> for GroupRoute {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (id, group) = two_segments(parts, state).await?;
        Ok(GroupRoute { id, group })
    }
}

/// The `{id}` and `{message_id}` segments of a message route.
pub struct MessageRoute {
    pub id: String,
    pub message_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for MessageRoute {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (id, message_id) = two_segments(parts, state).await?;
        Ok(MessageRoute { id, message_id })
    }
}

/// A route's two path segments; a 400 `invalid_path` when they do not
/// decode.
async fn two_segments<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<(String, String), ApiError> {
    match Path::<(String, String)>::from_request_parts(parts, state).await {
        Ok(Path(pair)) => Ok(pair),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            e.body_text(),
        )),
    }
}

/// The query string as `T`; unknown, repeated or malformed parameters
/// are a 400 `invalid_query`.
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(QueryOf(value)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                e.body_text(),
            )),
        }
    }
}
