//! The neuroglancer precomputed view (`spec/api.md`, "Neuroglancer precomputed view";
//! `spec/neuroglancer.md`): `info` and chunks `{key}/{x0}-{x1}_{y0}-{y1}_{z0}-{z1}` in
//! global voxel coordinates with exclusive ends, truncated at the border; `raw` for
//! every array, `compressed_segmentation` for uint32/uint64 segmentations; the scales
//! are the array's levels ([`crate::levels`]).

use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::dtype::DType;
use crate::encode::image::ChunkEncoding;
use crate::encode::precomputed::{CSEG_BLOCK, PrecomputedChunk};
use crate::error::{Error, Result};
use crate::eval::{Encoder, encoded_level_chunk};
use crate::geometry::Box3;
use crate::http::cache_headers::{Cacheable, for_array, respond};
use crate::http::extract::{OpenArray, segment};
use crate::levels::Levels;
use crate::server::AppState;

fn xyz(v: [i64; 3]) -> [i64; 3] {
    [v[2], v[1], v[0]]
}

/// Whether chunks of these levels use `compressed_segmentation`.
fn uses_cseg(levels: &Levels) -> bool {
    levels.segmentation && matches!(levels.served, DType::U32 | DType::U64)
}

/// The encoding of an image array's chunks (`default`: `--image-encoding`).
#[must_use]
pub fn image_encoding(levels: &Levels, default: ChunkEncoding) -> ChunkEncoding {
    levels.view.encoding(levels, default)
}

/// The `info` document; image chunks in `enc`.
#[must_use]
pub fn info(levels: &Levels, enc: ChunkEncoding) -> Value {
    let m = levels.levels[0].array.meta();
    let cseg = uses_cseg(levels);
    let scales: Vec<Value> = levels
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut s = json!({
                "key": format!("s{i}"),
                "size": xyz(l.size),
                "resolution": xyz(l.resolution),
                "voxel_offset": xyz(l.offset),
                "chunk_sizes": [xyz(levels.chunk)],
                "encoding": if cseg { "compressed_segmentation" } else { enc.name() },
            });
            if cseg {
                s["compressed_segmentation_block_size"] = json!(CSEG_BLOCK);
            }
            s
        })
        .collect();
    let mut doc = json!({
        "@type": "neuroglancer_multiscale_volume",
        "type": if levels.segmentation { "segmentation" } else { "image" },
        "data_type": levels.served,
        "num_channels": m.num_channels.unwrap_or(1),
        "scales": scales,
        "arrayd_dtype": levels.dtype,
    });
    if levels.segmentation {
        doc["segment_properties"] = json!("segment_properties");
    }
    doc
}

/// `GET /v1/arrays/{name}/precomputed/info`
///
/// # Errors
/// 404 unknown array.
pub async fn get_info(
    State(state): State<AppState>,
    OpenArray { array, levels, .. }: OpenArray,
    headers: HeaderMap,
) -> Result<Response> {
    let m = array.meta();
    let enc = image_encoding(&levels, state.settings.image_encoding);
    let body =
        serde_json::to_vec(&info(&levels, enc)).map_err(|e| Error::Internal(e.to_string()))?;
    respond(
        &headers,
        Cacheable {
            body: Bytes::from(body).into(),
            content_type: "application/json",
            etag: format!("{}-info-{}", m.hash, enc.name()),
            cache_control: for_array(m.freshness),
        },
    )
}

/// The `{key}/{chunk}` of a chunk request, as given (checked against the levels later).
#[derive(Debug)]
pub struct ChunkPath {
    /// The scale key, `sK`.
    scale: String,
    /// The chunk name, `x0-x1_y0-y1_z0-z1`.
    chunk: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ChunkPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Ok(Self {
            scale: segment(parts, state, "key").await?,
            chunk: segment(parts, state, "chunk").await?,
        })
    }
}

/// Parses `x0-x1_y0-y1_z0-z1` into a z,y,x box.
fn parse_chunk_name(name: &str) -> Option<Box3> {
    let parts: Vec<&str> = name.split('_').collect();
    let [x, y, z] = parts.as_slice() else {
        return None;
    };
    let range = |s: &str| -> Option<(i64, i64)> {
        let (a, b) = s.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let (x, y, z) = (range(x)?, range(y)?, range(z)?);
    Some(Box3 {
        begin: [z.0, y.0, x.0],
        end: [z.1, y.1, x.1],
    })
}

/// `GET /v1/arrays/{name}/precomputed/{key}/{chunk}`
///
/// # Errors
/// 404 unknown array, scale key or a chunk outside the grid; 400 a malformed or
/// misaligned chunk name; 5xx read failures.
pub async fn get_chunk(
    State(state): State<AppState>,
    OpenArray { array, levels, .. }: OpenArray,
    ChunkPath { scale, chunk }: ChunkPath,
    headers: HeaderMap,
) -> Result<Response> {
    let (pyr, key, name) = (&*levels, scale.as_str(), chunk.as_str());
    let level = key
        .strip_prefix('s')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n < pyr.levels.len())
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no scale {key:?}; the info lists s0..s{}",
                pyr.levels.len() - 1
            ))
        })?;
    let lvl = &pyr.levels[level];
    let b = parse_chunk_name(name).ok_or_else(|| {
        Error::BadRequest(format!(
            "chunk name {name:?} is not x0-x1_y0-y1_z0-z1 (global voxel coordinates)"
        ))
    })?;
    let bounds = lvl.bounds();
    if (0..3).any(|d| b.end[d] <= bounds.begin[d] || b.begin[d] >= bounds.end[d]) {
        return Err(Error::NotFound(format!(
            "chunk {name} lies outside scale {key} (voxels {:?}..{:?}, x,y,z)",
            xyz(bounds.begin),
            xyz(bounds.end)
        )));
    }
    pyr.chunk_index(lvl, b).ok_or_else(|| {
        Error::BadRequest(format!(
            "chunk {name} is not on the chunk grid of scale {key}: chunks start at voxel_offset + k·{:?} and end at the next grid line or the volume's end",
            xyz(pyr.chunk)
        ))
    })?;
    let enc = image_encoding(pyr, state.settings.image_encoding);
    let (encoder, content_type) = if uses_cseg(pyr) {
        let channels = pyr.num_channels.unwrap_or(1);
        let cseg = PrecomputedChunk::Cseg {
            size: b.shape(),
            channels,
        };
        (cseg, "application/octet-stream")
    } else {
        match enc {
            ChunkEncoding::Raw => (PrecomputedChunk::Raw, "application/octet-stream"),
            ChunkEncoding::Jpeg => (PrecomputedChunk::Jpeg(pyr.view.quality()), "image/jpeg"),
            ChunkEncoding::Png => (PrecomputedChunk::Png, "image/png"),
        }
    };
    let body = encoded_level_chunk(&state.ctx, pyr, level, b, encoder).await?;
    let m = array.meta();
    respond(
        &headers,
        Cacheable {
            body: body.into(),
            content_type,
            etag: format!(
                "{}-{}-{level}-{name}-g{}",
                m.hash,
                encoder.id(),
                pyr.generation(level, b)
            ),
            cache_control: for_array(m.freshness),
        },
    )
    .map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names() {
        assert_eq!(
            parse_chunk_name("67-103_69-75_23-37"),
            Some(Box3 {
                begin: [23, 69, 67],
                end: [37, 75, 103]
            })
        );
        assert_eq!(parse_chunk_name("0-64_0-64"), None);
        assert_eq!(parse_chunk_name("a-b_0-1_0-1"), None);
        assert_eq!(parse_chunk_name("provenance"), None);
    }
}
