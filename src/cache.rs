//! The one shared chunk cache: moka, weighted by bytes (`--cache-size`), single-flight
//! per key, failures never stored (`spec/api.md`, "Evaluation and the cache").

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use moka::future::Cache;
use moka::notification::RemovalCause;

use std::time::Duration;

use moka::Expiry;

use crate::array::{ConfigHash, Freshness, Metadata};
use crate::eval::EvalError;
use crate::geometry::Coord;
use crate::metrics::Metrics;
use crate::volume::Volume;

/// What a cached chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Decoded voxels of the array's output.
    Data,
    /// Encoded bytes for a view, named by the view's format (`zarr3-zstd`, `cseg`, ...).
    Encoded(&'static str),
}

/// Identifies one chunk: the resolved config, the multiscale level, the variant and
/// the grid cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    /// Hash of the array's fully resolved config.
    pub hash: ConfigHash,
    /// Multiscale level (0 = the array itself).
    pub scale: u32,
    /// Decoded data or an encoding of it.
    pub variant: Variant,
    /// Grid cell indices.
    pub idx: Coord,
    /// Seconds the entry may live (data that can change upstream), `None` = until evicted.
    pub ttl_secs: Option<u32>,
}

impl ChunkKey {
    /// The key of chunk `idx` of an array: its config hash, and a time to live when the
    /// array's data may change upstream ([`Freshness::MaxAge`]).
    #[must_use]
    pub fn of(meta: &Metadata, scale: u32, variant: Variant, idx: Coord) -> Self {
        Self {
            hash: meta.hash,
            scale,
            variant,
            idx,
            ttl_secs: match meta.freshness {
                Freshness::MaxAge(s) => Some(s),
                Freshness::Revalidate | Freshness::Immutable => None,
            },
        }
    }
}

/// Expires entries whose key carries a time to live.
struct KeyTtl;

impl Expiry<ChunkKey, Cached> for KeyTtl {
    fn expire_after_create(
        &self,
        key: &ChunkKey,
        _value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        key.ttl_secs.map(|s| Duration::from_secs(u64::from(s)))
    }
}

/// A cached value.
#[derive(Debug, Clone)]
pub enum Cached {
    /// Decoded voxels.
    Volume(Arc<Volume>),
    /// Encoded bytes.
    Bytes(Bytes),
}

impl Cached {
    fn weight(&self) -> u32 {
        let bytes = match self {
            Cached::Volume(v) => v.nbytes(),
            Cached::Bytes(b) => b.len(),
        };
        // A fixed per-entry overhead keeps many tiny chunks from escaping the budget.
        u32::try_from(bytes + 256).unwrap_or(u32::MAX)
    }
}

/// The byte-bounded LRU chunk cache shared by every array and view.
#[derive(Debug, Clone)]
pub struct ChunkCache {
    inner: Cache<ChunkKey, Cached>,
    metrics: Arc<Metrics>,
}

impl ChunkCache {
    /// A cache holding at most `max_bytes` of chunk data.
    #[must_use]
    pub fn new(max_bytes: u64, metrics: Arc<Metrics>) -> Self {
        let evictions = metrics.cache_evictions.clone();
        let inner = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &ChunkKey, v: &Cached| v.weight())
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    evictions.inc();
                }
            })
            .expire_after(KeyTtl)
            .support_invalidation_closures()
            .build();
        Self { inner, metrics }
    }

    /// The cached value for `key`, or the result of `init`, computed once however many
    /// callers ask at the same time. Errors are returned to every waiter and not stored.
    ///
    /// # Errors
    /// The error `init` returned.
    pub async fn get_or_compute<F>(&self, key: ChunkKey, init: F) -> Result<Cached, EvalError>
    where
        F: Future<Output = Result<Cached, EvalError>>,
    {
        let entry = self
            .inner
            .entry(key)
            .or_try_insert_with(init)
            .await
            .map_err(|e| (*e).clone())?;
        if entry.is_fresh() {
            self.metrics.cache_misses.inc();
        } else {
            self.metrics.cache_hits.inc();
        }
        Ok(entry.into_value())
    }

    /// Drops every chunk of the config with `hash` (after a replace or delete).
    pub fn invalidate_config(&self, hash: ConfigHash) {
        if let Err(e) = self.inner.invalidate_entries_if(move |k, _| k.hash == hash) {
            tracing::warn!(error = %e, "cache invalidation failed; stale chunks age out instead");
        }
    }

    /// Applies pending evictions and returns (bytes, entries) held now.
    pub async fn usage(&self) -> (u64, u64) {
        self.inner.run_pending_tasks().await;
        (self.inner.weighted_size(), self.inner.entry_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    fn key(i: i64) -> ChunkKey {
        ChunkKey {
            hash: ConfigHash([1; 16]),
            scale: 0,
            variant: Variant::Data,
            idx: Coord::from([i]),
            ttl_secs: None,
        }
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_values_are() {
        let cache = ChunkCache::new(1 << 20, Arc::new(Metrics::new()));
        let err = cache
            .get_or_compute(key(0), async { Err(EvalError::Storage("disk".into())) })
            .await;
        assert!(matches!(err, Err(EvalError::Storage(_))));
        let ok = cache
            .get_or_compute(key(0), async {
                Ok(Cached::Volume(Arc::new(Volume::zeros(DType::U8, &[4]))))
            })
            .await
            .unwrap();
        assert!(matches!(ok, Cached::Volume(v) if v.len() == 4));
        let again = cache
            .get_or_compute(key(0), async {
                Err(EvalError::Storage("must not run".into()))
            })
            .await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn keys_with_a_ttl_expire() {
        let cache = ChunkCache::new(1 << 20, Arc::new(Metrics::new()));
        let mut k = key(7);
        k.ttl_secs = Some(1);
        let fill = |v: u8| async move {
            Ok(Cached::Volume(Arc::new(
                Volume::full(DType::U8, &[1], &v.to_string()).unwrap(),
            )))
        };
        cache.get_or_compute(k.clone(), fill(1)).await.unwrap();
        let same = cache.get_or_compute(k.clone(), fill(2)).await.unwrap();
        assert!(matches!(same, Cached::Volume(v) if v.to_le_bytes() == [1]));
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let fresh = cache.get_or_compute(k, fill(3)).await.unwrap();
        assert!(
            matches!(fresh, Cached::Volume(v) if v.to_le_bytes() == [3]),
            "an expired entry was served"
        );
    }

    #[tokio::test]
    async fn stays_within_budget() {
        let budget = 64 * 1024;
        let cache = ChunkCache::new(budget, Arc::new(Metrics::new()));
        for i in 0..64 {
            cache
                .get_or_compute(key(i), async {
                    Ok(Cached::Volume(Arc::new(Volume::zeros(DType::U8, &[4096]))))
                })
                .await
                .unwrap();
        }
        let (bytes, entries) = cache.usage().await;
        assert!(bytes <= budget, "{bytes} > {budget}");
        assert!(entries < 64 && entries > 0, "{entries}");
    }
}
