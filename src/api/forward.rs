//! Cluster routing: a request about a session another node runs is
//! forwarded to that node as it came (method, path, query, headers —
//! the API key included, so every node of a cluster shares one — and the
//! body, streamed both ways, so uploads and event streams pass through),
//! marked `X-Wasp-Forwarded` so the node that receives it serves it
//! itself. Node-to-node traffic is plain HTTP to each node's advertised
//! URL: keep it on a private network.
//!
//! Owns: the forwarding middleware and the one-hop HTTP/1.1 client.
//! Must not touch: where sessions live (the host says) or what the
//! routes do.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use super::error::ApiError;
use super::state::AppState;

/// Marks a request one node forwarded to another (its value: the
/// sender's node id); the receiver never forwards it again.
pub const FORWARDED: HeaderName = HeaderName::from_static("x-wasp-forwarded");

/// How long connecting to another node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `request` came from another node.
pub fn is_forwarded(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(FORWARDED)
}

/// The session a `/v1/sessions/{id}/…` path names.
fn session_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1/sessions/")?;
    rest.split('/').next().filter(|id| !id.is_empty())
}

/// Middleware of the session routes: serve here, or forward to the node
/// that runs the session.
pub async fn to_owner(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_forwarded(request.headers()) {
        return next.run(request).await;
    }
    let Some(id) = session_of(request.uri().path()).map(str::to_owned) else {
        return next.run(request).await;
    };
    match state.host.elsewhere(&id).await {
        Ok(None) => next.run(request).await,
        Ok(Some(owner)) if !owner.alive => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "node_unavailable",
            format!(
                "session {id:?} runs on node {}, which does not answer",
                owner.node
            ),
        )
        .into_response(),
        Ok(Some(owner)) => {
            let from = state.host.node_id().unwrap_or_default().to_string();
            match forward(request, &owner.url, &from).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            }
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A request of this node's own to another (the create placed there, the
/// list asked of each), carrying the caller's API key; `json` as its
/// body, if any.
pub fn node_request(
    method: axum::http::Method,
    path: Uri,
    caller: &axum::http::HeaderMap,
    json: Option<Vec<u8>>,
) -> Request {
    let has_body = json.is_some();
    let mut request = Request::new(json.map_or_else(Body::empty, Body::from));
    *request.method_mut() = method;
    *request.uri_mut() = path;
    if let Some(auth) = caller.get(header::AUTHORIZATION) {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, auth.clone());
    }
    if has_body {
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    request
}

/// Sends `request` to the node at `base` (`http://host:port`) and answers
/// with what it answers, streamed.
pub async fn forward(mut request: Request, base: &str, from: &str) -> Result<Response, ApiError> {
    let unreachable = |why: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "node_unreachable",
            format!("node at {base}: {why}"),
        )
    };
    let authority = base
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .filter(|a| !a.is_empty())
        .ok_or_else(|| unreachable("not an http:// URL".into()))?
        .to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = path
        .parse::<Uri>()
        .map_err(|e| unreachable(e.to_string()))?;
    let headers = request.headers_mut();
    headers.insert(
        header::HOST,
        HeaderValue::from_str(&authority).map_err(|e| unreachable(e.to_string()))?,
    );
    headers.insert(
        FORWARDED,
        HeaderValue::from_str(from).unwrap_or(HeaderValue::from_static("node")),
    );
    for hop in [header::CONNECTION, header::TE, header::UPGRADE] {
        headers.remove(hop);
    }
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&authority))
        .await
        .map_err(|_| unreachable("connecting timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "forwarded connection ended");
        }
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(response.map(Body::new))
}

/// Sends `request` to the node at `base` and reads its answer as JSON
/// (at most 16 MiB): for asking every node what it runs.
pub async fn ask_json(
    request: Request,
    base: &str,
    from: &str,
) -> Result<serde_json::Value, ApiError> {
    let response = forward(request, base, from).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "node_unreachable",
                format!("node at {base}: {e}"),
            )
        })?;
    if !status.is_success() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "node_unreachable",
            format!("node at {base} answered {status}"),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "node_unreachable",
            format!("node at {base}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_session_is_read_from_its_paths_only() {
        use super::session_of;
        assert_eq!(session_of("/v1/sessions/alice"), Some("alice"));
        assert_eq!(session_of("/v1/sessions/alice/messages"), Some("alice"));
        assert_eq!(session_of("/v1/sessions/"), None);
        assert_eq!(session_of("/v1/sessions"), None);
        assert_eq!(session_of("/v1/capacity"), None);
    }
}
