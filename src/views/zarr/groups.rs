//! Zarr groups: an array as an OME-NGFF multiscale group (`ome-zarr`, `ome-zarr2`) and
//! the root group of every array (`/v1/zarr/`, `/v1/zarr2/`, consolidated metadata).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use xxhash_rust::xxh3::xxh3_64;

use super::documents::{attributes, metadata_doc};
use super::keys::{ArrayKey, KeyKind, Node, ZarrKey, parse_key};
use super::{Served, Version};
use crate::error::{Error, Result};
use crate::http::cache_headers::{Cacheable, for_array, respond, revalidate};
use crate::http::extract::OpenArray;
use crate::server::AppState;
use crate::views::ome::multiscales;

/// A key of an array's multiscale group: one of its own documents, or a key of a level.
#[derive(Debug)]
pub enum OmeKey {
    /// The group's attributes (`zarr.json` on v3, `.zattrs` on v2).
    Attrs(&'static str),
    /// `.zgroup` (v2).
    Group,
    /// `sK/...`: a key of level `K`'s array.
    Level(ArrayKey),
}

impl KeyKind for OmeKey {
    const SEGMENT: &'static str = "key";

    fn parse(version: Version, key: &str) -> Result<Self> {
        match (version, key) {
            (Version::V3, "zarr.json") => Ok(OmeKey::Attrs("zarr.json")),
            (Version::V2, ".zattrs") => Ok(OmeKey::Attrs(".zattrs")),
            (Version::V2, ".zgroup") => Ok(OmeKey::Group),
            _ if key.starts_with('s') && key.contains('/') => {
                parse_key(version, key).map(OmeKey::Level)
            }
            _ => Err(Error::NotFound(format!(
                "no key {key:?} in the multiscale group; it holds s0..sN"
            ))),
        }
    }
}

/// The array as an OME-NGFF multiscale group (0.5 on v3, 0.4 on v2) whose datasets
/// `s0..sN` are its levels, for viewers that read scales and offsets only from groups
/// (neuroglancer's `zarr://`).
impl Served for OmeKey {
    async fn serve(
        self,
        state: &AppState,
        open: &OpenArray,
        headers: &HeaderMap,
        version: Version,
    ) -> Result<Response> {
        let (m, name) = (open.array.meta(), open.name());
        let (doc, tag) = match self {
            OmeKey::Attrs(tag) => {
                let mut attrs = Map::new();
                let ms = multiscales(m, &open.levels, name, version.ome_version(), "s0");
                version.put_multiscales(&mut attrs, ms);
                (version.group_document(attrs), tag)
            }
            OmeKey::Group => (json!({"zarr_format": 2}), ".zgroup"),
            OmeKey::Level(key) => return key.serve(state, open, headers, version).await,
        };
        respond(
            headers,
            Cacheable {
                body: Bytes::from(doc.to_string()).into(),
                content_type: "application/json",
                etag: format!("{}-ome-{tag}", m.hash),
                cache_control: for_array(m.freshness),
            },
        )
    }
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

/// A key of the root group: one of its documents, or `{name}/{key}` of an array.
#[derive(Debug)]
pub enum GroupKey {
    /// `zarr.json` (v3) or `.zmetadata` (v2): the consolidated root document.
    Root,
    /// `.zgroup` (v2).
    Group,
    /// `.zattrs` (v2).
    Attrs,
    /// `{name}/{key}`: a key of the named array's view, parsed once the array is found.
    Member {
        /// The array's name.
        name: String,
        /// The key inside its view.
        key: String,
    },
}

impl KeyKind for GroupKey {
    const SEGMENT: &'static str = "path";

    fn parse(version: Version, path: &str) -> Result<Self> {
        match (version, path) {
            (Version::V3, "zarr.json") | (Version::V2, ".zmetadata") => Ok(GroupKey::Root),
            (Version::V2, ".zgroup") => Ok(GroupKey::Group),
            (Version::V2, ".zattrs") => Ok(GroupKey::Attrs),
            _ => path
                .split_once('/')
                .map(|(name, key)| GroupKey::Member {
                    name: name.to_owned(),
                    key: key.to_owned(),
                })
                .ok_or_else(|| Error::NotFound(format!("no zarr key {path:?} in the group"))),
        }
    }
}

async fn serve_group(
    state: &AppState,
    path: GroupKey,
    headers: &HeaderMap,
    version: Version,
) -> Result<Response> {
    let doc = match path {
        GroupKey::Root => root_document(state, version),
        GroupKey::Group => json!({"zarr_format": 2}),
        GroupKey::Attrs => json!({}),
        GroupKey::Member { name, key } => {
            let open = OpenArray::lookup(state, &name)?;
            let key = parse_key(version, &key)?;
            return key.serve(state, &open, headers, version).await;
        }
    };
    let body = Bytes::from(doc.to_string());
    let etag = format!("{:016x}", xxh3_64(&body));
    respond(
        headers,
        Cacheable {
            body: body.into(),
            content_type: "application/json",
            etag,
            cache_control: revalidate(),
        },
    )
}

/// `GET /v1/zarr/{*path}` (`V3`) and `/v1/zarr2/{*path}`: the group of every array.
///
/// # Errors
/// As the per-array view.
pub async fn root_group<const V3: bool>(
    State(state): State<AppState>,
    ZarrKey(path): ZarrKey<GroupKey, V3>,
    headers: HeaderMap,
) -> Result<Response> {
    serve_group(&state, path, &headers, Version::of(V3)).await
}
