//! Operations routes: health, readiness, capacity, Prometheus metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::error::ApiError;
use super::error::ErrorBody;
use super::state::AppState;
use crate::host::{CapacityReport, ClusterCapacity};

/// What the health routes answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` (alive) or `ready` (restore finished).
    status: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    summary = "Liveness",
    security(()),
    responses((status = 200, description = "The process serves requests", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready once every stored session has been restored.
#[utoipa::path(
    get,
    path = "/readyz",
    summary = "Readiness: every stored session was started",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "restoring; cluster_unreachable (a node whose Redis did not answer its last heartbeat); lease_lost (a node that could not renew its lease in PostgreSQL, its sessions stopped)", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before asking again"))),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if state.host.is_ready() {
        Ok(Json(Health { status: "ready" }))
    } else if !state.host.is_restored() {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "restoring",
            "stored sessions are still being restored",
        ))
    } else if !state.host.lease_valid() {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "lease_lost",
            "this node could not renew its lease in PostgreSQL: its sessions are stopped until it can",
        ))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unreachable",
            "the cluster's Redis did not answer the last heartbeat; sessions keep serving",
        ))
    }
}

/// `GET /v1/capacity`: this process's capacity, and in a cluster the
/// whole cluster's.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Capacity {
    #[serde(flatten)]
    pub here: CapacityReport,
    /// Every node's load summed (null outside a cluster, or when Redis
    /// did not answer).
    pub cluster: Option<ClusterCapacity>,
}

#[utoipa::path(
    get,
    path = "/v1/capacity",
    summary = "Sessions, capacity, memory and the alert; in a cluster, the cluster's too",
    responses((status = 200, description = "Capacity now", body = Capacity))
)]
pub async fn capacity(State(state): State<AppState>) -> Json<Capacity> {
    let cluster = match state.host.cluster_capacity().await {
        Ok(cluster) => cluster,
        Err(e) => {
            tracing::warn!(error = %e, "cluster capacity unknown");
            None
        }
    };
    Json(Capacity {
        here: state.host.capacity(),
        cluster,
    })
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Prometheus text exposition format, version 0.0.4.
#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 500, description = "storage_error", body = ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let capacity = state.host.capacity();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for session in state.host.list()? {
        let name = serde_json::to_value(session.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        *by_status.entry(name).or_default() += 1;
    }
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE wasp_sessions gauge");
    for (status, count) in by_status {
        let _ = writeln!(out, "wasp_sessions{{status=\"{status}\"}} {count}");
    }
    let gauges = [
        ("wasp_max_sessions", capacity.max_sessions as f64),
        ("wasp_capacity_utilization", capacity.utilization),
        ("wasp_capacity_alert", u8::from(capacity.alert) as f64),
        ("wasp_media_transfers", capacity.media_transfers as f64),
        (
            "wasp_memory_rss_bytes",
            capacity.memory.rss_bytes.unwrap_or(0) as f64,
        ),
        (
            "wasp_memory_per_session_bytes",
            capacity.memory.per_session_bytes as f64,
        ),
        (
            "wasp_webhooks_pending",
            state.host.pending_webhooks()? as f64,
        ),
    ];
    for (name, value) in gauges {
        let _ = writeln!(out, "# TYPE {name} gauge\n{name} {value}");
    }
    let c = state.host.counters();
    let counters = [
        ("wasp_reconnects_total", c.reconnects),
        ("wasp_messages_received_total", c.messages_in),
        ("wasp_messages_sent_total", c.messages_out),
        ("wasp_receipts_received_total", c.receipts_in),
        ("wasp_messages_undecryptable_total", c.undecryptable),
        ("wasp_webhook_deliveries_total", c.webhooks_delivered),
        ("wasp_webhook_failures_total", c.webhooks_failed),
    ];
    for (name, value) in counters {
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {value}");
    }
    state.http.render(&mut out);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
