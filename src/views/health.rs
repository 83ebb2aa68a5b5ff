//! `/healthz` (the process answers) and `/readyz` (the registry is loaded).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::server::AppState;

/// Liveness: always 200 while the process serves requests.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 once start-up (registry, demo, `--config`) is complete, else 503.
///
/// # Errors
/// [`Error::Unavailable`] while loading.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>> {
    if state.registry.is_ready() {
        Ok(Json(
            json!({"status": "ready", "arrays": state.registry.list().len()}),
        ))
    } else {
        Err(Error::Unavailable("the registry is still loading".into()))
    }
}
