//! `GET /v1/arrays/{name}/roi` (`spec/api.md`, "ROI reads"): any ROI as `.npy` or raw
//! little-endian bytes, in world or voxel units, with optional fill outside the array.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::array::{ArrayRef, ConfigHash};
use crate::encode::npy;
use crate::error::{Error, Result};
use crate::eval::{check_aligned, read_roi_shared};
use crate::geometry::{Coord, Roi};
use crate::http::cache_headers::{Cacheable, REVALIDATE, not_modified, respond};
use crate::http::extract::{PathParams, QueryParams};
use crate::server::AppState;

/// Largest response encoded on the async runtime itself (larger ones go to the pool).
const INLINE_ENCODE_BYTES: u128 = 4 << 20;

/// Response body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A `.npy` file.
    Npy,
    /// Little-endian C-order bytes with `X-Array-*` headers.
    Raw,
}

fn parse_list(key: &str, value: &str, dims: usize) -> Result<Coord> {
    let parts: Result<Vec<i64>, _> = value.split(',').map(|p| p.trim().parse::<i64>()).collect();
    match parts {
        Ok(v) if v.len() == dims => Ok(Coord::new(v)),
        _ => Err(Error::BadRequest(format!(
            "{key}={value:?} must be {dims} comma-separated integers in z,y,x order"
        ))),
    }
}

fn format_of(query: &QueryParams, headers: &HeaderMap) -> Result<Format> {
    match query.get("format") {
        Some("npy") => Ok(Format::Npy),
        Some("raw") => Ok(Format::Raw),
        Some(other) => Err(Error::BadRequest(format!(
            "format={other:?} is not supported; use npy or raw"
        ))),
        None => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("application/octet-stream") && !accept.contains("application/x-npy")
            {
                Ok(Format::Raw)
            } else {
                Ok(Format::Npy)
            }
        }
    }
}

/// The requested ROI in world units (whole array when neither offset nor shape is given).
fn requested_roi(array: &ArrayRef, query: &QueryParams) -> Result<Roi> {
    let m = array.meta();
    let dims = m.dims();
    let voxels = match query.get("units") {
        None | Some("world") => false,
        Some("voxels") => true,
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "units={other:?} must be world or voxels"
            )));
        }
    };
    let roi = match (query.get("offset"), query.get("shape")) {
        (None, None) => return Ok(m.roi.clone()),
        (Some(o), Some(s)) => Roi::new(
            parse_list("offset", o, dims)?,
            parse_list("shape", s, dims)?,
        ),
        _ => {
            return Err(Error::BadRequest(
                "give both offset and shape (z,y,x), or neither for the whole array".into(),
            ));
        }
    };
    if roi.shape.iter().any(|&s| s <= 0) {
        return Err(Error::BadRequest(format!(
            "shape {} must be positive on every axis",
            roi.shape
        )));
    }
    Ok(if voxels {
        roi.to_world(&m.voxel_size)
    } else {
        roi
    })
}

/// `GET /v1/arrays/{name}/roi`
///
/// # Errors
/// 400 bad parameters, misaligned or out-of-bounds ROI; 404 unknown array; 413 too
/// large; 5xx read failures.
pub async fn roi(
    State(state): State<AppState>,
    path: PathParams,
    query: QueryParams,
    headers: HeaderMap,
) -> Result<Response> {
    query.only(&["offset", "shape", "units", "format", "fill"])?;
    let entry = state.registry.get(path.get("name")?)?;
    let array = entry.array()?.clone();
    let format = format_of(&query, &headers)?;
    let roi = requested_roi(&array, &query)?;
    let fill = query.get("fill");
    check_aligned(&array, &roi)?;
    let m = array.meta();
    let shape = m.volume_shape(&roi);
    let bytes = shape.iter().map(|&s| s as u128).product::<u128>() * m.dtype.size() as u128;
    if bytes > u128::from(state.settings.max_roi_bytes) {
        return Err(Error::TooLarge {
            bytes,
            limit: state.settings.max_roi_bytes,
        });
    }
    let etag = ConfigHash::of(&json!([
        m.hash.to_string(),
        roi.offset,
        roi.shape,
        fill,
        format == Format::Npy
    ]))
    .to_string();
    if let Some(resp) = not_modified(&headers, &etag, REVALIDATE) {
        return Ok(resp);
    }
    let volume = read_roi_shared(&state.ctx, &array, &roi, fill).await?;
    let encode = move || match format {
        Format::Npy => npy::encode(&volume),
        Format::Raw => volume.to_le_bytes(),
    };
    // Small bodies are a memcpy: encode in place; large ones on the blocking pool.
    let body = if bytes <= INLINE_ENCODE_BYTES {
        encode()
    } else {
        state.ctx.compute(move || Ok(encode())).await?
    };
    let content_type = match format {
        Format::Npy => "application/x-npy",
        Format::Raw => "application/octet-stream",
    };
    let mut resp = respond(
        &headers,
        Cacheable {
            body: Bytes::from(body),
            content_type,
            etag,
            cache_control: REVALIDATE,
        },
    )?
    .into_response();
    if format == Format::Raw {
        let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
        let h = resp.headers_mut();
        for (name, value) in [
            ("x-array-shape", dims.join(",")),
            ("x-array-dtype", m.dtype.name().to_owned()),
            ("x-array-axes", m.axes().join(",")),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
    }
    Ok(resp)
}
