//! The neuroglancer precomputed view (`spec/api.md`, "Neuroglancer precomputed view";
//! `spec/neuroglancer.md`): `info` and chunks `{key}/{x0}-{x1}_{y0}-{y1}_{z0}-{z1}` in
//! global voxel coordinates with exclusive ends, truncated at the border; `raw` for
//! every array, `compressed_segmentation` for uint32/uint64 segmentations; every level
//! of the pyramid ([`crate::pyramid`]) cached like any other chunk.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::array::{ArrayRef, Freshness};
use crate::cache::{Cached, ChunkKey, Variant};
use crate::dtype::DType;
use crate::encode::compressed_segmentation;
use crate::error::{Error, Result};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Coord;
use crate::http::cache_headers::{Cacheable, IMMUTABLE, REVALIDATE, respond};
use crate::http::extract::PathParams;
use crate::kernels::downsample::Box3;
use crate::pyramid::{Pyramid, read_level};
use crate::server::AppState;
use crate::volume::Volume;

/// Block size of `compressed_segmentation`, x,y,z.
const CSEG_BLOCK: [usize; 3] = [8, 8, 8];

fn xyz(v: [i64; 3]) -> [i64; 3] {
    [v[2], v[1], v[0]]
}

/// Whether chunks of this pyramid use `compressed_segmentation`.
fn uses_cseg(pyr: &Pyramid) -> bool {
    pyr.segmentation && matches!(pyr.served, DType::U32 | DType::U64)
}

/// The `info` document.
#[must_use]
pub fn info(array: &ArrayRef, pyr: &Pyramid) -> Value {
    let m = array.meta();
    let cseg = uses_cseg(pyr);
    let scales: Vec<Value> = pyr
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut s = json!({
                "key": format!("s{i}"),
                "size": xyz(l.size),
                "resolution": xyz(l.resolution),
                "voxel_offset": xyz(l.offset),
                "chunk_sizes": [xyz(pyr.chunk)],
                "encoding": if cseg { "compressed_segmentation" } else { "raw" },
            });
            if cseg {
                s["compressed_segmentation_block_size"] = json!(CSEG_BLOCK);
            }
            s
        })
        .collect();
    json!({
        "@type": "neuroglancer_multiscale_volume",
        "type": if pyr.segmentation { "segmentation" } else { "image" },
        "data_type": pyr.served,
        "num_channels": m.num_channels.unwrap_or(1),
        "scales": scales,
        "arrayd_dtype": m.dtype,
    })
}

/// `Cache-Control` for an array's chunks and metadata.
#[must_use]
pub fn cache_control(freshness: Freshness) -> &'static str {
    match freshness {
        Freshness::Immutable => IMMUTABLE,
        Freshness::MaxAge(_) => "public, max-age=60",
        Freshness::Revalidate => REVALIDATE,
    }
}

fn array_of(state: &AppState, path: &PathParams) -> Result<ArrayRef> {
    let entry = state.registry.get(path.get("name")?)?;
    Ok(entry.array()?.clone())
}

/// `GET /v1/arrays/{name}/precomputed/info`
///
/// # Errors
/// 404 unknown array.
pub async fn get_info(
    State(state): State<AppState>,
    path: PathParams,
    headers: HeaderMap,
) -> Result<Response> {
    let array = array_of(&state, &path)?;
    let pyr = Pyramid::for_array(&array);
    let body =
        serde_json::to_vec(&info(&array, &pyr)).map_err(|e| Error::Internal(e.to_string()))?;
    respond(
        &headers,
        Cacheable {
            body: Bytes::from(body),
            content_type: "application/json",
            etag: format!("{}-info", array.meta().hash),
            cache_control: cache_control(array.meta().freshness),
        },
    )
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

/// The encoded chunk, cached.
async fn encoded_chunk(
    ctx: &ReadCtx,
    array: &ArrayRef,
    pyr: &Pyramid,
    level: usize,
    idx: [i64; 3],
    b: Box3,
) -> Result<Bytes, EvalError> {
    let key = ChunkKey::of(
        array.meta(),
        u32::try_from(level).unwrap_or(u32::MAX),
        Variant::Encoded("precomputed"),
        Coord::new(idx.to_vec()),
    );
    let cseg = uses_cseg(pyr);
    let channels = pyr.num_channels.unwrap_or(1);
    let cached = ctx
        .cache
        .get_or_compute(key, async move {
            let v = read_level(ctx, array, pyr, level, b).await?;
            let bytes = ctx.compute(move || encode(&v, b, channels, cseg)).await?;
            Ok(Cached::Bytes(Bytes::from(bytes)))
        })
        .await?;
    match cached {
        Cached::Bytes(b) => Ok(b),
        Cached::Volume(_) => Err(EvalError::Internal(
            "encoded chunk cached as a volume".into(),
        )),
    }
}

/// Raw: C order `[c, z, y, x]` = x fastest, channel slowest, little-endian.
/// compressed_segmentation: the same order, encoded.
fn encode(v: &Volume, b: Box3, channels: usize, cseg: bool) -> Result<Vec<u8>, EvalError> {
    if !cseg {
        return Ok(v.to_le_bytes());
    }
    let [z, y, x] = b.shape();
    let size = [x, y, z];
    let out = match v {
        Volume::U32(a) => compressed_segmentation::encode(
            &a.iter().copied().collect::<Vec<_>>(),
            size,
            channels,
            CSEG_BLOCK,
        ),
        Volume::U64(a) => compressed_segmentation::encode(
            &a.iter().copied().collect::<Vec<_>>(),
            size,
            channels,
            CSEG_BLOCK,
        ),
        other => {
            return Err(EvalError::Internal(format!(
                "compressed_segmentation of {}",
                other.dtype()
            )));
        }
    };
    out.map_err(EvalError::Internal)
}

/// `GET /v1/arrays/{name}/precomputed/{key}/{chunk}`
///
/// # Errors
/// 404 unknown array, scale key or a chunk outside the grid; 400 a malformed or
/// misaligned chunk name; 5xx read failures.
pub async fn get_chunk(
    State(state): State<AppState>,
    path: PathParams,
    headers: HeaderMap,
) -> Result<Response> {
    let array = array_of(&state, &path)?;
    let key = path.get("key")?;
    let name = path.get("chunk")?;
    let pyr = Pyramid::for_array(&array);
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
    let idx = pyr.chunk_index(lvl, b).ok_or_else(|| {
        Error::BadRequest(format!(
            "chunk {name} is not on the chunk grid of scale {key}: chunks start at voxel_offset + k·{:?} and end at the next grid line or the volume's end",
            xyz(pyr.chunk)
        ))
    })?;
    let body = encoded_chunk(&state.ctx, &array, &pyr, level, idx, b).await?;
    let m = array.meta();
    respond(
        &headers,
        Cacheable {
            body,
            content_type: "application/octet-stream",
            etag: format!("{}-{level}-{name}", m.hash),
            cache_control: cache_control(m.freshness),
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
