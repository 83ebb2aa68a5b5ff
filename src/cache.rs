//! The one shared chunk cache: moka, weighted by bytes (`--cache-size`), single-flight
//! per key, failures never stored (`spec/api.md`, "Evaluation and the cache").

use std::future::Future;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use moka::future::Cache;
use moka::notification::RemovalCause;

use std::time::Duration;

use moka::Expiry;
use xxhash_rust::xxh3::xxh3_64;

use crate::array::{ConfigHash, Freshness, Metadata};
use crate::eval::EvalError;
use crate::geometry::Coord;
use crate::metrics::Metrics;
use crate::volume::Volume;

/// Names an encoding of chunks (chosen by whoever encodes: `zarr3-zstd`, `cseg`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodingId(pub &'static str);

/// What an entry holds: decoded voxels, or bytes of one encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Data,
    Encoded(EncodingId),
}

/// Identifies one cached entry: the array (hash of its resolved config), what it holds
/// and where (a grid cell, or a voxel box for encoded chunks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    hash: ConfigHash,
    kind: Kind,
    idx: Coord,
    /// Write generation of the data the entry was computed from (0 for read-only data).
    generation: u64,
    /// Seconds the entry may live (data that can change upstream), `None` = until evicted.
    ttl_secs: Option<u32>,
}

/// The key of decoded voxels; its entries always hold a volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataKey(ChunkKey);

/// The key of encoded bytes; its entries always hold bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncodedKey(ChunkKey);

fn key(meta: &Metadata, kind: Kind, idx: Coord, generation: u64) -> ChunkKey {
    ChunkKey {
        hash: meta.hash,
        kind,
        idx,
        generation,
        ttl_secs: match meta.freshness {
            Freshness::MaxAge(s) => Some(s),
            Freshness::Revalidate | Freshness::Immutable => None,
        },
    }
}

impl DataKey {
    /// Grid cell `idx` of the array with `meta` at write `generation` (a time to live
    /// when its data may change upstream, [`Freshness::MaxAge`]).
    #[must_use]
    pub fn of(meta: &Metadata, idx: Coord, generation: u64) -> Self {
        Self(key(meta, Kind::Data, idx, generation))
    }
}

impl EncodedKey {
    /// The chunk at `at` (a grid cell or a voxel box) of the array with `meta`, encoded
    /// as `encoding`, at write `generation`.
    #[must_use]
    pub fn of(meta: &Metadata, encoding: EncodingId, at: Coord, generation: u64) -> Self {
        Self(key(meta, Kind::Encoded(encoding), at, generation))
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

/// A cached value; which one follows from the key's kind.
#[derive(Debug, Clone)]
enum Cached {
    /// Decoded voxels.
    Volume(Arc<Volume>),
    /// Encoded bytes.
    Bytes(Encoded),
}

/// Encoded bytes and their content digest, hashed at most once per cached entry (a hot
/// entry's digest costs nothing).
#[derive(Debug, Clone)]
pub struct Encoded {
    body: Bytes,
    digest: Arc<OnceLock<u64>>,
}

impl Encoded {
    /// Wraps bytes; the digest is computed when first asked for.
    #[must_use]
    pub fn new(body: Bytes) -> Self {
        Self {
            body,
            digest: Arc::default(),
        }
    }

    /// The bytes.
    #[must_use]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The bytes, by value (a reference count, not a copy).
    #[must_use]
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The xxh3-64 digest of the bytes.
    #[must_use]
    pub fn digest(&self) -> u64 {
        *self.digest.get_or_init(|| xxh3_64(&self.body))
    }
}

impl Cached {
    fn weight(&self) -> u32 {
        let bytes = match self {
            Cached::Volume(v) => v.nbytes(),
            Cached::Bytes(b) => b.body.len(),
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

    /// The voxels for `key`, or the result of `init`, computed once however many
    /// callers ask at the same time. Errors are returned to every waiter and not stored.
    ///
    /// # Errors
    /// The error `init` returned.
    pub async fn volume<F>(&self, key: DataKey, init: F) -> Result<Arc<Volume>, EvalError>
    where
        F: Future<Output = Result<Arc<Volume>, EvalError>>,
    {
        match self
            .get_or_compute(key.0, async { init.await.map(Cached::Volume) })
            .await?
        {
            Cached::Volume(v) => Ok(v),
            Cached::Bytes(_) => Err(mixed()),
        }
    }

    /// The encoded bytes for `key`, or the result of `init`, as [`ChunkCache::volume`].
    ///
    /// # Errors
    /// The error `init` returned.
    pub async fn bytes<F>(&self, key: EncodedKey, init: F) -> Result<Encoded, EvalError>
    where
        F: Future<Output = Result<Bytes, EvalError>>,
    {
        match self
            .get_or_compute(key.0, async {
                init.await.map(|b| Cached::Bytes(Encoded::new(b)))
            })
            .await?
        {
            Cached::Bytes(b) => Ok(b),
            Cached::Volume(_) => Err(mixed()),
        }
    }

    async fn get_or_compute<F>(&self, key: ChunkKey, init: F) -> Result<Cached, EvalError>
    where
        F: Future<Output = Result<Cached, EvalError>>,
    {
        // A hit is looked up alone: `init` (a large future) is not moved into moka's.
        if let Some(hit) = self.inner.get(&key).await {
            self.metrics.cache_hits.inc();
            return Ok(hit);
        }
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

    /// The most bytes the cache holds.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.inner.policy().max_capacity().unwrap_or(u64::MAX)
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

/// A data key holding bytes or an encoded key holding voxels: impossible, since
/// [`DataKey`] and [`EncodedKey`] differ in kind.
fn mixed() -> EvalError {
    EvalError::Internal("a cache key of one kind held a value of another".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    fn key(i: i64, ttl_secs: Option<u32>) -> DataKey {
        DataKey(ChunkKey {
            hash: ConfigHash([1; 16]),
            kind: Kind::Data,
            idx: Coord::from([i]),
            generation: 0,
            ttl_secs,
        })
    }

    fn vol(v: u8, n: usize) -> Arc<Volume> {
        Arc::new(Volume::full(DType::U8, &[n], &v.to_string()).unwrap())
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_values_are() {
        let cache = ChunkCache::new(1 << 20, Arc::new(Metrics::new()));
        let err = cache
            .volume(key(0, None), async {
                Err(EvalError::Storage("disk".into()))
            })
            .await;
        assert!(matches!(err, Err(EvalError::Storage(_))));
        let ok = cache
            .volume(key(0, None), async { Ok(vol(0, 4)) })
            .await
            .unwrap();
        assert_eq!(ok.len(), 4);
        let again = cache
            .volume(key(0, None), async {
                Err(EvalError::Storage("must not run".into()))
            })
            .await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn data_and_encoded_entries_of_one_cell_are_apart() {
        let cache = ChunkCache::new(1 << 20, Arc::new(Metrics::new()));
        let data = key(3, None);
        let encoded = EncodedKey(ChunkKey {
            kind: Kind::Encoded(EncodingId("test")),
            ..data.0.clone()
        });
        cache
            .volume(data.clone(), async { Ok(vol(7, 2)) })
            .await
            .unwrap();
        let b = cache
            .bytes(encoded, async { Ok(Bytes::from_static(b"xy")) })
            .await
            .unwrap();
        assert_eq!(&b.body()[..], b"xy");
        assert_eq!(b.digest(), xxh3_64(b"xy"));
        assert_eq!(b.clone().digest(), b.digest());
        let v = cache
            .volume(data, async {
                Err(EvalError::Storage("must not run".into()))
            })
            .await
            .unwrap();
        assert_eq!(v.to_le_bytes(), [7, 7]);
    }

    #[tokio::test]
    async fn keys_with_a_ttl_expire() {
        let cache = ChunkCache::new(1 << 20, Arc::new(Metrics::new()));
        let k = key(7, Some(1));
        cache
            .volume(k.clone(), async { Ok(vol(1, 1)) })
            .await
            .unwrap();
        let same = cache
            .volume(k.clone(), async { Ok(vol(2, 1)) })
            .await
            .unwrap();
        assert_eq!(same.to_le_bytes(), [1]);
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let fresh = cache.volume(k, async { Ok(vol(3, 1)) }).await.unwrap();
        assert_eq!(fresh.to_le_bytes(), [3], "an expired entry was served");
    }

    #[tokio::test]
    async fn stays_within_budget() {
        let budget = 64 * 1024;
        let cache = ChunkCache::new(budget, Arc::new(Metrics::new()));
        for i in 0..64 {
            cache
                .volume(key(i, None), async { Ok(vol(0, 4096)) })
                .await
                .unwrap();
        }
        let (bytes, entries) = cache.usage().await;
        assert!(bytes <= budget, "{bytes} > {budget}");
        assert!(entries < 64 && entries > 0, "{entries}");
    }
}
