//! Middleware: CORS, response compression, request ids, tracing spans, panic
//! catching, timeouts and request metrics, each producing problem+json on failure.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::cors::{Any as AnyOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::error::problem_response;
use crate::metrics::{Metrics, RequestLabels, RouteLabel};

/// Response extension: do not compress this body (it is compressed already).
#[derive(Debug, Clone, Copy)]
pub struct NoCompress;

/// The request-id header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// CORS for every route: any origin, preflight answered, `Range` allowed, the headers
/// clients read exposed.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AnyOrigin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::RANGE,
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::IF_RANGE,
            header::ACCEPT,
            HeaderName::from_static("x-requested-with"),
        ])
        .expose_headers([
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::ETAG,
            header::CONTENT_ENCODING,
            HeaderName::from_static("x-array-shape"),
            HeaderName::from_static("x-array-dtype"),
            HeaderName::from_static("x-array-axes"),
            REQUEST_ID.clone(),
        ])
        .max_age(Duration::from_secs(86_400))
}

/// Largest body compressed on the fly: above it gzip costs more time than the bytes it
/// saves (a 16 MiB EM ROI: 0.69 s gzip against 0.04 s plain, for 20% fewer bytes).
pub const COMPRESS_MAX_BYTES: u64 = 1 << 20;

/// Leaves out bodies known to be over [`COMPRESS_MAX_BYTES`].
#[derive(Debug, Clone, Copy)]
struct NotLarge;

impl Predicate for NotLarge {
    fn should_compress<B: http_body::Body>(&self, response: &axum::http::Response<B>) -> bool {
        response
            .body()
            .size_hint()
            .exact()
            .is_none_or(|n| n <= COMPRESS_MAX_BYTES)
    }
}

/// gzip/zstd for full (200) responses from 256 bytes to [`COMPRESS_MAX_BYTES`] that are
/// not already compressed; never for 206 (a range of the identity bytes).
#[must_use]
pub fn compression() -> CompressionLayer<impl Predicate> {
    let predicate = DefaultPredicate::new().and(NotLarge).and(
        |status: StatusCode,
         _v: axum::http::Version,
         _h: &axum::http::HeaderMap,
         ext: &axum::http::Extensions| {
            status == StatusCode::OK && ext.get::<NoCompress>().is_none()
        },
    );
    CompressionLayer::new()
        .gzip(true)
        .zstd(true)
        .compress_when(predicate)
}

/// Request ids: the process id and a counter, hex. The pid is read once (it is a
/// system call every time `std::process::id` is asked).
#[derive(Debug, Clone)]
pub struct Counter(Arc<(u32, AtomicU64)>);

impl Default for Counter {
    fn default() -> Self {
        Self(Arc::new((std::process::id(), AtomicU64::new(0))))
    }
}

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let (pid, next) = &*self.0;
        let n = next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{pid:x}-{n:x}"))
            .ok()
            .map(RequestId::new)
    }
}

/// A panic in a handler becomes a 500 problem (and is logged).
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(panic = %msg, "request handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server hit a bug while answering; the cause is in its log",
        None,
    )
}

/// One request being tracked; recorded when answered, or as 499 (nginx's "client closed
/// request") when the client went away first and the handler was dropped.
struct Tracked {
    metrics: Arc<Metrics>,
    route: String,
    method: String,
    start: Instant,
    status: Option<u16>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.metrics
            .request_seconds
            .get_or_create(&RouteLabel {
                route: self.route.clone(),
            })
            .observe(self.start.elapsed().as_secs_f64());
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                route: std::mem::take(&mut self.route),
                method: std::mem::take(&mut self.method),
                status: self.status.unwrap_or(CLIENT_CLOSED),
            })
            .inc();
    }
}

/// Status recorded for requests whose client disconnected before the answer.
pub const CLIENT_CLOSED: u16 = 499;

/// Records requests by matched route, method and status, with latency.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut tracked = Tracked {
        metrics,
        route,
        method: req.method().to_string(),
        start: Instant::now(),
        status: None,
    };
    let resp = next.run(req).await;
    tracked.status = Some(resp.status().as_u16());
    resp
}

/// Answers 503 (problem+json) when a request takes longer than the configured time.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            &format!(
                "the request took longer than {} s; ask for less data or retry",
                limit.as_secs()
            ),
            None,
        ),
    }
}
