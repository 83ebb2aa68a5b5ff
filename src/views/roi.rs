//! `GET /v1/arrays/{name}/roi` (`spec/api.md`, "ROI reads"): any ROI as `.npy` or raw
//! little-endian bytes, in world or voxel units, with optional fill outside the array.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::array::ConfigHash;
use crate::encode::npy;
use crate::encode::raw::shared_le_bytes;
use crate::error::{Error, Result};
use crate::eval::{check_aligned, read_roi_shared};
use crate::http::cache_headers::{Cacheable, not_modified, respond, revalidate};
use crate::http::extract::{ArrayName, OpenArray};
use crate::http::payload::Payload;
use crate::http::roi_query::{Format, RoiQuery};
use crate::limits::volume_bytes;
use crate::server::AppState;
use crate::volume::Fill;

/// Largest volume copied into a body on the async runtime itself (larger ones go to the
/// pool); contiguous volumes are not copied at all.
const INLINE_COPY_BYTES: u128 = 4 << 20;

/// `GET /v1/arrays/{name}/roi`
///
/// # Errors
/// 400 bad parameters, misaligned or out-of-bounds ROI; 404 unknown array; 413 too
/// large; 5xx read failures.
pub async fn roi(
    State(state): State<AppState>,
    ArrayName(name): ArrayName,
    request: RoiQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let OpenArray { array, .. } = OpenArray::lookup(&state, &name)?;
    let format = request.format(&headers);
    let m = array.meta();
    let roi = request.roi(&m.voxel_size, &m.roi)?;
    let fill = request
        .fill()
        .map(|text| Fill::parse(m.dtype, text))
        .transpose()
        .map_err(Error::BadRequest)?;
    check_aligned(&array, &roi)?;
    let shape = m.volume_shape(&roi);
    let bytes = volume_bytes(&shape, m.dtype.size());
    state.ctx.limits.roi_bytes(bytes)?;
    let etag = ConfigHash::of(&json!([
        m.hash.to_string(),
        roi.offset,
        roi.shape,
        fill.as_ref().map(Fill::canonical),
        format == Format::Npy,
        array.generation(&roi)
    ]))
    .to_string();
    if let Some(resp) = not_modified(&headers, &etag, &revalidate()) {
        return Ok(resp);
    }
    let reservation = state.budget.reserve(bytes).await?;
    let volume = read_roi_shared(&state.ctx, &array, &roi, fill.as_ref()).await?;
    let data = match shared_le_bytes(&volume) {
        Some(data) => data,
        // Not contiguous (or a big-endian host): one copy, off the runtime when large.
        None if bytes <= INLINE_COPY_BYTES => Bytes::from(volume.to_le_bytes()),
        None => {
            let _copy = state.budget.reserve(bytes).await?;
            Bytes::from(state.ctx.compute(move || Ok(volume.to_le_bytes())).await?)
        }
    };
    let body = match format {
        Format::Npy => Payload::new(vec![Bytes::from(npy::header(m.dtype, &shape)), data]),
        Format::Raw => data.into(),
    };
    let content_type = match format {
        Format::Npy => "application/x-npy",
        Format::Raw => "application/octet-stream",
    };
    let mut resp = respond(
        &headers,
        Cacheable {
            body,
            content_type,
            etag,
            cache_control: revalidate(),
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
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(parts, reservation.hold(body)))
}
