//! Extractors whose rejections are problem+json [`Error`]s, and the admin-token check.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;

use crate::error::Error;
use crate::server::AppState;

/// A `{name}` path segment naming a registered array (plus any further segments).
#[derive(Debug)]
pub struct PathParams(pub HashMap<String, String>);

impl PathParams {
    /// A captured segment.
    ///
    /// # Errors
    /// [`Error::BadRequest`] when the route has no such segment.
    pub fn get(&self, key: &str) -> Result<&str, Error> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::Internal(format!("route has no {{{key}}} segment")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| PathParams(p))
            .map_err(|e: PathRejection| Error::BadRequest(format!("bad path: {}", e.body_text())))
    }
}

/// Query parameters, refused when a key is not in the route's allowed list.
#[derive(Debug)]
pub struct QueryParams(pub HashMap<String, String>);

impl QueryParams {
    /// Checks that only `allowed` keys are present.
    ///
    /// # Errors
    /// [`Error::BadRequest`] naming the unknown key and the allowed ones.
    pub fn only(&self, allowed: &[&str]) -> Result<(), Error> {
        if let Some(k) = self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::BadRequest(format!(
                "unknown query parameter {k:?}; allowed: {}",
                allowed.join(", ")
            )));
        }
        Ok(())
    }

    /// A parameter's value.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter (`true`/`false`/`1`/`0`; absent = false).
    ///
    /// # Errors
    /// [`Error::BadRequest`] for any other value.
    pub fn flag(&self, key: &str) -> Result<bool, Error> {
        match self.get(key) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1" | "") => Ok(true),
            Some(v) => Err(Error::BadRequest(format!(
                "{key}={v:?} must be true or false"
            ))),
        }
    }
}

impl QueryParams {
    /// Parses a raw query string (what follows `?`).
    ///
    /// # Errors
    /// [`Error::BadRequest`] when it is not `key=value&...` form encoding.
    pub fn from_query_str(query: &str) -> Result<Self, Error> {
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| Error::BadRequest(format!("bad query string: {e}")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryParams(q))
            .map_err(|e: QueryRejection| {
                Error::BadRequest(format!("bad query string: {}", e.body_text()))
            })
    }
}

/// A request body read whole, refused with a 413 problem above `--max-body-bytes`.
#[derive(Debug)]
pub struct LimitedBody(pub Bytes);

impl FromRequest<AppState> for LimitedBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let limits = state.ctx.limits;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u128>().ok());
        if let Some(n) = declared {
            limits.body_bytes(n)?;
        }
        let max = usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX);
        match axum::body::to_bytes(req.into_body(), max).await {
            Ok(bytes) => Ok(LimitedBody(bytes)),
            Err(e)
                if std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) =>
            {
                Err(limits.body_too_large().into())
            }
            Err(e) => Err(Error::BadRequest(format!(
                "the request body could not be read: {e}"
            ))),
        }
    }
}

/// Proof that the request may change the registry (valid bearer token, or none set).
#[derive(Debug)]
pub struct Admin;

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Some(token) = state.admin_token.as_deref() else {
            return Ok(Admin);
        };
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(Error::Unauthorized)?;
        if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
            Ok(Admin)
        } else {
            Err(Error::Forbidden)
        }
    }
}
