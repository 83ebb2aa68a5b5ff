//! The read-only Zarr views (`spec/api.md`, "Zarr view"): every array as a Zarr v3
//! array at `/v1/arrays/{name}/zarr/` (chunks `c/i/j/k`) and a Zarr v2 array at
//! `/v1/arrays/{name}/zarr2/` (chunks `i.j.k`), pyramid levels at `s1..sN` below them,
//! and group roots `/v1/zarr/` and `/v1/zarr2/` listing every array (consolidated).
//!
//! A bare zarr source whose stored chunk grid equals the view's, and whose codecs the
//! view's zarr version can express, is advertised with its stored codecs and its chunks
//! are the stored bytes, untouched (pass-through). Everything else is encoded from the
//! cached decoded chunks with `--zarr-codec`. A chunk key outside the grid is 404 (zarr
//! clients read it as the fill value); a malformed key is 400.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use xxhash_rust::xxh3::xxh3_64;

use crate::array::ArrayRef;
use crate::cache::{Cached, ChunkKey, Variant};
use crate::dtype::DType;
use crate::encode::zarr_chunk::ZarrCodec;
use crate::error::{Error, Result};
use crate::eval::{EvalError, ReadCtx, read_roi};
use crate::geometry::{Coord, Roi};
use crate::http::cache_headers::{Cacheable, respond};
use crate::http::extract::PathParams;
use crate::http::layers::NoCompress;
use crate::kernels::downsample::Box3;
use crate::pyramid::{Pyramid, read_level};
use crate::server::AppState;
use crate::views::ome::multiscales;
use crate::views::precomputed::cache_control;
use crate::volume::Volume;

/// Zarr format of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Zarr v2.
    V2,
    /// Zarr v3.
    V3,
}

/// One node of an array's view: the array itself or a pyramid level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Root,
    Level(usize),
}

/// What a key names inside a node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Meta,
    Attrs,
    Chunk(Vec<u64>),
}

fn parse_key(version: Version, key: &str) -> Result<(Node, Key)> {
    let not_found = || Error::NotFound(format!("no zarr key {key:?} here"));
    let (node, rest) = match key.split_once('/') {
        Some((first, rest))
            if first.len() > 1
                && first.starts_with('s')
                && first[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let k: usize = first[1..].parse().map_err(|_| not_found())?;
            (if k == 0 { Node::Root } else { Node::Level(k) }, rest)
        }
        _ => (Node::Root, key),
    };
    let indices = |parts: Vec<&str>| -> Result<Vec<u64>> {
        parts
            .iter()
            .map(|p| p.parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::BadRequest(format!(
                    "chunk key {key:?} must consist of non-negative integers"
                ))
            })
    };
    let k = match (version, rest) {
        (Version::V3, "zarr.json") | (Version::V2, ".zarray") => Key::Meta,
        (Version::V2, ".zattrs") => Key::Attrs,
        (Version::V3, r) if r.starts_with("c/") => {
            Key::Chunk(indices(r[2..].split('/').collect())?)
        }
        (Version::V3, "c") => Key::Chunk(Vec::new()),
        (Version::V2, r)
            if !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
        {
            Key::Chunk(indices(r.split('.').collect())?)
        }
        (Version::V2, r) if r.bytes().next().is_some_and(|b| b.is_ascii_digit()) => {
            return Err(Error::BadRequest(format!(
                "chunk key {key:?} must be i.j.k"
            )));
        }
        _ => return Err(not_found()),
    };
    Ok((node, k))
}

/// Shape, chunk and dtype of a node, all axes.
struct Geometry {
    shape: Vec<u64>,
    chunk: Vec<u64>,
    dtype: DType,
}

fn root_geometry(m: &crate::array::Metadata) -> Geometry {
    let u = |v: Vec<usize>| v.into_iter().map(|x| x as u64).collect::<Vec<u64>>();
    Geometry {
        shape: u(m.shape()),
        chunk: u(m.chunk_shape()),
        dtype: m.dtype,
    }
}

/// Checks a chunk key against a node's grid: 400 for the wrong arity, 404 outside.
fn check_chunk(idx: &[u64], g: &Geometry) -> Result<()> {
    if idx.len() != g.shape.len() {
        return Err(Error::BadRequest(format!(
            "chunk key has {} indices; the array has {} axes",
            idx.len(),
            g.shape.len()
        )));
    }
    if (0..idx.len()).any(|d| idx[d] >= g.shape[d].div_ceil(g.chunk[d].max(1))) {
        return Err(Error::NotFound(format!(
            "chunk {idx:?} is outside the chunk grid"
        )));
    }
    Ok(())
}

/// Whether the root of this view serves stored bytes; decided once per array and version.
async fn passes_through(state: &AppState, array: &ArrayRef, version: Version) -> bool {
    let key = (array.meta().hash, version == Version::V3);
    state
        .passthrough
        .get_with(key, async {
            passthrough(array, version, &Map::new()).is_some()
        })
        .await
}

fn chunk_response(
    headers: &HeaderMap,
    body: Bytes,
    etag: String,
    m: &crate::array::Metadata,
) -> Result<Response> {
    let mut resp = respond(
        headers,
        Cacheable {
            body,
            content_type: "application/octet-stream",
            etag,
            cache_control: cache_control(m.freshness),
        },
    )?;
    resp.extensions_mut().insert(NoCompress);
    Ok(resp)
}

fn geometry(array: &ArrayRef, pyr: &Pyramid, node: Node) -> Result<Geometry> {
    let m = array.meta();
    match node {
        Node::Root => Ok(root_geometry(m)),
        Node::Level(k) => {
            let level = pyr.level(k).filter(|_| m.dims() == 3).ok_or_else(|| {
                Error::NotFound(format!(
                    "no pyramid level s{k}; levels are s1..s{}",
                    pyr.levels.len() - 1
                ))
            })?;
            let lead: Vec<u64> = m.num_channels.map(|c| c as u64).into_iter().collect();
            let pos = |v: [i64; 3]| {
                v.iter()
                    .map(|&x| u64::try_from(x).unwrap_or(0))
                    .collect::<Vec<u64>>()
            };
            Ok(Geometry {
                shape: lead.iter().copied().chain(pos(level.size)).collect(),
                chunk: lead.iter().copied().chain(pos(pyr.chunk)).collect(),
                dtype: pyr.served,
            })
        }
    }
}

fn fill_value(dtype: DType) -> Value {
    if dtype == DType::Bool {
        json!(false)
    } else {
        json!(0)
    }
}

/// Each axis' unit as `"8 nm"` (null for channels): the `dimension_units` attribute that
/// tensorstore and neuroglancer read. Neuroglancer reads OME-NGFF `multiscales` only on
/// groups, so without it an array node shows without its voxel size.
fn dimension_units(channels: bool, resolution: &[i64]) -> Value {
    let spatial = resolution.iter().map(|r| json!(format!("{r} nm")));
    Value::Array(
        channels
            .then_some(Value::Null)
            .into_iter()
            .chain(spatial)
            .collect(),
    )
}

/// The attributes of pyramid level `k`.
fn level_attributes(
    array: &ArrayRef,
    pyr: &Pyramid,
    k: usize,
    version: Version,
) -> Map<String, Value> {
    let m = array.meta();
    let mut attrs = Map::new();
    if let Some(level) = pyr.level(k) {
        attrs.insert(
            "dimension_units".into(),
            dimension_units(m.num_channels.is_some(), &level.resolution),
        );
    }
    if version == Version::V2 {
        attrs.insert("_ARRAY_DIMENSIONS".into(), json!(m.axes()));
    }
    attrs
}

fn attributes(array: &ArrayRef, pyr: &Pyramid, name: &str, version: Version) -> Map<String, Value> {
    let m = array.meta();
    let mut attrs = m.attrs.clone();
    attrs.insert(
        "dimension_units".into(),
        dimension_units(m.num_channels.is_some(), &m.voxel_size),
    );
    match version {
        Version::V3 => {
            attrs.insert(
                "ome".into(),
                json!({"version": "0.5", "multiscales": multiscales(m, pyr, name, "0.5", ".")}),
            );
        }
        Version::V2 => {
            attrs.insert("multiscales".into(), multiscales(m, pyr, name, "0.4", "."));
            attrs.insert("_ARRAY_DIMENSIONS".into(), json!(m.axes()));
        }
    }
    attrs
}

/// The stored document rewritten for pass-through, when the view can serve stored bytes.
fn passthrough(array: &ArrayRef, version: Version, attrs: &Map<String, Value>) -> Option<Value> {
    let raw = array.raw_chunks()?;
    let stored = raw.stored_metadata();
    let m = array.meta();
    let same_grid = m
        .shape()
        .iter()
        .map(|&s| s as u64)
        .eq(stored.shape.iter().copied())
        && m.chunk_shape()
            .iter()
            .map(|&s| s as u64)
            .eq(stored.chunk_shape.iter().copied());
    if !same_grid {
        return None;
    }
    let doc = &stored.document;
    let v3 = |mut d: Value| {
        let transformers = d
            .get("storage_transformers")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        if transformers || d["chunk_grid"]["name"] != "regular" {
            return None;
        }
        d["chunk_key_encoding"] = json!({"name": "default", "configuration": {"separator": "/"}});
        d["attributes"] = Value::Object(attrs.clone());
        d["dimension_names"] = json!(m.axes());
        Some(d)
    };
    match (stored.zarr_format, version) {
        (3, Version::V3) => v3(doc.clone()),
        (2, Version::V2) => {
            let mut d = doc.clone();
            d["dimension_separator"] = json!(".");
            // numcodecs writes zstd's `checksum` (an encoder setting; decoders read frames
            // with or without one), and tensorstore rejects a zstd compressor with it.
            if let Some(c) = d.get_mut("compressor").and_then(Value::as_object_mut)
                && c.get("id").and_then(Value::as_str) == Some("zstd")
            {
                c.remove("checksum");
            }
            Some(d)
        }
        (2, Version::V3) => {
            let v2: zarrs::array::ArrayMetadataV2 = serde_json::from_value(doc.clone()).ok()?;
            let converted = zarrs::convert::array_metadata_v2_to_v3(&v2).ok()?;
            v3(serde_json::to_value(converted).ok()?)
        }
        (3, Version::V2) => v3_as_v2(doc, m.dtype),
        _ => None,
    }
}

/// A v3 document as a v2 `.zarray`, when its codecs are `bytes` plus at most one of
/// zstd, gzip or blosc.
fn v3_as_v2(doc: &Value, dtype: DType) -> Option<Value> {
    let codecs = doc.get("codecs")?.as_array()?;
    let (first, rest) = codecs.split_first()?;
    let endian = first["configuration"]["endian"]
        .as_str()
        .unwrap_or("little");
    if first["name"] != "bytes"
        || endian != "little"
        || rest.len() > 1
        || doc["chunk_grid"]["name"] != "regular"
    {
        return None;
    }
    let compressor = match rest.first() {
        None => Value::Null,
        Some(c) => {
            let cfg = &c["configuration"];
            match c["name"].as_str()? {
                "zstd" if cfg["checksum"] != json!(true) => {
                    json!({"id": "zstd", "level": cfg["level"]})
                }
                "gzip" => json!({"id": "gzip", "level": cfg["level"]}),
                "blosc" => {
                    let shuffle = match cfg["shuffle"].as_str()? {
                        "noshuffle" => 0,
                        "shuffle" => 1,
                        "bitshuffle" => 2,
                        _ => return None,
                    };
                    json!({"id": "blosc", "cname": cfg["cname"], "clevel": cfg["clevel"], "shuffle": shuffle, "blocksize": cfg["blocksize"]})
                }
                _ => return None,
            }
        }
    };
    let fill = doc
        .get("fill_value")
        .filter(|f| f.is_number() || f.is_boolean())?;
    Some(json!({
        "zarr_format": 2,
        "shape": doc["shape"],
        "chunks": doc["chunk_grid"]["configuration"]["chunk_shape"],
        "dtype": dtype.npy_descr(),
        "compressor": compressor,
        "fill_value": fill,
        "order": "C",
        "filters": null,
        "dimension_separator": ".",
    }))
}

/// The metadata document of a node (v3 `zarr.json` or v2 `.zarray`).
fn metadata_doc(
    state: &AppState,
    array: &ArrayRef,
    pyr: &Pyramid,
    name: &str,
    node: Node,
    version: Version,
) -> Result<Value> {
    let codec = state.settings.zarr_codec;
    let attrs = attributes(array, pyr, name, version);
    if node == Node::Root
        && let Some(doc) = passthrough(array, version, &attrs)
    {
        return Ok(doc);
    }
    let g = geometry(array, pyr, node)?;
    let axes = array.meta().axes();
    Ok(match version {
        Version::V3 => json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": g.shape,
            "data_type": g.dtype,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": g.chunk}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": fill_value(g.dtype),
            "codecs": codec.v3_codecs(g.dtype),
            "attributes": match node {
                Node::Root => attrs,
                Node::Level(k) => level_attributes(array, pyr, k, version),
            },
            "dimension_names": axes,
        }),
        Version::V2 => json!({
            "zarr_format": 2,
            "shape": g.shape,
            "chunks": g.chunk,
            "dtype": g.dtype.npy_descr(),
            "compressor": codec.v2_compressor(),
            "fill_value": fill_value(g.dtype),
            "order": "C",
            "filters": null,
            "dimension_separator": ".",
        }),
    })
}

/// The encoded (non pass-through) chunk `idx` of `node`, cached.
async fn encoded_chunk(
    ctx: &ReadCtx,
    array: &ArrayRef,
    pyr: &Pyramid,
    node: Node,
    idx: &[u64],
    g: &Geometry,
    codec: ZarrCodec,
) -> Result<Bytes, EvalError> {
    let m = array.meta();
    let lead = usize::from(m.num_channels.is_some());
    let spatial: Vec<i64> = idx[lead..]
        .iter()
        .map(|&i| i64::try_from(i).unwrap_or(i64::MAX))
        .collect();
    let chunk: Vec<i64> = g
        .chunk
        .iter()
        .map(|&c| i64::try_from(c).unwrap_or(i64::MAX))
        .collect();
    let shape: Vec<i64> = g
        .shape
        .iter()
        .map(|&c| i64::try_from(c).unwrap_or(i64::MAX))
        .collect();
    let scale = match node {
        Node::Root => 0,
        Node::Level(k) => u32::try_from(k).unwrap_or(u32::MAX),
    };
    let key = ChunkKey::of(
        m,
        scale,
        Variant::Encoded(codec_variant(codec)),
        Coord::new(spatial.clone()),
    );
    let full: Vec<usize> = g
        .chunk
        .iter()
        .map(|&c| usize::try_from(c).unwrap_or(0))
        .collect();
    let dtype = g.dtype;
    let cached = ctx
        .cache
        .get_or_compute(key, async move {
            let begin: Vec<i64> = (0..spatial.len())
                .map(|d| spatial[d] * chunk[lead + d])
                .collect();
            let end: Vec<i64> = (0..spatial.len())
                .map(|d| (begin[d] + chunk[lead + d]).min(shape[lead + d]))
                .collect();
            let part = match node {
                Node::Root => {
                    let vs = &m.voxel_size;
                    let roi = Roi::new(
                        &m.roi.offset + &(&Coord::new(begin.clone()) * vs),
                        &(&Coord::new(end.clone()) - &Coord::new(begin.clone())) * vs,
                    );
                    read_roi(ctx, array, &roi, None).await?
                }
                Node::Level(k) => {
                    let level = pyr
                        .level(k)
                        .ok_or_else(|| EvalError::BadRequest(format!("no level s{k}")))?;
                    let b = Box3 {
                        begin: [0, 1, 2].map(|d| level.offset[d] + begin[d]),
                        end: [0, 1, 2].map(|d| level.offset[d] + end[d]),
                    };
                    read_level(ctx, array, pyr, k, b).await?
                }
            };
            let bytes = ctx
                .compute(move || {
                    let mut padded = Volume::zeros(dtype, &full);
                    padded
                        .paste(&part, &vec![0; full.len()])
                        .map_err(EvalError::Internal)?;
                    codec
                        .encode(padded.to_le_bytes(), dtype)
                        .map_err(EvalError::Internal)
                })
                .await?;
            Ok(Cached::Bytes(Bytes::from(bytes)))
        })
        .await?;
    match cached {
        Cached::Bytes(b) => Ok(b),
        Cached::Volume(_) => Err(EvalError::Internal("zarr chunk cached as a volume".into())),
    }
}

fn codec_variant(codec: ZarrCodec) -> &'static str {
    match codec {
        ZarrCodec::None => "zarr-none",
        ZarrCodec::Gzip => "zarr-gzip",
        ZarrCodec::Zstd => "zarr-zstd",
        ZarrCodec::Blosc => "zarr-blosc",
    }
}

async fn serve_key(
    state: &AppState,
    name: &str,
    key: &str,
    headers: &HeaderMap,
    version: Version,
) -> Result<Response> {
    let entry = state.registry.get(name)?;
    let array = entry.array()?.clone();
    let m = array.meta();
    let (node, key) = parse_key(version, key)?;
    if let (Node::Root, Key::Chunk(idx)) = (node, &key)
        && passes_through(state, &array, version).await
    {
        check_chunk(idx, &root_geometry(m))?;
        let (body, etag) = stored_chunk(&state.ctx, &array, idx.clone()).await?;
        return chunk_response(headers, body, etag, m);
    }
    let pyr = Pyramid::for_array(&array);
    let json_doc = |value: Value, tag: &str| {
        respond(
            headers,
            Cacheable {
                body: Bytes::from(value.to_string()),
                content_type: "application/json",
                etag: format!("{}-{tag}", m.hash),
                cache_control: cache_control(m.freshness),
            },
        )
    };
    let vtag = match version {
        Version::V2 => "v2",
        Version::V3 => "v3",
    };
    match key {
        Key::Meta => json_doc(
            metadata_doc(state, &array, &pyr, name, node, version)?,
            &format!("{vtag}-{node:?}-meta"),
        ),
        Key::Attrs => {
            let attrs = match node {
                Node::Root => attributes(&array, &pyr, name, version),
                Node::Level(k) => level_attributes(&array, &pyr, k, version),
            };
            json_doc(Value::Object(attrs), &format!("{vtag}-{node:?}-attrs"))
        }
        Key::Chunk(idx) => {
            let g = geometry(&array, &pyr, node)?;
            check_chunk(&idx, &g)?;
            let codec = state.settings.zarr_codec;
            let body = encoded_chunk(&state.ctx, &array, &pyr, node, &idx, &g, codec).await?;
            let idx_text: Vec<String> = idx.iter().map(ToString::to_string).collect();
            let etag = format!(
                "{}-{node:?}-{}-{}",
                m.hash,
                codec.name(),
                idx_text.join(".")
            );
            chunk_response(headers, body, etag, m)
        }
    }
}

/// The stored bytes of a chunk, untouched, with an ETag from their content; kept in the
/// chunk cache, so a hot chunk of a remote store costs no upstream request.
async fn stored_chunk(ctx: &ReadCtx, array: &ArrayRef, idx: Vec<u64>) -> Result<(Bytes, String)> {
    let coord = Coord::new(
        idx.iter()
            .map(|&i| i64::try_from(i).unwrap_or(i64::MAX))
            .collect(),
    );
    let key = ChunkKey::of(array.meta(), 0, Variant::Encoded("stored"), coord);
    let (read_array, read_idx, shown) = (array.clone(), idx.clone(), idx.clone());
    let cached = ctx
        .cache
        .get_or_compute(key, async move {
            let stored = tokio::task::spawn_blocking(move || match read_array.raw_chunks() {
                Some(raw) => raw.chunk_bytes(&read_idx),
                None => Err(EvalError::Internal(
                    "pass-through without stored chunks".into(),
                )),
            })
            .await
            .map_err(|e| EvalError::Internal(format!("chunk read task failed: {e}")))??;
            let bytes = stored.ok_or_else(|| {
                EvalError::NotStored(format!(
                    "chunk {shown:?} is not stored; its voxels are the fill value"
                ))
            })?;
            Ok(Cached::Bytes(Bytes::from(bytes)))
        })
        .await?;
    let Cached::Bytes(bytes) = cached else {
        return Err(Error::Internal("a stored chunk cached as voxels".into()));
    };
    let etag = format!("{:016x}-{}", xxh3_64(&bytes), bytes.len());
    Ok((bytes, etag))
}

/// `GET /v1/arrays/{name}/ome-zarr/{*key}` and `.../ome-zarr2/{*key}`: the array as an
/// OME-NGFF multiscale group (0.5 on v3, 0.4 on v2) whose datasets `s0..sN` are the
/// array and its pyramid levels, for viewers that read scales and offsets only from
/// groups (neuroglancer's `zarr://`).
async fn serve_ome(
    state: &AppState,
    name: &str,
    key: &str,
    headers: &HeaderMap,
    version: Version,
) -> Result<Response> {
    let entry = state.registry.get(name)?;
    let array = entry.array()?;
    let m = array.meta();
    let group = || multiscales(m, &Pyramid::for_array(array), name, "0.4", "s0");
    let doc = match (version, key) {
        (Version::V3, "zarr.json") => {
            json!({"zarr_format": 3, "node_type": "group", "attributes": {
            "ome": {"version": "0.5", "multiscales": multiscales(m, &Pyramid::for_array(array), name, "0.5", "s0")}}})
        }
        (Version::V2, ".zattrs") => json!({"multiscales": group()}),
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
            cache_control: cache_control(m.freshness),
        },
    )
}

fn group_v3(state: &AppState) -> Value {
    let members: Map<String, Value> = state
        .registry
        .list()
        .iter()
        .filter_map(|e| {
            let array = e.state.as_ref().ok()?;
            let pyr = Pyramid::for_array(array);
            let doc = metadata_doc(state, array, &pyr, &e.name, Node::Root, Version::V3).ok()?;
            Some((e.name.clone(), doc))
        })
        .collect();
    json!({
        "zarr_format": 3,
        "node_type": "group",
        "attributes": {},
        "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": members},
    })
}

fn group_v2(state: &AppState) -> Value {
    let mut metadata = Map::new();
    metadata.insert(".zgroup".into(), json!({"zarr_format": 2}));
    metadata.insert(".zattrs".into(), json!({}));
    for e in state.registry.list() {
        let Ok(array) = &e.state else { continue };
        let pyr = Pyramid::for_array(array);
        if let Ok(doc) = metadata_doc(state, array, &pyr, &e.name, Node::Root, Version::V2) {
            metadata.insert(format!("{}/.zarray", e.name), doc);
            metadata.insert(
                format!("{}/.zattrs", e.name),
                Value::Object(attributes(array, &pyr, &e.name, Version::V2)),
            );
        }
    }
    json!({"zarr_consolidated_format": 1, "metadata": metadata})
}

async fn serve_group(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    version: Version,
) -> Result<Response> {
    let doc = match (version, path) {
        (Version::V3, "zarr.json") => Some(group_v3(state)),
        (Version::V2, ".zgroup") => Some(json!({"zarr_format": 2})),
        (Version::V2, ".zattrs") => Some(json!({})),
        (Version::V2, ".zmetadata") => Some(group_v2(state)),
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
                cache_control: crate::http::cache_headers::REVALIDATE,
            },
        );
    }
    let (name, key) = path
        .split_once('/')
        .ok_or_else(|| Error::NotFound(format!("no zarr key {path:?} in the group")))?;
    serve_key(state, name, key, headers, version).await
}

const fn version(v3: bool) -> Version {
    if v3 { Version::V3 } else { Version::V2 }
}

/// `GET /v1/arrays/{name}/zarr/{*key}` (`V3`) and `/v1/arrays/{name}/zarr2/{*key}`.
///
/// # Errors
/// 404 unknown array, key or a chunk outside the grid; 400 a malformed chunk key.
pub async fn array_view<const V3: bool>(
    State(state): State<AppState>,
    path: PathParams,
    headers: HeaderMap,
) -> Result<Response> {
    serve_key(
        &state,
        path.get("name")?,
        path.get("key")?,
        &headers,
        version(V3),
    )
    .await
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
        version(V3),
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
    serve_group(&state, path.get("path")?, &headers, version(V3)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            parse_key(Version::V3, "zarr.json").unwrap(),
            (Node::Root, Key::Meta)
        );
        assert_eq!(
            parse_key(Version::V3, "c/0/1/2").unwrap(),
            (Node::Root, Key::Chunk(vec![0, 1, 2]))
        );
        assert_eq!(
            parse_key(Version::V3, "s2/c/0/1/2").unwrap(),
            (Node::Level(2), Key::Chunk(vec![0, 1, 2]))
        );
        assert_eq!(
            parse_key(Version::V3, "s0/zarr.json").unwrap(),
            (Node::Root, Key::Meta)
        );
        assert_eq!(
            parse_key(Version::V2, "1.2.3").unwrap(),
            (Node::Root, Key::Chunk(vec![1, 2, 3]))
        );
        assert_eq!(
            parse_key(Version::V2, ".zattrs").unwrap(),
            (Node::Root, Key::Attrs)
        );
        assert!(matches!(
            parse_key(Version::V3, "c/x/1/2"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            parse_key(Version::V2, "1.-2.3"),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            parse_key(Version::V3, ".zarray"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            parse_key(Version::V2, "zarr.json"),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn v3_codecs_translate_to_v2() {
        let doc = json!({"shape": [4, 4], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 5, "checksum": false}}],
            "fill_value": 0});
        let v2 = v3_as_v2(&doc, DType::U16).unwrap();
        assert_eq!(v2["compressor"], json!({"id": "zstd", "level": 5}));
        assert_eq!(v2["dtype"], "<u2");
        let mut crc = doc;
        crc["codecs"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "crc32c"}));
        assert!(v3_as_v2(&crc, DType::U16).is_none());
    }
}
