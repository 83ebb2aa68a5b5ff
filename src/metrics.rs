//! Prometheus metrics (`spec/api.md`, "Common behaviour"): requests by matched route and
//! status, latency, cache hits/misses/bytes/evictions, per-type evaluation time and
//! upstream (DVID) latency and errors. Names are `arrayd_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// Labels of an HTTP request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route template (never the raw URI).
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Response status code.
    pub status: u16,
}

/// A label set of one string.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// The matched route template.
    pub route: String,
}

/// Labels of an array-type evaluation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// The config `type`.
    pub r#type: String,
}

/// Labels of an upstream call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// The upstream server (scheme://host:port).
    pub upstream: String,
    /// `ok`, or the error kind.
    pub outcome: String,
}

/// Labels of a storage request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StorageLabels {
    /// The store (`s3://bucket`, a base URL).
    pub store: String,
    /// `ok`, `not_found`, `error` or `timeout`.
    pub outcome: String,
}

type HistFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route, method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// HTTP latency by route.
    pub request_seconds: HistFamily<RouteLabel>,
    /// Chunk cache hits.
    pub cache_hits: Counter,
    /// Chunk cache misses (a chunk was evaluated).
    pub cache_misses: Counter,
    /// Chunks evicted for size.
    pub cache_evictions: Counter,
    /// Bytes held by the cache (set on scrape).
    pub cache_bytes: Gauge,
    /// Entries held by the cache (set on scrape).
    pub cache_entries: Gauge,
    /// Evaluations by array type.
    pub evaluations: Family<TypeLabel, Counter>,
    /// Evaluation time by array type.
    pub evaluation_seconds: HistFamily<TypeLabel>,
    /// Compute jobs refused because the pool stayed saturated.
    pub overloaded: Counter,
    /// Upstream requests by server and outcome.
    pub upstream_requests: Family<UpstreamLabels, Counter>,
    /// Upstream latency by server and outcome.
    pub upstream_seconds: HistFamily<UpstreamLabels>,
    /// Bytes read from storage (local files or remote stores).
    pub storage_read_bytes: Counter,
    /// Remote storage requests by store and outcome.
    pub storage_requests: Family<StorageLabels, Counter>,
    /// Remote storage latency by store and outcome.
    pub storage_seconds: HistFamily<StorageLabels>,
    /// Bytes of voxels written into stored chunks.
    pub write_bytes: Counter,
    /// Stored chunks written.
    pub write_chunks: Counter,
    /// Time of each acknowledged ROI write (all chunks durable).
    pub write_seconds: Histogram,
    /// Chunk writes that waited for another writer of the same chunk.
    pub write_lock_waits: Counter,
    /// Time those chunk writes waited.
    pub write_lock_wait_seconds: Histogram,
}

/// Registers `metric` as `name` and returns it.
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("arrayd");
        let r = &mut registry;
        macro_rules! registered {
            ($($field:ident: $name:literal, $help:literal, $init:expr;)*) => {
                Self { $($field: register(r, $name, $help, $init),)* registry }
            };
        }
        registered! {
            storage_requests: "storage_requests", "Remote storage requests by store and outcome",
                Family::<StorageLabels, Counter>::default();
            storage_seconds: "storage_request_duration_seconds", "Remote storage latency by store and outcome",
                Family::new_with_constructor(latency_histogram);
            storage_read_bytes: "storage_read_bytes", "Bytes read from storage (local files or remote stores)",
                Counter::default();
            requests: "http_requests", "HTTP requests by matched route, method and status",
                Family::<RequestLabels, Counter>::default();
            request_seconds: "http_request_duration_seconds", "HTTP request latency by matched route",
                Family::new_with_constructor(latency_histogram);
            cache_hits: "cache_hits", "Chunk cache hits",
                Counter::default();
            cache_misses: "cache_misses", "Chunk cache misses (chunks evaluated)",
                Counter::default();
            cache_evictions: "cache_evictions", "Chunks evicted to stay within --cache-size",
                Counter::default();
            cache_bytes: "cache_bytes", "Bytes held by the chunk cache",
                Gauge::default();
            cache_entries: "cache_entries", "Chunks held by the chunk cache",
                Gauge::default();
            evaluations: "evaluations", "Array node evaluations by config type",
                Family::<TypeLabel, Counter>::default();
            evaluation_seconds: "evaluation_duration_seconds", "Array node evaluation time by config type",
                Family::new_with_constructor(latency_histogram);
            overloaded: "overloaded", "Compute jobs refused with 503 because the pool stayed saturated",
                Counter::default();
            upstream_requests: "upstream_requests", "Upstream (DVID) requests by server and outcome",
                Family::<UpstreamLabels, Counter>::default();
            write_bytes: "write_bytes", "Bytes of voxels written into stored chunks",
                Counter::default();
            write_chunks: "write_chunks", "Stored chunks written",
                Counter::default();
            write_seconds: "write_duration_seconds", "Time of each acknowledged ROI write (every chunk durable)",
                latency_histogram();
            write_lock_waits: "write_lock_waits", "Chunk writes that waited for another writer of the same chunk",
                Counter::default();
            write_lock_wait_seconds: "write_lock_wait_seconds", "Time chunk writes waited for the chunk's lock",
                latency_histogram();
            upstream_seconds: "upstream_request_duration_seconds", "Upstream (DVID) latency by server and outcome",
                Family::new_with_constructor(latency_histogram);
        }
    }

    /// Records one evaluation of an array node.
    pub fn observe_evaluation(&self, type_name: &str, seconds: f64) {
        let label = TypeLabel {
            r#type: type_name.to_owned(),
        };
        self.evaluations.get_or_create(&label).inc();
        self.evaluation_seconds
            .get_or_create(&label)
            .observe(seconds);
    }

    /// Number of evaluations recorded for `type_name`.
    #[must_use]
    pub fn evaluation_count(&self, type_name: &str) -> u64 {
        let label = TypeLabel {
            r#type: type_name.to_owned(),
        };
        self.evaluations.get(&label).map_or(0, |c| c.get())
    }

    /// Records one upstream call.
    pub fn observe_upstream(&self, upstream: &str, outcome: &str, seconds: f64) {
        let labels = UpstreamLabels {
            upstream: upstream.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.upstream_requests.get_or_create(&labels).inc();
        self.upstream_seconds
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Records one remote storage request.
    pub fn observe_storage(&self, store: &str, outcome: &str, seconds: f64) {
        let labels = StorageLabels {
            store: store.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.storage_requests.get_or_create(&labels).inc();
        self.storage_seconds.get_or_create(&labels).observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
