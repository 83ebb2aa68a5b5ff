//! `/metrics`: Prometheus (OpenMetrics text) exposition.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::server::AppState;

/// Current metrics, cache gauges refreshed first.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (bytes, entries) = state.ctx.cache.usage().await;
    state
        .metrics
        .cache_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    state
        .metrics
        .cache_entries
        .set(i64::try_from(entries).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
