//! Remote stores (`s3://`, `gs://`, `http(s)://`) through the `object_store` crate, as
//! zarrs storage. Only URLs under an `--allow-remote` prefix are ever opened (no request
//! goes anywhere else); credentials come from each cloud's standard environment
//! (`AWS_*`, `GOOGLE_*`) or `--store-option`, never from a config. Reads are ranged,
//! bounded per store, retried with backoff by `object_store`, and given up on within a
//! bounded time; redirects are never followed.
//!
//! Writes (`s3://` and `gs://` only) are one object PUT per key ([`write`]).
//!
//! A direct adapter rather than `zarrs_object_store`: through zarrs' async-to-sync
//! adapter that crate answers every read with a HEAD and then a GET; this one sends one
//! GET (a ranged GET for partial reads).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::client::{HttpClient, HttpConnector, HttpError, HttpErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig,
};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
};

use crate::metrics::Metrics;

mod write;

/// One request's time limit; with retries a read gives up within about [`GIVE_UP`].
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);
/// Longest a read (retries included) may take before it is answered 504.
pub const GIVE_UP: Duration = Duration::from_secs(25);
/// Requests in flight per store.
const PER_STORE: usize = 16;

/// Tags that classify a failed read in its message (zarrs carries only text).
pub const TAG_TIMEOUT: &str = "[remote:timeout]";
/// The store could not be reached.
pub const TAG_UNAVAILABLE: &str = "[remote:unavailable]";
/// The store answered with an error or something unreadable.
pub const TAG_BAD: &str = "[remote:bad-gateway]";

/// Is `file_name` a URL rather than a path under the data root?
#[must_use]
pub fn is_url(file_name: &str) -> bool {
    file_name.contains("://")
}

/// The remote stores this server may open, shared by every config.
#[derive(Debug)]
pub struct Remotes {
    allowed: Vec<String>,
    options: Vec<(String, String)>,
    stores: Mutex<HashMap<String, Opened>>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Clone)]
struct Opened {
    store: Arc<dyn ObjectStore>,
    permits: Arc<Semaphore>,
}

/// Does `url` lie under `prefix` (at a path boundary)?
fn under(url: &str, prefix: &str) -> bool {
    url.strip_prefix(prefix)
        .is_some_and(|rest| prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
}

impl Remotes {
    /// Remote access limited to `allowed` URL prefixes, with extra `object_store`
    /// options (`aws_endpoint=...`) applied over the environment.
    #[must_use]
    pub fn new(
        allowed: Vec<String>,
        options: Vec<(String, String)>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            allowed: allowed.into_iter().filter(|p| !p.is_empty()).collect(),
            options,
            stores: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Opens the container at `url` (e.g. `s3://bucket/a/b.zarr`).
    ///
    /// # Errors
    /// A reason naming the allowed prefixes, or why the URL cannot be used. Nothing is
    /// sent anywhere before the URL is allowed.
    pub fn open(&self, url: &str) -> Result<RemoteStore, String> {
        let url = url.trim_end_matches('/');
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(
                "credentials in URLs are refused; give them in the environment (AWS_*, GOOGLE_*)"
                    .into(),
            );
        }
        if !matches!(scheme, "s3" | "gs" | "http" | "https") || authority.is_empty() {
            return Err(format!(
                "{url:?} is not a supported store URL; use s3://bucket/path, gs://bucket/path or http(s)://host/path"
            ));
        }
        if !self.allowed.iter().any(|p| under(url, p)) {
            let allowed = if self.allowed.is_empty() {
                "none (start the server with --allow-remote PREFIX)".to_owned()
            } else {
                self.allowed.join(", ")
            };
            return Err(format!(
                "{url} is not under an allowed remote prefix; allowed: {allowed}"
            ));
        }
        let (id, prefix) = match scheme {
            "http" | "https" => (url.to_owned(), ""),
            _ => (format!("{scheme}://{authority}"), path),
        };
        let opened = self.store(&id, scheme, authority)?;
        Ok(RemoteStore {
            id,
            prefix: ObjectPath::from(prefix),
            opened,
            handle: Handle::try_current()
                .map_err(|_| "remote stores need the server's runtime".to_owned())?,
            metrics: self.metrics.clone(),
        })
    }

    fn store(&self, id: &str, scheme: &str, authority: &str) -> Result<Opened, String> {
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| "the remote store table is poisoned".to_owned())?;
        if let Some(o) = stores.get(id) {
            return Ok(o.clone());
        }
        let store = self
            .build(id, scheme, authority)
            .map_err(|e| format!("cannot configure the store {id}: {e}"))?;
        let opened = Opened {
            store,
            permits: Arc::new(Semaphore::new(PER_STORE)),
        };
        stores.insert(id.to_owned(), opened.clone());
        Ok(opened)
    }

    fn build(
        &self,
        id: &str,
        scheme: &str,
        bucket: &str,
    ) -> object_store::Result<Arc<dyn ObjectStore>> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: GIVE_UP - REQUEST_TIMEOUT - Duration::from_secs(2),
        };
        let options = ClientOptions::new().with_allow_http(true);
        let extra = |prefix: &'static str| {
            self.options
                .iter()
                .filter(move |(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
        };
        Ok(match scheme {
            "s3" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (k, v) in extra("aws_") {
                    b = b.with_config(k.parse()?, v);
                }
                Arc::new(
                    b.with_client_options(options)
                        .with_retry(retry)
                        .with_http_connector(NoRedirects)
                        .build()?,
                )
            }
            "gs" => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket);
                for (k, v) in extra("google_") {
                    b = b.with_config(k.parse()?, v);
                }
                Arc::new(
                    b.with_client_options(options)
                        .with_retry(retry)
                        .with_http_connector(NoRedirects)
                        .build()?,
                )
            }
            _ => Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(id)
                    .with_client_options(options)
                    .with_retry(retry)
                    .with_http_connector(NoRedirects)
                    .build()?,
            ),
        })
    }
}

/// HTTP clients that never follow a redirect (an allowed host could otherwise send
/// requests anywhere), with bounded timeouts.
#[derive(Debug)]
struct NoRedirects;

impl HttpConnector for NoRedirects {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map(HttpClient::new)
            .map_err(|e| object_store::Error::Generic {
                store: "http",
                source: Box::new(e),
            })
    }
}

/// A container in a remote store, as read-only zarrs storage. Its blocking methods must
/// run off the async runtime (the blocking pool), as every storage read here does.
#[derive(Debug, Clone)]
pub struct RemoteStore {
    id: String,
    prefix: ObjectPath,
    opened: Opened,
    handle: Handle,
    metrics: Arc<Metrics>,
}

/// How a failed request is reported: tagged for [`crate::eval::EvalError::from_storage`].
fn classify(e: &object_store::Error) -> &'static str {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<HttpError>() {
            return match h.kind() {
                HttpErrorKind::Timeout => TAG_TIMEOUT,
                HttpErrorKind::Connect => TAG_UNAVAILABLE,
                _ => TAG_BAD,
            };
        }
        cur = err.source();
    }
    TAG_BAD
}

impl RemoteStore {
    /// The store's identity for metrics and messages (`s3://bucket`, a base URL).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.as_ref().is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Runs one request: bounded per store and in time, counted, classified.
    fn call<T>(
        &self,
        key: &dyn std::fmt::Display,
        what: impl std::future::Future<Output = object_store::Result<T>>,
        size: impl Fn(&T) -> u64,
    ) -> Result<Option<T>, StorageError> {
        let start = Instant::now();
        let permits = self.opened.permits.clone();
        let result = self.handle.block_on(async move {
            let _permit = permits.acquire_owned().await;
            tokio::time::timeout(GIVE_UP, what).await
        });
        let (outcome, out) = match result {
            Ok(Ok(v)) => {
                self.metrics.storage_read_bytes.inc_by(size(&v));
                ("ok", Ok(Some(v)))
            }
            Ok(Err(object_store::Error::NotFound { .. })) => ("not_found", Ok(None)),
            Ok(Err(e)) => {
                let tag = classify(&e);
                let text = format!("{tag} {} {key}: {}", self.id, redact(&e.to_string()));
                ("error", Err(StorageError::Other(text)))
            }
            Err(_) => (
                "timeout",
                Err(StorageError::Other(format!(
                    "{TAG_TIMEOUT} {} {key}: no answer within {} s",
                    self.id,
                    GIVE_UP.as_secs()
                ))),
            ),
        };
        self.metrics
            .observe_storage(&self.id, outcome, start.elapsed().as_secs_f64());
        out
    }

    fn range(&self, key: &StoreKey, range: GetRange) -> Result<Option<Bytes>, StorageError> {
        let store = self.opened.store.clone();
        let path = self.path(key.as_str());
        self.call(
            key,
            async move {
                let options = GetOptions {
                    range: Some(range),
                    ..GetOptions::default()
                };
                store.get_opts(&path, options).await?.bytes().await
            },
            |b| b.len() as u64,
        )
    }
}

/// Drops anything that looks like a signature or credential from an upstream message.
fn redact(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            if [
                "signature",
                "credential",
                "x-amz-",
                "token",
                "secret",
                "key=",
            ]
            .iter()
            .any(|s| lower.contains(s))
            {
                "[redacted]"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn get_range(range: &ByteRange) -> GetRange {
    match *range {
        ByteRange::FromStart(offset, None) => GetRange::Offset(offset),
        ByteRange::FromStart(offset, Some(len)) => GetRange::Bounded(Range {
            start: offset,
            end: offset.saturating_add(len),
        }),
        ByteRange::Suffix(len) => GetRange::Suffix(len),
    }
}

impl ReadableStorageTraits for RemoteStore {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        let store = self.opened.store.clone();
        let path = self.path(key.as_str());
        self.call(
            key,
            async move { store.get(&path).await?.bytes().await },
            |b| b.len() as u64,
        )
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let mut out = Vec::new();
        for range in byte_ranges {
            match self.range(key, get_range(&range))? {
                Some(bytes) => out.push(Ok(bytes)),
                None => return Ok(None),
            }
        }
        Ok(Some(Box::new(out.into_iter())))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        let store = self.opened.store.clone();
        let path = self.path(key.as_str());
        self.call(
            key,
            async move { store.head(&path).await.map(|m| m.size) },
            |_| 0,
        )
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_at_path_boundaries() {
        assert!(under("s3://bkt/a.zarr", "s3://bkt"));
        assert!(under("s3://bkt", "s3://bkt"));
        assert!(!under("s3://bkt-evil/a.zarr", "s3://bkt"));
        assert!(under("http://h:1/x/y.zarr", "http://h:1/x/"));
        assert!(!under("http://h:1/xy.zarr", "http://h:1/x"));
    }

    #[tokio::test]
    async fn urls_outside_every_prefix_are_refused_before_any_request() {
        let r = Remotes::new(vec!["s3://ok".into()], vec![], Arc::new(Metrics::new()));
        let e = r.open("s3://other/a.zarr").unwrap_err();
        assert!(e.contains("allowed: s3://ok"), "{e}");
        let e = r.open("http://user:pw@h/a.zarr").unwrap_err();
        assert!(e.contains("credentials in URLs"), "{e}");
        assert!(!e.contains("pw"));
        assert!(r.open("ftp://ok/a").is_err());
        let none = Remotes::new(vec![], vec![], Arc::new(Metrics::new()));
        assert!(
            none.open("s3://ok/a")
                .unwrap_err()
                .contains("--allow-remote")
        );
        assert!(
            r.open("s3://ok/a.zarr").is_ok(),
            "configuring sends nothing"
        );
    }

    #[test]
    fn secrets_are_redacted_from_messages() {
        let t = redact("GET http://h/x?X-Amz-Signature=abc&X-Amz-Credential=AKIA failed");
        assert!(!t.contains("abc") && !t.contains("AKIA"), "{t}");
        assert!(t.contains("failed"));
    }
}
