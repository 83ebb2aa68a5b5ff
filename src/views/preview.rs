//! `GET /v1/arrays/{name}/preview.png?axis=z|y|x&index=…&scale=…`: one slice of a level
//! as a PNG thumbnail ([`crate::encode::preview`]). Defaults: axis `z`, the finest level
//! whose slice fits in [`PREVIEW_SIDE`] pixels, its middle slice. Cached like a chunk.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::encode::preview::Preview;
use crate::error::{Error, Result};
use crate::eval::{Encoder, encoded_level_chunk};
use crate::geometry::Box3;
use crate::http::cache_headers::{Cacheable, for_array, respond};
use crate::http::extract::{OpenArray, QueryParams};
use crate::levels::{Level, Levels};
use crate::server::AppState;

/// Longest side, pixels, of the default level's slice.
pub const PREVIEW_SIDE: i64 = 256;

/// Most pixels of a requested slice (a `scale` can ask for a fine level).
pub const MAX_PREVIEW_PIXELS: i64 = 4096 * 4096;

const AXES: [&str; 3] = ["z", "y", "x"];

/// The slice's two axes' extents at `level`.
fn slice_sides(level: &Level, axis: usize) -> [i64; 2] {
    let kept: Vec<i64> = (0..3)
        .filter(|&d| d != axis)
        .map(|d| level.size[d])
        .collect();
    [kept[0], kept[1]]
}

/// The finest level whose slice fits in [`PREVIEW_SIDE`], else the coarsest.
fn default_level(levels: &Levels, axis: usize) -> usize {
    levels
        .levels
        .iter()
        .position(|l| slice_sides(l, axis).iter().all(|&s| s <= PREVIEW_SIDE))
        .unwrap_or(levels.levels.len() - 1)
}

/// The level and voxel box the query asks for.
fn slice(levels: &Levels, query: &QueryParams) -> Result<(usize, usize, Box3)> {
    let axis = match query.get("axis").unwrap_or("z") {
        "z" => 0,
        "y" => 1,
        "x" => 2,
        other => {
            return Err(Error::BadRequest(format!("axis={other:?}; use z, y or x")));
        }
    };
    let last = levels.levels.len() - 1;
    let k = match query.get("scale") {
        None => default_level(levels, axis),
        Some(s) => s
            .strip_prefix('s')
            .unwrap_or(s)
            .parse::<usize>()
            .ok()
            .filter(|&k| k <= last)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "scale={s:?}; use a level from 0 to {last} (s0..s{last})"
                ))
            })?,
    };
    let level = &levels.levels[k];
    let pixels: i64 = slice_sides(level, axis).iter().product();
    if pixels > MAX_PREVIEW_PIXELS {
        return Err(Error::BadRequest(format!(
            "a {} slice of scale s{k} has {pixels} pixels, more than {MAX_PREVIEW_PIXELS}; pick a coarser scale (up to s{last})",
            AXES[axis]
        )));
    }
    let b = level.bounds();
    let (lo, hi) = (b.begin[axis], b.end[axis]);
    let index = match query.get("index") {
        None => lo + (hi - lo) / 2,
        Some(s) => s.parse::<i64>().ok().filter(|i| (lo..hi).contains(i)).ok_or_else(|| {
            Error::BadRequest(format!(
                "index={s:?}; a {} index of scale s{k} is from {lo} to {} (voxels of that scale)",
                AXES[axis],
                hi - 1
            ))
        })?,
    };
    let mut one = b;
    one.begin[axis] = index;
    one.end[axis] = index + 1;
    Ok((axis, k, one))
}

/// `GET /v1/arrays/{name}/preview.png`
///
/// # Errors
/// 404 unknown array; 400 a bad axis, scale or index, or too big a slice.
pub async fn preview(
    State(state): State<AppState>,
    open: OpenArray,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response> {
    query.only(&["axis", "index", "scale"])?;
    let levels = &open.levels;
    let (axis, k, b) = slice(levels, &query)?;
    let enc = Preview {
        axis,
        labels: levels.segmentation,
    };
    let body = encoded_level_chunk(&state.ctx, levels, k, b, enc).await?;
    let m = open.array.meta();
    respond(
        &headers,
        Cacheable {
            body: body.into(),
            content_type: "image/png",
            etag: format!(
                "{}-{}-s{k}-{}-g{}",
                m.hash,
                enc.id(),
                b.begin[axis],
                levels.generation(k, b)
            ),
            cache_control: for_array(m.freshness),
        },
    )
}
