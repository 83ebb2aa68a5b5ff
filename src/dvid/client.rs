//! The upstream HTTP client for DVID (`spec/dvid.md` §6; issue 6): one pooled reqwest
//! client (rustls + ring) for the whole server, and per upstream server a concurrency
//! cap (semaphore) and a [`Breaker`]. Every call has a timeout, is retried with
//! exponential backoff on 5xx, timeouts and connection failures (never on 4xx), and is
//! recorded in the upstream metrics. `Authorization: Bearer` comes from the config's
//! `token` or `ARRAYD_DVID_TOKEN`; tokens are [`Secret`]s, so they are never printed,
//! and they travel only in a header, so no URL or error message contains them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::breaker::{Admission, Breaker};
use super::error::DvidError;
use crate::metrics::Metrics;

/// The environment variable holding the default DVID bearer token.
pub const TOKEN_ENV: &str = "ARRAYD_DVID_TOKEN";

/// Characters escaped in one URL path segment (UUID references keep `:` and `~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':');

/// `s` escaped for use as one URL path segment.
#[must_use]
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A credential: printable only as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a non-empty token.
    #[must_use]
    pub fn new(token: &str) -> Option<Self> {
        let t = token.trim();
        (!t.is_empty()).then(|| Self(Arc::from(t)))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Secret::new(&s).ok_or_else(|| serde::de::Error::custom("must be a non-empty token"))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Tunables of the pool (the defaults suit production; tests use them too).
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Requests in flight per upstream server.
    pub max_concurrency: usize,
    /// Retries after the first attempt (transient failures only).
    pub retries: u32,
    /// Wait before the first retry; doubles per retry.
    pub backoff: Duration,
    /// Consecutive failed calls that open the circuit.
    pub failure_threshold: u32,
    /// First cool-down of an open circuit.
    pub cooldown: Duration,
    /// Longest cool-down while probes keep failing.
    pub max_cooldown: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_concurrency: 8,
            retries: 2,
            backoff: Duration::from_millis(50),
            failure_threshold: 5,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(30),
        }
    }
}

/// One upstream server: its concurrency cap and circuit breaker.
#[derive(Debug)]
struct Upstream {
    origin: String,
    permits: Semaphore,
    breaker: Breaker,
}

/// The shared client pool: one HTTP client, and per server origin one concurrency cap
/// and one circuit breaker.
#[derive(Debug)]
pub struct DvidPool {
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    env_token: Option<Secret>,
    options: PoolOptions,
    upstreams: Mutex<HashMap<String, Arc<Upstream>>>,
}

impl DvidPool {
    /// A pool whose default token is `env_token`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (TLS set-up).
    pub fn new(
        metrics: Arc<Metrics>,
        env_token: Option<&str>,
        options: PoolOptions,
    ) -> Result<Self, String> {
        crate::init_tls();
        let http = reqwest::Client::builder()
            .user_agent(concat!("arrayd/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the DVID HTTP client: {e}"))?;
        Ok(Self {
            http,
            metrics,
            env_token: env_token.and_then(Secret::new),
            options,
            upstreams: Mutex::new(HashMap::new()),
        })
    }

    /// A pool with default options and the token from `ARRAYD_DVID_TOKEN`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn from_env(metrics: Arc<Metrics>) -> Result<Self, String> {
        let token = std::env::var(TOKEN_ENV).ok();
        Self::new(metrics, token.as_deref(), PoolOptions::default())
    }

    /// A client for `server` (`http(s)://host:port[/prefix]`, scheme defaults to http)
    /// with `token` (else the pool's default) and a per-request `timeout`.
    ///
    /// # Errors
    /// A server string that is not a usable URL.
    pub fn client(
        &self,
        server: &str,
        token: Option<&Secret>,
        timeout: Duration,
    ) -> Result<DvidClient, String> {
        let raw = server.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let url = reqwest::Url::parse(&with_scheme)
            .map_err(|e| format!("{raw:?} is not a DVID server URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "{raw:?} must be an http:// or https:// server address"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "credentials do not belong in the server URL; use `token` or ARRAYD_DVID_TOKEN"
                    .into(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{raw:?} must be a plain server address without ?query or #fragment"
            ));
        }
        let origin = url.origin().ascii_serialization();
        let upstream = {
            let mut map = self
                .upstreams
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            map.entry(origin.clone())
                .or_insert_with(|| {
                    Arc::new(Upstream {
                        origin,
                        permits: Semaphore::new(self.options.max_concurrency.max(1)),
                        breaker: Breaker::new(
                            self.options.failure_threshold,
                            self.options.cooldown,
                            self.options.max_cooldown,
                        ),
                    })
                })
                .clone()
        };
        Ok(DvidClient {
            http: self.http.clone(),
            upstream,
            base: url.as_str().trim_end_matches('/').to_owned(),
            token: token.or(self.env_token.as_ref()).cloned(),
            timeout,
            options: self.options,
            metrics: self.metrics.clone(),
        })
    }
}

/// A client for one DVID server with one token and timeout (cheap to clone).
#[derive(Debug, Clone)]
pub struct DvidClient {
    http: reqwest::Client,
    upstream: Arc<Upstream>,
    base: String,
    token: Option<Secret>,
    timeout: Duration,
    options: PoolOptions,
    metrics: Arc<Metrics>,
}

/// Marks a probe abandoned if its call is dropped before recording an outcome.
struct Ticket<'a> {
    breaker: &'a Breaker,
    admission: Admission,
    done: bool,
}

impl Ticket<'_> {
    fn finish(mut self, healthy: bool) {
        self.breaker.record(self.admission, healthy, Instant::now());
        self.done = true;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.done && self.admission == Admission::Probe {
            self.breaker.abandon(Instant::now());
        }
    }
}

impl DvidClient {
    /// The server's base URL (no trailing slash).
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The full URL of `path` (which starts with `/api/`).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path` and returns the body of a 2xx answer.
    ///
    /// # Errors
    /// [`DvidError`] after retries; [`DvidError::CircuitOpen`] without calling.
    pub async fn get(&self, path: &str) -> Result<Bytes, DvidError> {
        let url = self.url(path);
        let admission = match self.upstream.breaker.admit(Instant::now()) {
            Ok(a) => a,
            Err(wait) => {
                let e = DvidError::CircuitOpen {
                    url: self.upstream.origin.clone(),
                    retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                };
                self.metrics
                    .observe_upstream(&self.upstream.origin, &e.outcome(), 0.0);
                return Err(e);
            }
        };
        let ticket = Ticket {
            breaker: &self.upstream.breaker,
            admission,
            done: false,
        };
        let mut attempt = 0u32;
        loop {
            let start = Instant::now();
            let result = self.attempt(&url).await;
            let outcome = result
                .as_ref()
                .map_or_else(DvidError::outcome, |_| "ok".into());
            self.metrics.observe_upstream(
                &self.upstream.origin,
                &outcome,
                start.elapsed().as_secs_f64(),
            );
            match result {
                Err(e) if e.is_transient() && attempt < self.options.retries => {
                    tracing::debug!(error = %e, attempt, "retrying DVID request");
                    tokio::time::sleep(self.options.backoff * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    ticket.finish(!e.is_transient());
                    return Err(e);
                }
                Ok(body) => {
                    ticket.finish(true);
                    return Ok(body);
                }
            }
        }
    }

    /// GETs `path` and parses the JSON answer.
    ///
    /// # Errors
    /// As [`DvidClient::get`], or a body that is not JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, DvidError> {
        let body = self.get(path).await?;
        serde_json::from_slice(&body).map_err(|e| DvidError::Body {
            url: self.url(path),
            detail: format!("expected JSON: {e}"),
        })
    }

    async fn attempt(&self, url: &str) -> Result<Bytes, DvidError> {
        let _permit = self
            .upstream
            .permits
            .acquire()
            .await
            .map_err(|e| DvidError::Connect {
                url: url.to_owned(),
                detail: e.to_string(),
            })?;
        let call = async {
            let mut req = self.http.get(url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t.expose());
            }
            let resp = req.send().await?;
            let status = resp.status();
            Ok::<_, reqwest::Error>((status, resp.bytes().await?))
        };
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(DvidError::Timeout {
                url: url.to_owned(),
                timeout_ms,
            }),
            Ok(Err(e)) if e.is_timeout() => Err(DvidError::Timeout {
                url: url.to_owned(),
                timeout_ms,
            }),
            Ok(Err(e)) if e.is_body() || e.is_decode() => Err(DvidError::Body {
                url: url.to_owned(),
                detail: format!("the body was cut short ({})", causes(&e)),
            }),
            Ok(Err(e)) if e.is_connect() => Err(DvidError::Connect {
                url: url.to_owned(),
                detail: causes(&e),
            }),
            // The request reached DVID, which closed the connection without an answer.
            Ok(Err(e)) => Err(DvidError::Body {
                url: url.to_owned(),
                detail: format!(
                    "it closed the connection before a complete answer ({})",
                    causes(&e)
                ),
            }),
            Ok(Ok((status, body))) if status.is_success() => Ok(body),
            Ok(Ok((status, body))) => Err(DvidError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                body: self.body_text(&body),
            }),
        }
    }

    /// The start of an error body, with any copy of the token removed.
    fn body_text(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut short: String = text.trim().chars().take(300).collect();
        if let Some(t) = &self.token {
            short = short.replace(t.expose(), "<redacted>");
        }
        short
    }
}

/// The causes of a transport error, innermost last, without the URL.
fn causes(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    if parts.is_empty() {
        "the request failed".into()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DvidPool {
        DvidPool::new(
            Arc::new(Metrics::new()),
            Some("envtok"),
            PoolOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn server_urls_are_normalized_and_checked() {
        let p = pool();
        let t = Duration::from_secs(1);
        let c = p.client("emdata.example:8000/", None, t).unwrap();
        assert_eq!(c.base(), "http://emdata.example:8000");
        assert_eq!(
            c.url("/api/server/info"),
            "http://emdata.example:8000/api/server/info"
        );
        let c = p.client("https://h.example/dvid/", None, t).unwrap();
        assert_eq!(c.base(), "https://h.example/dvid");
        assert!(p.client("ftp://h.example", None, t).is_err());
        assert!(p.client("http://u:pw@h.example", None, t).is_err());
        assert!(p.client("http://h.example/?x=1", None, t).is_err());
        assert!(p.client("http://", None, t).is_err());
        // One upstream (breaker, permits) per origin.
        let a = p.client("http://h.example:1", None, t).unwrap();
        let own = Secret::new("own").unwrap();
        let b = p.client("http://h.example:1/x", Some(&own), t).unwrap();
        assert!(Arc::ptr_eq(&a.upstream, &b.upstream));
        assert_eq!(a.token, Secret::new("envtok"));
        assert_eq!(b.token, Secret::new("own"));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("a b/c:master~1"), "a%20b%2Fc:master~1");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new(" tok123 ").unwrap();
        assert_eq!(s.expose(), "tok123");
        assert!(!format!("{s:?}").contains("tok123"));
        assert!(Secret::new("  ").is_none());
        let c = pool()
            .client("h.example", Some(&s), Duration::from_secs(1))
            .unwrap();
        assert!(!format!("{c:?}").contains("tok123"));
        assert_eq!(c.body_text(b"  bad tok123 here\n"), "bad <redacted> here");
    }
}
