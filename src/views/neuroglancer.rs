//! `GET /v1/arrays/{name}/neuroglancer`: a redirect to a neuroglancer viewer whose state
//! shows the array as one layer over this server's precomputed view; `?format=json`
//! returns the state itself.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::http::extract::{ArrayName, OpenArray, QueryParams};
use crate::server::AppState;
use crate::views::base_url;

/// The viewer state for array `name` served at `base`.
#[must_use]
pub fn state(base: &str, name: &str, segmentation: bool) -> Value {
    json!({
        "layers": [{
            "type": if segmentation { "segmentation" } else { "image" },
            "source": format!("precomputed://{base}/v1/arrays/{name}/precomputed"),
            "name": name,
        }],
        "selectedLayer": {"layer": name, "visible": true},
        "layout": "4panel",
    })
}

/// `GET /v1/arrays/{name}/neuroglancer[?format=json]`
///
/// # Errors
/// 404 unknown array, 400 bad query.
pub async fn neuroglancer(
    State(state_): State<AppState>,
    ArrayName(name): ArrayName,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response> {
    query.only(&["format"])?;
    let segmentation = OpenArray::lookup(&state_, &name)?.levels.segmentation;
    let st = state(&base_url(&state_, &headers), &name, segmentation);
    match query.get("format") {
        Some("json") => Ok(Json(st).into_response()),
        None => {
            let viewer = state_.settings.neuroglancer_url.trim_end_matches('/');
            let url = format!(
                "{viewer}/#!{}",
                utf8_percent_encode(&st.to_string(), NON_ALPHANUMERIC)
            );
            let location =
                HeaderValue::from_str(&url).map_err(|e| Error::Internal(e.to_string()))?;
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
        }
        Some(other) => Err(Error::BadRequest(format!(
            "format={other:?} is not supported; use json or omit it"
        ))),
    }
}
