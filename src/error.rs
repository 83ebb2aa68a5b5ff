//! The one place errors become HTTP responses: `application/problem+json` with
//! `{type, title, status, detail}` (RFC 9457), plus `problems` for validation and
//! `Retry-After` on 503 (`spec/api.md`, "Common behaviour").

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use thiserror::Error;

use crate::array::FieldProblem;
use crate::eval::EvalError;
use crate::limits::{Exceeded, Limit};

/// The status a limit answers with: 503 for load limits, 413 for sizes.
fn limit_status(limit: Limit) -> StatusCode {
    match limit {
        Limit::MaxInflightBytes | Limit::MaxConnections => StatusCode::SERVICE_UNAVAILABLE,
        Limit::MaxFanIn | Limit::MaxChainDepth => StatusCode::UNPROCESSABLE_ENTITY,
        Limit::MaxChunkBytes
        | Limit::MaxChunksPerRequest
        | Limit::MaxRoiBytes
        | Limit::MaxBodyBytes => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

/// Every way a request can fail.
#[derive(Debug, Error)]
pub enum Error {
    /// No such array, route or chunk.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (message says what and what is allowed).
    #[error("{0}")]
    BadRequest(String),
    /// The config is invalid; every problem is listed.
    #[error("the config is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Validation(Vec<FieldProblem>),
    /// The request is well-formed but cannot be applied (a write of another dtype).
    #[error("{0}")]
    Unprocessable(String),
    /// The change conflicts with the registry's state.
    #[error("{0}")]
    Conflict(String),
    /// No bearer token was given for an admin route.
    #[error("this route needs an admin token: send Authorization: Bearer <token>")]
    Unauthorized,
    /// A wrong bearer token was given.
    #[error("the admin token is not valid")]
    Forbidden,
    /// A named limit would be exceeded (`--max-*`).
    #[error(transparent)]
    Limit(#[from] Exceeded),
    /// The registry could not be persisted (full or read-only state dir).
    #[error("{detail}")]
    Storage {
        /// Whether the disk is full (507) rather than unwritable (503).
        full: bool,
        /// What failed and what the operator can do.
        detail: String,
    },
    /// A `Range` header that cannot be satisfied.
    #[error("the range is outside the {len}-byte resource")]
    RangeNotSatisfiable {
        /// Length of the full resource.
        len: usize,
    },
    /// The array exists but cannot be read now (its data failed to load).
    #[error("{0}")]
    Unavailable(String),
    /// Method not allowed on this route.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A read failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A bug; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status of this error.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::Limit(e) | Error::Eval(EvalError::Limit(e)) => limit_status(e.limit),
            Error::Storage { full: true, .. } => StatusCode::INSUFFICIENT_STORAGE,
            Error::Storage { full: false, .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Eval(e) => match e {
                EvalError::Misaligned { .. }
                | EvalError::OutOfBounds { .. }
                | EvalError::BadRequest(_) => StatusCode::BAD_REQUEST,
                EvalError::UpstreamBad { .. } => StatusCode::BAD_GATEWAY,
                EvalError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                EvalError::UpstreamUnavailable { .. } | EvalError::Overloaded => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                EvalError::Confined(_) => StatusCode::FORBIDDEN,
                EvalError::NotStored(_) => StatusCode::NOT_FOUND,
                EvalError::Limit(e) => limit_status(e.limit),
                EvalError::Storage(_) | EvalError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// A short, stable slug naming the kind of problem.
    #[must_use]
    pub fn slug(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not-found",
            Error::BadRequest(_) => "bad-request",
            Error::Validation(_) => "invalid-config",
            Error::Conflict(_) => "conflict",
            Error::Unprocessable(_) => "unprocessable",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden => "forbidden",
            Error::Limit(_) | Error::Eval(EvalError::Limit(_)) => "limit-exceeded",
            Error::Storage { .. } => "state-not-writable",
            Error::RangeNotSatisfiable { .. } => "range-not-satisfiable",
            Error::Unavailable(_) => "unavailable",
            Error::MethodNotAllowed(_) => "method-not-allowed",
            Error::Internal(_) => "internal",
            Error::Eval(e) => match e {
                EvalError::Misaligned { .. } => "misaligned-roi",
                EvalError::OutOfBounds { .. } => "out-of-bounds",
                EvalError::BadRequest(_) => "bad-request",
                EvalError::Storage(_) => "storage",
                EvalError::Confined(_) => "outside-data-root",
                EvalError::NotStored(_) => "not-found",
                EvalError::Limit(_) => "limit-exceeded",
                EvalError::UpstreamBad { .. } => "upstream-bad-gateway",
                EvalError::UpstreamTimeout { .. } => "upstream-timeout",
                EvalError::UpstreamUnavailable { .. } => "upstream-unavailable",
                EvalError::Overloaded => "overloaded",
                EvalError::Internal(_) => "internal",
            },
        }
    }
}

/// Builds a problem+json response.
#[must_use]
pub fn problem_response(
    status: StatusCode,
    slug: &str,
    detail: &str,
    extra: Option<serde_json::Value>,
) -> Response {
    let mut body = json!({
        "type": format!("urn:arrayd:problem:{slug}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let (Some(Value::Object(map)), Some(obj)) = (extra, body.as_object_mut()) {
        obj.extend(map);
    }
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            format!(
                "the server failed to answer this request ({}); the cause is in its log",
                self.slug()
            )
        } else {
            if status.is_server_error() {
                tracing::warn!(error = %self, "request failed upstream or under load");
            }
            self.to_string()
        };
        let extra = match &self {
            Error::Validation(problems) => Some(json!({ "problems": problems })),
            Error::Limit(e) | Error::Eval(EvalError::Limit(e)) => Some(json!({
                "limit": e.limit,
                "flag": e.limit.flag(),
                "maximum": e.max,
            })),
            _ => None,
        };
        let mut resp = problem_response(status, self.slug(), &detail, extra);
        if let Error::RangeNotSatisfiable { len } = self
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}"))
        {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        resp
    }
}

/// Shorthand for handler results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
