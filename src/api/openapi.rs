//! The OpenAPI 3.1 document for the routes in [`super::router`]. Written
//! by hand (small and exact); a test checks it lists every route.

use axum::Json;
use serde_json::{json, Value};

/// Every route as (path, method, summary); the router registers the same.
pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "/v1/sessions",
        "post",
        "Create a session (optional id, webhook)",
    ),
    ("/v1/sessions", "get", "List sessions"),
    ("/v1/sessions/{id}", "get", "Get a session"),
    (
        "/v1/sessions/{id}",
        "delete",
        "Log out, wipe and forget a session",
    ),
    ("/v1/sessions/{id}/logout", "post", "Unlink the device"),
    (
        "/v1/sessions/{id}/restart",
        "post",
        "Restart a session from its state",
    ),
    (
        "/v1/sessions/{id}/qr",
        "get",
        "Current QR code (?format=json|png|svg)",
    ),
    (
        "/v1/sessions/{id}/pair-code",
        "post",
        "Request a linking code for a phone",
    ),
    ("/v1/sessions/{id}/messages", "post", "Send a text message"),
    ("/v1/sessions/{id}/read", "post", "Mark messages as read"),
    (
        "/v1/sessions/{id}/events",
        "get",
        "Server-Sent Events of one session",
    ),
    ("/v1/events", "get", "Server-Sent Events of all sessions"),
    ("/v1/capacity", "get", "Sessions, capacity, memory, alert"),
    ("/healthz", "get", "Liveness"),
    ("/readyz", "get", "Readiness (restore finished)"),
    ("/metrics", "get", "Prometheus metrics"),
    ("/openapi.json", "get", "This document"),
];

pub async fn document() -> Json<Value> {
    Json(build())
}

pub fn build() -> Value {
    let mut paths = serde_json::Map::new();
    for (path, method, summary) in ROUTES {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        let mut op = json!({
            "summary": summary,
            "responses": {
                "default": {"description": "JSON; errors are {\"error\": code, \"message\": text}"}
            },
        });
        if path.contains("{id}") {
            op["parameters"] = json!([{
                "name": "id", "in": "path", "required": true,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
            }]);
        }
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "wasp", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    })
}
