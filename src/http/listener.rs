//! The accept loop: hyper connections with a header-read timeout, per-direction stall
//! timeouts, a cap on open connections and graceful shutdown (`--header-timeout`,
//! `--idle-timeout`, `--max-connections`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::limits::{Exceeded, Limit};

/// Headroom of file descriptors beyond `--max-connections` (listener, data files, logs).
const FD_HEADROOM: u64 = 64;
/// Refused connections being answered at once; beyond it they are just closed.
const MAX_REFUSING: usize = 32;

/// Connection limits, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Time to send a request head; the longest idle wait between requests.
    pub header_timeout: Duration,
    /// The longest a body read or a response write may make no progress.
    pub idle_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain: Duration,
}

/// What a connection's requests are doing, so that stalled reads are timed only while
/// the server waits for the client.
#[derive(Debug, Default)]
struct Activity {
    /// Requests received whose response body is not finished.
    requests: AtomicUsize,
    /// Request bodies not yet received in full.
    bodies: AtomicUsize,
    /// Bumped on every change of the counts, so that a stall is timed from the change.
    epoch: AtomicU64,
}

impl Activity {
    /// The stall limit for a pending read: `header` when idle, `idle` while a body is
    /// awaited, none while only the server is busy (computing or sending).
    fn read_limit(&self, limits: &ConnLimits) -> Option<(Duration, u64)> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if self.bodies.load(Ordering::Acquire) > 0 {
            Some((limits.idle_timeout, epoch))
        } else if self.requests.load(Ordering::Acquire) == 0 {
            Some((limits.header_timeout, epoch))
        } else {
            None
        }
    }
}

/// Holds one count of [`Activity`] until dropped.
#[derive(Debug)]
struct Busy {
    activity: Arc<Activity>,
    body: bool,
}

impl Busy {
    fn new(activity: &Arc<Activity>, body: bool) -> Self {
        let b = Self {
            activity: activity.clone(),
            body,
        };
        b.counter().fetch_add(1, Ordering::AcqRel);
        b.activity.epoch.fetch_add(1, Ordering::AcqRel);
        b
    }

    fn counter(&self) -> &AtomicUsize {
        if self.body {
            &self.activity.bodies
        } else {
            &self.activity.requests
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.counter().fetch_sub(1, Ordering::AcqRel);
        self.activity.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// A body that releases its [`Busy`] count at its end or when dropped.
#[derive(Debug)]
struct Tracked<B> {
    inner: B,
    busy: Option<Busy>,
}

impl<B: HttpBody + Unpin> HttpBody for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) || this.inner.is_end_stream() {
            this.busy = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Expiry of one direction's pending operation.
#[derive(Debug)]
struct Deadline {
    sleep: Pin<Box<Sleep>>,
    /// The limit and the activity epoch the clock was started under.
    armed: Option<(Duration, u64)>,
}

impl Deadline {
    fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: None,
        }
    }

    /// Whether an operation pending under `limit` has now waited too long (starts the
    /// clock on the first call, and again whenever the limit or the epoch changes).
    fn expired(&mut self, cx: &mut Context<'_>, limit: Option<(Duration, u64)>) -> bool {
        let Some((after, _)) = limit else {
            self.armed = None;
            return false;
        };
        if self.armed != limit {
            self.sleep.as_mut().reset(Instant::now() + after);
            self.armed = limit;
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn timed_out(what: &str, limit: Option<(Duration, u64)>) -> io::Error {
    let secs = limit.map_or(0, |(d, _)| d.as_secs());
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} made no progress for {secs} s"),
    )
}

/// A TCP stream whose reads and writes fail with `TimedOut` once pending too long.
#[derive(Debug)]
struct TimedIo {
    io: TcpStream,
    activity: Arc<Activity>,
    limits: ConnLimits,
    read: Deadline,
    write: Deadline,
}

impl TimedIo {
    fn new(io: TcpStream, activity: Arc<Activity>, limits: ConnLimits) -> Self {
        Self {
            io,
            activity,
            limits,
            read: Deadline::new(),
            write: Deadline::new(),
        }
    }

    fn on_write<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.write.armed = None;
            return r;
        }
        let limit = Some((self.limits.idle_timeout, 0));
        if self.write.expired(cx, limit) {
            return Poll::Ready(Err(timed_out("writing the response", limit)));
        }
        Poll::Pending
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if r.is_ready() {
            this.read.armed = None;
            return r;
        }
        let limit = this.activity.read_limit(&this.limits);
        if this.read.expired(cx, limit) {
            return Poll::Ready(Err(timed_out("reading the request", limit)));
        }
        Poll::Pending
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.on_write(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.on_write(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.on_write(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves `router` on one connection's requests, keeping `activity` up to date.
fn tracked(
    router: Router,
    activity: Arc<Activity>,
) -> TowerToHyperService<
    impl tower::Service<
        Request<Incoming>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
    > + Clone,
> {
    TowerToHyperService::new(tower::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        let activity = activity.clone();
        async move {
            let busy = Busy::new(&activity, false);
            let req = req.map(|inner| {
                let busy = (!inner.is_end_stream()).then(|| Busy::new(&activity, true));
                Body::new(Tracked { inner, busy })
            });
            let resp = router.oneshot(req).await?;
            Ok(resp.map(|inner| {
                Body::new(Tracked {
                    inner,
                    busy: Some(busy),
                })
            }))
        }
    }))
}

/// The complete HTTP/1.1 response sent to a connection over `--max-connections`.
#[must_use]
pub fn over_capacity_response(max: usize) -> Vec<u8> {
    let limit = Limit::MaxConnections;
    let exceeded = Exceeded {
        limit,
        what: "the number of open connections with this one".to_owned(),
        value: max as u128 + 1,
        max: max as u64,
        hint: "retry shortly",
    };
    let body = json!({
        "type": "urn:arrayd:problem:limit-exceeded",
        "title": "Service Unavailable",
        "status": 503,
        "detail": exceeded.to_string(),
        "limit": limit,
        "flag": limit.flag(),
        "maximum": max,
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes the 503 and closes, reading what the client sent meanwhile so that the close
/// does not reset the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream, response: Arc<[u8]>) {
    let step = Duration::from_secs(1);
    let sent = tokio::time::timeout(step, async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(step, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Warns at most once per second, counting what it did not log.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    quiet: u64,
}

impl Throttle {
    /// Returns how many events this warning stands for, or `None` to stay quiet.
    fn tick(&mut self) -> Option<u64> {
        self.quiet += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.quiet))
    }
}

/// Accepts connections on `listener` and serves `router` until `shutdown` resolves, then
/// waits (up to `limits.drain`) for in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let refusal: Arc<[u8]> = over_capacity_response(limits.max_connections).into();
    let graceful = GracefulShutdown::new();
    let (mut refused, mut failed) = (Throttle::default(), Throttle::default());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    if let Some(n) = failed.tick() {
                        tracing::warn!(error = %e, failures = n, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Some(n) = refused.tick() {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    refused = n,
                    "at --max-connections: answering new connections 503"
                );
            }
            if let Ok(p) = refusing.clone().try_acquire_owned() {
                let response = refusal.clone();
                tokio::spawn(async move {
                    refuse(stream, response).await;
                    drop(p);
                });
            }
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(TimedIo::new(stream, activity.clone(), limits));
        let conn = builder
            .serve_connection(io, tracked(router.clone(), activity))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = limits.drain.as_secs(),
            "connections still open after the shutdown grace period; closing them"
        );
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; warns when `max_connections` plus
/// headroom does not fit.
pub fn raise_fd_limit(max_connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let old = getrlimit(Resource::Nofile);
    if old.current != old.maximum {
        let raised = rustix::process::Rlimit {
            current: old.maximum,
            maximum: old.maximum,
        };
        // An unlimited hard limit is capped by fs.nr_open (2^20 by default).
        let capped = rustix::process::Rlimit {
            current: Some(1 << 20),
            maximum: old.maximum,
        };
        if let Err(e) =
            setrlimit(Resource::Nofile, raised).or_else(|_| setrlimit(Resource::Nofile, capped))
        {
            tracing::debug!(error = %e, "cannot raise RLIMIT_NOFILE");
        }
    }
    let Some(soft) = getrlimit(Resource::Nofile).current else {
        return;
    };
    if old.current != Some(soft) {
        tracing::info!(from = old.current, to = soft, "raised the open-file limit");
    }
    let needed = (max_connections as u64).saturating_add(FD_HEADROOM);
    if needed > soft {
        tracing::warn!(
            max_connections,
            fd_limit = soft,
            "--max-connections + {FD_HEADROOM} exceeds the open-file limit; \
             raise `ulimit -n` or lower --max-connections"
        );
    } else {
        tracing::debug!(fd_limit = soft, "open-file limit");
    }
}
