//! HTTP views: one module per resource (`spec/api.md`).

pub mod arrays;
pub mod health;
pub mod index;
pub mod local_viewer;
pub mod metrics;
pub mod neuroglancer;
pub mod ome;
pub mod precomputed;
pub mod preview;
pub mod roi;
pub mod segments;
pub mod write;
pub mod zarr;

use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use crate::server::AppState;

/// The base URL clients reach this server at: `--public-url`, else from `Host`.
#[must_use]
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = state
        .settings
        .public_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| state.settings.listen.to_string(), ToOwned::to_owned);
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// Links to every view of the array `name`.
#[must_use]
pub fn links(base: &str, name: &str) -> Value {
    let a = format!("{base}/v1/arrays/{name}");
    json!({
        "self": a,
        "roi": format!("{a}/roi"),
        "precomputed": format!("precomputed://{a}/precomputed"),
        "neuroglancer": format!("{a}/neuroglancer"),
        "preview": format!("{a}/preview.png"),
        "zarr": format!("{a}/zarr/"),
        "zarr2": format!("{a}/zarr2/"),
        "ome_zarr": format!("{a}/ome-zarr/"),
        "ome_zarr2": format!("{a}/ome-zarr2/"),
    })
}
