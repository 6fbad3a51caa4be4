//! Server-Sent Events: one stream per session and one for all sessions.
//! Each event's SSE name is its type (`qr`, `connected`, `message`,
//! `capacity.alert` ...), its data the JSON event. Every stream ends when
//! the API shuts down, so a client kept connected cannot hold the
//! process up.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt as _};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::SessionId;
use super::schemas::SessionPath;
use super::state::AppState;
use crate::host::HostEvent;

#[utoipa::path(
    get,
    path = "/v1/events",
    summary = "Server-Sent Events of every session and of the host",
    responses(
        (status = 200, description = "An event stream: each event's name is its `type`, its data one HostEvent as JSON (a `lagged` event tells how many a slow reader missed)",
            body = HostEvent, content_type = "text/event-stream"),
    )
)]
pub async fn all_events(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // In a cluster, the other nodes' sessions too (never twice: a
    // forwarded stream is this node's alone).
    let remote = match super::forward::is_forwarded(&headers) {
        true => None,
        false => state.host.subscribe_cluster(),
    };
    let remote = stream::unfold(remote, |remote| async move {
        let mut rx = remote?;
        let sse = match rx.recv().await {
            Ok(event) => SseEvent::default().event(event.kind).data(event.data),
            Err(RecvError::Lagged(missed)) => SseEvent::default()
                .event("lagged")
                .data(format!("{{\"missed\":{missed}}}")),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(sse), Some(rx)))
    });
    let mut shutdown = state.shutdown.clone();
    let remote = remote.take_until(async move { shutdown.wait().await });
    let local = stream_of(state, None);
    Sse::new(stream::select(local, remote)).keep_alive(KeepAlive::default())
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}/events",
    summary = "Server-Sent Events of one session (and of the host)",
    params(SessionPath),
    responses(
        (status = 200, description = "An event stream, as /v1/events but for this session",
            body = HostEvent, content_type = "text/event-stream"),
        (status = 400, description = "invalid_path", body = ErrorBody),
        (status = 404, description = "session_not_found", body = ErrorBody),
        (status = 500, description = "storage_error", body = ErrorBody),
    )
)]
pub async fn session_events(
    State(state): State<AppState>,
    SessionId(id): SessionId,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    state.host.get(&id)?;
    Ok(Sse::new(stream_of(state, Some(id))).keep_alive(KeepAlive::default()))
}

/// Host-wide events (capacity) go to every stream; session events only
/// to their session's stream and the global one.
fn stream_of(
    state: AppState,
    session: Option<String>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let rx = state.host.subscribe();
    let mut shutdown = state.shutdown.clone();
    let events = stream::unfold((rx, session), |(mut rx, session)| async move {
        loop {
            match rx.recv().await {
                Ok(event) if wanted(&event, session.as_deref()) => {
                    let sse = to_sse(&event);
                    return Some((Ok(sse), (rx, session)));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    let sse = SseEvent::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{missed}}}"));
                    return Some((Ok(sse), (rx, session)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    events.take_until(async move { shutdown.wait().await })
}

fn wanted(event: &HostEvent, session: Option<&str>) -> bool {
    match (session, event.session.as_deref()) {
        (None, _) | (_, None) => true,
        (Some(want), Some(from)) => want == from,
    }
}

fn to_sse(event: &HostEvent) -> SseEvent {
    match event.encode() {
        Some((kind, data)) => SseEvent::default().event(kind).data(data),
        None => SseEvent::default().event("event").data("{}"),
    }
}
