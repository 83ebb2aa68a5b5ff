//! `/healthz` (the process answers) and `/readyz` (the registry is loaded).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::problem_response;
use crate::server::AppState;

/// Liveness: always 200 while the process serves requests.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 once start-up (registry, demo, `--config`) is complete, else a 503
/// problem. Probes during start-up are expected: they are not logged as failures.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.registry.is_ready() {
        Json(json!({
            "status": "ready",
            "arrays": state.registry.list().len(),
            "registry": state.registry.status(),
        }))
        .into_response()
    } else {
        problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the registry is still loading",
            None,
        )
    }
}
