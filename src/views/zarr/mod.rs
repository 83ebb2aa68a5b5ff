//! The read-only Zarr views (`spec/api.md`, "Zarr view"): every array as a Zarr v3
//! array at `/v1/arrays/{name}/zarr/` (chunks `c/i/j/k`) and a Zarr v2 array at
//! `/v1/arrays/{name}/zarr2/` (chunks `i.j.k`), levels at `s1..sN` below them, and
//! group roots `/v1/zarr/` and `/v1/zarr2/` listing every array (consolidated).
//!
//! A bare zarr source whose stored chunk grid equals the view's, and whose codecs the
//! view's zarr version can express, is advertised with its stored codecs and its chunks
//! are the stored bytes, untouched (pass-through; decided when it is opened). Everything
//! else is encoded from the cached decoded chunks with `--zarr-codec`. A chunk key
//! outside the grid is 404 (zarr clients read it as the fill value); a malformed key is
//! 400.

mod documents;
mod groups;
mod keys;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use self::documents::{Geometry, attributes, geometry, metadata_doc, passes_through};
use self::keys::{Key, KeyKind, Leaf, Node, ZarrKey, check_chunk};
use crate::array::Metadata;
use crate::encode::zarr_chunk::{ZarrChunk, ZarrCodec};
use crate::error::Result;
use crate::eval::{encoded_chunk, encoded_level_chunk, stored_chunk};
use crate::geometry::{Box3, Coord, Roi};
use crate::http::cache_headers::{Cacheable, for_array, respond};
use crate::http::extract::OpenArray;
use crate::http::layers::NoCompress;
use crate::server::AppState;

pub use self::groups::{OmeKey, root_group};
pub use self::keys::ArrayKey;

/// Zarr format of a view: everything the two versions do differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Zarr v2.
    V2,
    /// Zarr v3.
    V3,
}

impl Version {
    /// The version of a `V3` const parameter.
    #[must_use]
    pub const fn of(v3: bool) -> Self {
        if v3 { Version::V3 } else { Version::V2 }
    }

    /// True for v3.
    #[must_use]
    pub const fn is_v3(self) -> bool {
        matches!(self, Version::V3)
    }

    /// A short tag for ETags.
    const fn tag(self) -> &'static str {
        match self {
            Version::V2 => "v2",
            Version::V3 => "v3",
        }
    }

    /// The OME-NGFF version its views speak.
    const fn ome_version(self) -> &'static str {
        match self {
            Version::V2 => "0.4",
            Version::V3 => "0.5",
        }
    }

    /// What the last part of a key names, `None` when nothing.
    fn parse_leaf(self, rest: &str) -> Option<Leaf<'_>> {
        match self {
            Version::V3 => match rest {
                "zarr.json" => Some(Leaf::Meta),
                "c" => Some(Leaf::Chunk(Vec::new())),
                r => Some(Leaf::Chunk(r.strip_prefix("c/")?.split('/').collect())),
            },
            Version::V2 => match rest {
                ".zarray" => Some(Leaf::Meta),
                ".zattrs" => Some(Leaf::Attrs),
                r if !r.is_empty()
                    && r.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
                {
                    Some(Leaf::Chunk(r.split('.').collect()))
                }
                r if r.bytes().next().is_some_and(|b| b.is_ascii_digit()) => {
                    Some(Leaf::BadChunk("i.j.k"))
                }
                _ => None,
            },
        }
    }

    /// Puts OME-NGFF `multiscales` where this version's readers look for them.
    fn put_multiscales(self, attrs: &mut Map<String, Value>, multiscales: Value) {
        match self {
            Version::V3 => {
                attrs.insert(
                    "ome".into(),
                    json!({"version": "0.5", "multiscales": multiscales}),
                );
            }
            Version::V2 => {
                attrs.insert("multiscales".into(), multiscales);
            }
        }
    }

    /// A group document with `attrs` (v2: `.zattrs` content; `.zgroup` is separate).
    fn group_document(self, attrs: Map<String, Value>) -> Value {
        match self {
            Version::V3 => json!({"zarr_format": 3, "node_type": "group", "attributes": attrs}),
            Version::V2 => Value::Object(attrs),
        }
    }

    /// The metadata document of a computed array.
    fn array_document(
        self,
        g: &Geometry,
        codec: ZarrCodec,
        fill: Value,
        attrs: Map<String, Value>,
        axes: &[&str],
    ) -> Value {
        match self {
            Version::V3 => json!({
                "zarr_format": 3,
                "node_type": "array",
                "shape": g.shape,
                "data_type": g.dtype,
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": g.chunk}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": fill,
                "codecs": codec.v3_codecs(g.dtype),
                "attributes": attrs,
                "dimension_names": axes,
            }),
            Version::V2 => json!({
                "zarr_format": 2,
                "shape": g.shape,
                "chunks": g.chunk,
                "dtype": g.dtype.npy_descr(),
                "compressor": codec.v2_compressor(),
                "fill_value": fill,
                "order": "C",
                "filters": null,
                "dimension_separator": ".",
            }),
        }
    }
}

fn chunk_response(
    headers: &HeaderMap,
    body: Bytes,
    etag: String,
    m: &Metadata,
) -> Result<Response> {
    let mut resp = respond(
        headers,
        Cacheable {
            body: body.into(),
            content_type: "application/octet-stream",
            etag,
            cache_control: for_array(m.freshness),
        },
    )?;
    resp.extensions_mut().insert(NoCompress);
    Ok(resp)
}

/// The voxel range `[begin, end)` (spatial axes) of chunk `idx` (all axes) of `g`.
fn chunk_range(idx: &[u64], g: &Geometry, lead: usize) -> (Vec<i64>, Vec<i64>) {
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let begin: Vec<i64> = (lead..idx.len())
        .map(|d| i(idx[d]) * i(g.chunk[d]))
        .collect();
    let end: Vec<i64> = (lead..idx.len())
        .map(|d| (begin[d - lead] + i(g.chunk[d])).min(i(g.shape[d])))
        .collect();
    (begin, end)
}

/// A key of the array's own view: metadata, attributes, a chunk (passed through or
/// computed), of the array or one of its levels.
impl Served for ArrayKey {
    async fn serve(
        self,
        state: &AppState,
        open: &OpenArray,
        headers: &HeaderMap,
        version: Version,
    ) -> Result<Response> {
        let ArrayKey { node, key } = self;
        let (array, levels, name) = (&open.array, &*open.levels, open.name());
        let m = array.meta();
        let json_doc = |value: Value, tag: String| {
            respond(
                headers,
                Cacheable {
                    body: Bytes::from(value.to_string()).into(),
                    content_type: "application/json",
                    etag: format!("{}-{}-{tag}", m.hash, version.tag()),
                    cache_control: for_array(m.freshness),
                },
            )
        };
        let codec = state.settings.zarr_codec;
        let idx = match key {
            Key::Meta => {
                let doc = metadata_doc(array, levels, name, node, version, codec)?;
                return json_doc(doc, format!("{node:?}-meta"));
            }
            Key::Attrs => {
                let attrs = attributes(m, levels, name, node, version);
                return json_doc(Value::Object(attrs), format!("{node:?}-attrs"));
            }
            Key::Chunk(idx) => idx,
        };
        let g = geometry(array, levels, node)?;
        check_chunk(&idx, &g.shape, &g.chunk)?;
        if node == Node::Root && passes_through(array, version) {
            let stored = stored_chunk(&state.ctx, array, &idx).await?;
            let etag = format!("{:016x}-{}", stored.digest(), stored.body().len());
            return chunk_response(headers, stored.into_body(), etag, m);
        }
        let lead = usize::from(m.num_channels.is_some());
        let (begin, end) = chunk_range(&idx, &g, lead);
        let encoder = ZarrChunk {
            codec,
            shape: g
                .chunk
                .iter()
                .map(|&c| usize::try_from(c).unwrap_or(0))
                .collect(),
        };
        let (body, generation) = match node {
            Node::Root => {
                let vs = &m.voxel_size;
                let roi = Roi::from_bounds(Coord::new(begin), &Coord::new(end)).to_world(vs);
                let roi = Roi::new(&m.roi.offset + &roi.offset, roi.shape);
                let generation = array.generation(&roi);
                (
                    encoded_chunk(&state.ctx, array, &roi, encoder).await?,
                    generation,
                )
            }
            Node::Level(k) => {
                let off = levels.level(k).map_or([0; 3], |l| l.offset);
                let b = Box3 {
                    begin: [0, 1, 2].map(|d| off[d] + begin[d]),
                    end: [0, 1, 2].map(|d| off[d] + end[d]),
                };
                let generation = levels.generation(k, b);
                let body = encoded_level_chunk(&state.ctx, levels, k, b, encoder).await?;
                (body, generation)
            }
        };
        let idx_text: Vec<String> = idx.iter().map(ToString::to_string).collect();
        let etag = format!(
            "{}-{node:?}-{}-{}-g{generation}",
            m.hash,
            codec.name(),
            idx_text.join(".")
        );
        chunk_response(headers, body, etag, m)
    }
}

/// A parsed key of a per-array view ([`ArrayKey`] for `zarr`, [`OmeKey`] for `ome-zarr`)
/// and how it is answered.
pub trait Served: KeyKind + Send {
    /// The response for this key of `open`.
    fn serve(
        self,
        state: &AppState,
        open: &OpenArray,
        headers: &HeaderMap,
        version: Version,
    ) -> impl Future<Output = Result<Response>> + Send;
}

/// `GET /v1/arrays/{name}/zarr/{*key}` (`K` = [`ArrayKey`]) and `/ome-zarr/{*key}`
/// ([`OmeKey`], OME-NGFF 0.5); `/zarr2/`, `/ome-zarr2/` (0.4) without `V3`.
///
/// # Errors
/// 404 unknown array, key or a chunk outside the grid; 400 a malformed chunk key.
pub async fn array_view<K: Served, const V3: bool>(
    State(state): State<AppState>,
    open: OpenArray,
    ZarrKey(key): ZarrKey<K, V3>,
    headers: HeaderMap,
) -> Result<Response> {
    key.serve(&state, &open, &headers, Version::of(V3)).await
}
