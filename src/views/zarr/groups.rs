//! Zarr groups: an array as an OME-NGFF multiscale group (`ome-zarr`, `ome-zarr2`) and
//! the root group of every array (`/v1/zarr/`, `/v1/zarr2/`, consolidated metadata).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use xxhash_rust::xxh3::xxh3_64;

use super::documents::{attributes, metadata_doc};
use super::keys::Node;
use super::{Version, serve_key};
use crate::error::{Error, Result};
use crate::http::cache_headers::{Cacheable, for_array, respond, revalidate};
use crate::http::extract::PathParams;
use crate::server::AppState;
use crate::views::ome::multiscales;

/// The array as an OME-NGFF multiscale group (0.5 on v3, 0.4 on v2) whose datasets
/// `s0..sN` are its levels, for viewers that read scales and offsets only from groups
/// (neuroglancer's `zarr://`).
async fn serve_ome(
    state: &AppState,
    name: &str,
    key: &str,
    headers: &HeaderMap,
    version: Version,
) -> Result<Response> {
    let entry = state.registry.get(name)?;
    let m = entry.array()?.meta();
    let levels = entry.levels()?;
    let group_attrs = || {
        let mut attrs = Map::new();
        let ms = multiscales(m, levels, name, version.ome_version(), "s0");
        version.put_multiscales(&mut attrs, ms);
        version.group_document(attrs)
    };
    let doc = match (version, key) {
        (Version::V3, "zarr.json") | (Version::V2, ".zattrs") => group_attrs(),
        (Version::V2, ".zgroup") => json!({"zarr_format": 2}),
        _ if key.starts_with('s') && key.contains('/') => {
            return serve_key(state, name, key, headers, version).await;
        }
        _ => {
            return Err(Error::NotFound(format!(
                "no key {key:?} in the multiscale group; it holds s0..sN"
            )));
        }
    };
    respond(
        headers,
        Cacheable {
            body: Bytes::from(doc.to_string()),
            content_type: "application/json",
            etag: format!("{}-ome-{key}", m.hash),
            cache_control: for_array(m.freshness),
        },
    )
}

/// The root group of every array, with consolidated metadata.
fn root_document(state: &AppState, version: Version) -> Value {
    let codec = state.settings.zarr_codec;
    let mut members = Map::new();
    for e in state.registry.list() {
        let (Ok(array), Ok(levels)) = (e.array(), e.levels()) else {
            continue;
        };
        let Ok(doc) = metadata_doc(array, levels, &e.name, Node::Root, version, codec) else {
            continue;
        };
        match version {
            Version::V3 => {
                members.insert(e.name.clone(), doc);
            }
            Version::V2 => {
                members.insert(format!("{}/.zarray", e.name), doc);
                let attrs = attributes(array.meta(), levels, &e.name, Node::Root, version);
                members.insert(format!("{}/.zattrs", e.name), Value::Object(attrs));
            }
        }
    }
    match version {
        Version::V3 => json!({
            "zarr_format": 3,
            "node_type": "group",
            "attributes": {},
            "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": members},
        }),
        Version::V2 => {
            let mut metadata = Map::new();
            metadata.insert(".zgroup".into(), json!({"zarr_format": 2}));
            metadata.insert(".zattrs".into(), json!({}));
            metadata.extend(members);
            json!({"zarr_consolidated_format": 1, "metadata": metadata})
        }
    }
}

async fn serve_group(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    version: Version,
) -> Result<Response> {
    let doc = match (version, path) {
        (Version::V3, "zarr.json") | (Version::V2, ".zmetadata") => {
            Some(root_document(state, version))
        }
        (Version::V2, ".zgroup") => Some(json!({"zarr_format": 2})),
        (Version::V2, ".zattrs") => Some(json!({})),
        _ => None,
    };
    if let Some(doc) = doc {
        let body = Bytes::from(doc.to_string());
        let etag = format!("{:016x}", xxh3_64(&body));
        return respond(
            headers,
            Cacheable {
                body,
                content_type: "application/json",
                etag,
                cache_control: revalidate(),
            },
        );
    }
    let (name, key) = path
        .split_once('/')
        .ok_or_else(|| Error::NotFound(format!("no zarr key {path:?} in the group")))?;
    serve_key(state, name, key, headers, version).await
}

/// `GET /v1/arrays/{name}/ome-zarr/{*key}` (`V3`: OME-NGFF 0.5) and
/// `/v1/arrays/{name}/ome-zarr2/{*key}` (OME-NGFF 0.4).
///
/// # Errors
/// As the per-array view.
pub async fn ome_group<const V3: bool>(
    State(state): State<AppState>,
    path: PathParams,
    headers: HeaderMap,
) -> Result<Response> {
    serve_ome(
        &state,
        path.get("name")?,
        path.get("key")?,
        &headers,
        Version::of(V3),
    )
    .await
}

/// `GET /v1/zarr/{*path}` (`V3`) and `/v1/zarr2/{*path}`: the group of every array.
///
/// # Errors
/// As the per-array view.
pub async fn root_group<const V3: bool>(
    State(state): State<AppState>,
    path: PathParams,
    headers: HeaderMap,
) -> Result<Response> {
    serve_group(&state, path.get("path")?, &headers, Version::of(V3)).await
}
