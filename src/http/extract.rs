//! Extractors whose rejections are problem+json [`Error`]s: path segments (the array
//! name, its registry entry), query parameters, a bounded body, and the admin token.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;

use crate::array::ArrayRef;
use crate::error::Error;
use crate::levels::Levels;
use crate::limits::Exceeded;
use crate::registry::{Entry, validate_name};
use crate::server::AppState;

/// The route's captured segments, percent-decoded (400 when one is not UTF-8).
async fn segments<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, Error> {
    Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map(|Path(p)| p)
        .map_err(|e: PathRejection| Error::BadRequest(format!("bad path: {}", e.body_text())))
}

/// The captured segment `{key}` (or `{*key}`) of the route.
///
/// # Errors
/// 400 for a segment that is not UTF-8; 500 when the route has no such segment.
pub async fn segment<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    key: &str,
) -> Result<String, Error> {
    segments(parts, state)
        .await?
        .remove(key)
        .ok_or_else(|| Error::Internal(format!("route has no {{{key}}} segment")))
}

/// The `{name}` segment as given. Not held to the naming rule: a name that breaks it
/// is not registered, so reads and deletes answer 404 for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ArrayName {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        segment(parts, state, "name").await.map(ArrayName)
    }
}

/// The `{name}` of a registration, held to the registry's naming rule
/// ([`validate_name`]: 400 naming the rule otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArrayName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for NewArrayName {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let ArrayName(name) = ArrayName::from_request_parts(parts, state).await?;
        validate_name(&name)?;
        Ok(NewArrayName(name))
    }
}

/// The registry entry `{name}` names, opened or not (404 unknown, 503 while loading).
#[derive(Debug, Clone)]
pub struct ArrayEntry(pub Arc<Entry>);

impl FromRequestParts<AppState> for ArrayEntry {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let ArrayName(name) = ArrayName::from_request_parts(parts, state).await?;
        state.registry.get(&name).map(ArrayEntry)
    }
}

/// A registered array that opened: what every data view reads.
#[derive(Debug, Clone)]
pub struct OpenArray {
    /// The registry entry (its `name` is the `{name}` segment).
    pub entry: Arc<Entry>,
    /// The opened array.
    pub array: ArrayRef,
    /// Its levels.
    pub levels: Arc<Levels>,
}

impl OpenArray {
    /// The array registered as `name`.
    ///
    /// # Errors
    /// 404 unknown, 503 while loading or when it failed to open.
    pub fn lookup(state: &AppState, name: &str) -> Result<Self, Error> {
        let entry = state.registry.get(name)?;
        Ok(Self {
            array: entry.array()?.clone(),
            levels: entry.levels()?.clone(),
            entry,
        })
    }

    /// The registered name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.entry.name
    }
}

impl FromRequestParts<AppState> for OpenArray {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let ArrayName(name) = ArrayName::from_request_parts(parts, state).await?;
        Self::lookup(state, &name)
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
        read_limited(req, limits.max_body_bytes, limits.body_too_large())
            .await
            .map(LimitedBody)
    }
}

/// Reads a request body of at most `max` bytes: a larger declared `Content-Length` is
/// refused before reading, a body that grows past it while read; both with `over`.
///
/// # Errors
/// [`Error::Limit`] (413), or 400 when the body cannot be read.
pub async fn read_limited(req: Request, max: u64, over: Exceeded) -> Result<Bytes, Error> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u128>().ok());
    if let Some(n) = declared.filter(|&n| n > u128::from(max)) {
        return Err(Error::Limit(Exceeded { value: n, ..over }));
    }
    let cap = usize::try_from(max).unwrap_or(usize::MAX);
    match axum::body::to_bytes(req.into_body(), cap).await {
        Ok(bytes) => Ok(bytes),
        Err(e)
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) =>
        {
            Err(Error::Limit(over))
        }
        Err(e) => Err(Error::BadRequest(format!(
            "the request body could not be read: {e}"
        ))),
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
