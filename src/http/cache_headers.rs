//! Conditional and partial responses for chunk and metadata URLs: strong `ETag`,
//! `If-None-Match` → 304, a single `Range` → 206 (or 416), `Cache-Control`
//! (`spec/api.md`, "Common behaviour").

use crate::array::Freshness;
use crate::error::Error;
use crate::http::payload::Payload;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// A cacheable representation.
#[derive(Debug, Clone)]
pub struct Cacheable {
    /// The full body.
    pub body: Payload,
    /// Its media type.
    pub content_type: &'static str,
    /// Opaque validator (without quotes); strong.
    pub etag: String,
    /// `Cache-Control` value.
    pub cache_control: HeaderValue,
}

/// `Cache-Control` for data that never changes under its ETag (immutable sources).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for data that may change (configs can be replaced): revalidate.
pub const REVALIDATE: &str = "public, max-age=0, must-revalidate";

/// `Cache-Control` for anything derived from an array with this [`Freshness`]: decided
/// here only.
#[must_use]
pub fn for_array(freshness: Freshness) -> HeaderValue {
    match freshness {
        Freshness::Immutable => HeaderValue::from_static(IMMUTABLE),
        Freshness::MaxAge(s) => header_value(&format!("public, max-age={s}")),
        Freshness::Revalidate => HeaderValue::from_static(REVALIDATE),
    }
}

/// `Cache-Control` for data that may change: [`REVALIDATE`].
#[must_use]
pub fn revalidate() -> HeaderValue {
    HeaderValue::from_static(REVALIDATE)
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag)
}

/// Parses a single `bytes=` range against a resource of `len` bytes.
/// `Ok(None)` means "serve the whole resource" (no range, or several ranges).
///
/// # Errors
/// [`Error::RangeNotSatisfiable`] for a syntactically valid range outside the resource.
pub fn parse_range(value: &str, len: usize) -> Result<Option<(usize, usize)>, Error> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = Err(Error::RangeNotSatisfiable { len });
    let range = match (a.parse::<usize>(), b.parse::<usize>()) {
        (Ok(start), Ok(end)) if start <= end => {
            if start >= len {
                return unsatisfiable;
            }
            (start, end.min(len - 1))
        }
        (Ok(start), Err(_)) if b.is_empty() => {
            if start >= len {
                return unsatisfiable;
            }
            (start, len - 1)
        }
        (Err(_), Ok(suffix)) if a.is_empty() => {
            if suffix == 0 || len == 0 {
                return unsatisfiable;
            }
            (len.saturating_sub(suffix), len - 1)
        }
        _ => return Ok(None),
    };
    Ok(Some(range))
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A 304 when the request's `If-None-Match` matches `etag` (checked before any work).
#[must_use]
pub fn not_modified(
    request: &HeaderMap,
    etag: &str,
    cache_control: &HeaderValue,
) -> Option<Response> {
    let inm = request.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    if !etag_matches(inm, etag) {
        return None;
    }
    Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .header(header::ETAG, header_value(&format!("\"{etag}\"")))
        .header(header::CACHE_CONTROL, cache_control)
        .body(Body::empty())
        .ok()
}

/// The headers of every full or partial answer.
fn headers(
    etag: &str,
    cache_control: &HeaderValue,
    content_type: &'static str,
) -> axum::http::response::Builder {
    Response::builder()
        .header(header::ETAG, header_value(&format!("\"{etag}\"")))
        .header(header::CACHE_CONTROL, cache_control)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, content_type)
}

/// The 200 of a representation whose body is made while it is sent, with [`respond`]'s
/// headers (the caller answers `If-None-Match` and `Range` requests through [`respond`]).
///
/// # Errors
/// None in practice: the headers are valid.
pub fn respond_streamed(
    etag: &str,
    cache_control: &HeaderValue,
    content_type: &'static str,
    body: Body,
) -> Result<Response, Error> {
    headers(etag, cache_control, content_type)
        .status(StatusCode::OK)
        .body(body)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Builds the response for `rep`, honouring `If-None-Match` and `Range`.
///
/// # Errors
/// [`Error::RangeNotSatisfiable`].
pub fn respond(request: &HeaderMap, rep: Cacheable) -> Result<Response, Error> {
    if let Some(resp) = not_modified(request, &rep.etag, &rep.cache_control) {
        return Ok(resp);
    }
    let builder = headers(&rep.etag, &rep.cache_control, rep.content_type);
    let if_range_ok = request
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| etag_matches(v, &rep.etag));
    let range = match request.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => parse_range(r, rep.body.len())?,
        _ => None,
    };
    let resp = match range {
        Some((start, end)) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{end}/{}", rep.body.len())),
            )
            .body(rep.body.slice(start, end).into_body()),
        None => builder.status(StatusCode::OK).body(rep.body.into_body()),
    };
    resp.map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-200", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-", 100).unwrap(), Some((95, 99)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=-0", 100).is_err());
    }

    #[test]
    fn not_modified_and_partial() {
        let rep = Cacheable {
            body: Bytes::from_static(b"0123456789").into(),
            content_type: "application/octet-stream",
            etag: "abc".into(),
            cache_control: revalidate(),
        };
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert_eq!(
            respond(&h, rep.clone()).unwrap().status(),
            StatusCode::NOT_MODIFIED
        );
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=2-4"));
        let r = respond(&h, rep.clone()).unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 2-4/10");
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"other\""));
        assert_eq!(respond(&h, rep).unwrap().status(), StatusCode::OK);
    }
}
