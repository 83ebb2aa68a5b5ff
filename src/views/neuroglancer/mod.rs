//! Neuroglancer viewer states (`spec/api.md`, "Viewer"): `GET /v1/neuroglancer?layers=a,b`
//! for several arrays and `GET /v1/arrays/{name}/neuroglancer` for one, both a redirect
//! to the viewer (the local client with `--neuroglancer-dir`, else `--neuroglancer-url`)
//! with the state in the fragment; `?format=json` returns the state itself.

pub mod shaders;
pub mod state;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::extract::{ArrayName, OpenArray, QueryParams};
use crate::server::AppState;
use crate::views::base_url;
use crate::views::local_viewer::VIEWER_PATH;
use state::Layer;

/// Most layers one combined view may have.
pub const MAX_LAYERS: usize = 32;

/// The viewer client links open: the local one when `--neuroglancer-dir` is set
/// ([`VIEWER_PATH`]), else `--neuroglancer-url`.
#[must_use]
pub fn viewer_url(state: &AppState, base: &str) -> String {
    if state.settings.neuroglancer_dir.is_some() {
        format!("{base}{VIEWER_PATH}")
    } else {
        format!("{}/", state.settings.neuroglancer_url.trim_end_matches('/'))
    }
}

/// The state of `arrays` as JSON or as a redirect to the viewer, per `format`.
fn answer(
    state: &AppState,
    headers: &HeaderMap,
    query: &QueryParams,
    arrays: &[OpenArray],
) -> Result<Response> {
    let base = base_url(state, headers);
    let layers: Vec<Layer<'_>> = arrays
        .iter()
        .map(|a| Layer {
            name: a.name(),
            meta: a.array.meta(),
            levels: &a.levels,
        })
        .collect();
    let st: Value = state::state(&base, &layers);
    match query.get("format") {
        Some("json") => Ok(Json(st).into_response()),
        None => {
            let url = format!(
                "{}#!{}",
                viewer_url(state, &base),
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

/// `GET /v1/arrays/{name}/neuroglancer[?format=json]`
///
/// # Errors
/// 404 unknown array, 400 bad query.
pub async fn neuroglancer(
    State(state): State<AppState>,
    ArrayName(name): ArrayName,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response> {
    query.only(&["format"])?;
    let open = OpenArray::lookup(&state, &name)?;
    answer(&state, &headers, &query, &[open])
}

/// The arrays `?layers=a,b,c` names, each once, registered and open.
fn named_layers(state: &AppState, query: &QueryParams) -> Result<Vec<OpenArray>> {
    let list = query.get("layers").ok_or_else(|| {
        Error::BadRequest(
            "layers is required: a comma-separated list of array names, e.g. ?layers=raw,labels"
                .into(),
        )
    })?;
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() || names.len() > MAX_LAYERS {
        return Err(Error::BadRequest(format!(
            "layers names {} arrays; give 1 to {MAX_LAYERS} names, comma-separated",
            names.len()
        )));
    }
    let mut out: Vec<OpenArray> = Vec::with_capacity(names.len());
    for name in names {
        if out.iter().any(|a| a.name() == name) {
            return Err(Error::BadRequest(format!(
                "layers names {name:?} twice; name each array once"
            )));
        }
        out.push(OpenArray::lookup(state, name)?);
    }
    Ok(out)
}

/// `GET /v1/neuroglancer?layers=a,b,c[&format=json]`
///
/// # Errors
/// 400 missing, repeated or too many layers, or a bad query; 404 an unknown array.
pub async fn combined(
    State(state): State<AppState>,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response> {
    query.only(&["layers", "format"])?;
    let arrays = named_layers(&state, &query)?;
    answer(&state, &headers, &query, &arrays)
}
