//! `GET /v1/arrays/{name}/roi` (`spec/api.md`, "ROI reads"): any ROI as `.npy` or raw
//! little-endian bytes, in world or voxel units, with optional fill outside the array.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::array::{ArrayRef, ConfigHash};
use crate::encode::npy;
use crate::encode::raw::shared_le_bytes;
use crate::error::{Error, Result};
use crate::eval::{Slabs, check_aligned, read_roi_shared, read_slab, slabs};
use crate::http::cache_headers::{Cacheable, not_modified, respond, respond_streamed, revalidate};
use crate::http::extract::{ArrayName, OpenArray};
use crate::http::payload::Payload;
use crate::http::roi_query::{Format, RoiQuery};
use crate::http::streamed::{Part, Streamed};
use crate::limits::volume_bytes;
use crate::server::AppState;
use crate::volume::Fill;

/// Largest volume copied into a body on the async runtime itself (larger ones go to the
/// pool); contiguous volumes are not copied at all.
const INLINE_COPY_BYTES: u128 = 4 << 20;

/// ROIs from this size up (inside the array, over more than one row of chunks) are read
/// and sent a slab of chunk rows at a time.
const STREAM_MIN_BYTES: u128 = 8 << 20;

/// Slabs of one streamed ROI read at once (each on its own task, all threads busy); at
/// least a row of chunks and the first slab of the next, whose read computes that row.
const SLABS_AHEAD: usize = 3;

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
    let content_type = match format {
        Format::Npy => "application/x-npy",
        Format::Raw => "application/octet-stream",
    };
    let head = (format == Format::Npy).then(|| Bytes::from(npy::header(m.dtype, &shape)));
    let cuts =
        (bytes >= STREAM_MIN_BYTES && !headers.contains_key(header::RANGE) && m.roi.contains(&roi))
            .then(|| slabs(&state.ctx, &array, &roi))
            .flatten();
    let mut resp = if let Some(cuts) = cuts {
        let body = streamed(&state, &array, cuts, head, bytes).await?;
        respond_streamed(&etag, &revalidate(), content_type, body)?
    } else {
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
        let body = Payload::new(head.into_iter().chain([data]).collect());
        let rep = Cacheable {
            body,
            content_type,
            etag,
            cache_control: revalidate(),
        };
        respond(&headers, rep)?.into_response()
    };
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

/// The body of a ROI read a slab at a time ([`slabs`]), the first slab read before the
/// answer starts (its failure is still a problem response).
async fn streamed(
    state: &AppState,
    array: &ArrayRef,
    slabs: Slabs,
    head: Option<Bytes>,
    bytes: u128,
) -> Result<Body> {
    let parts = slabs
        .cuts
        .into_iter()
        .map(|cut| {
            let (ctx, array) = (state.ctx.clone(), array.clone());
            Box::pin(async move {
                let v = read_slab(&ctx, &array, &cut).await?;
                Ok(ctx.recycle.bytes(v))
            }) as Part
        })
        .collect();
    let len = u64::try_from(bytes).map_err(|e| Error::Internal(e.to_string()))?;
    let mut body = Streamed::new(head, parts, SLABS_AHEAD.max(slabs.per_row + 1), len);
    body.first().await?;
    Ok(Body::new(body))
}
