//! Shard index caches of a sharded zarr array: reading an inner chunk decodes its
//! shard's index once, not per read.

use std::sync::Arc;

use zarrs::array::ArrayShardedReadableExtCache;

use super::{Storage, ZArray};

/// Decoded shard indexes of a sharded array, bounded: one entry per recently read shard.
pub(super) struct ShardIndexes {
    shard: Vec<u64>,
    caches: moka::sync::Cache<Vec<u64>, Arc<ArrayShardedReadableExtCache>>,
}

impl ShardIndexes {
    pub(super) fn new(shard: &[u64]) -> Self {
        Self {
            shard: shard.to_vec(),
            caches: moka::sync::Cache::new(4096),
        }
    }

    /// The index cache of the one shard `ranges` lie in (`None` when they span several).
    pub(super) fn of(
        &self,
        array: &ZArray<Storage>,
        ranges: &[std::ops::Range<u64>],
    ) -> Option<Arc<ArrayShardedReadableExtCache>> {
        let first: Vec<u64> = ranges
            .iter()
            .zip(&self.shard)
            .map(|(r, &s)| r.start / s.max(1))
            .collect();
        let last: Vec<u64> = ranges
            .iter()
            .zip(&self.shard)
            .map(|(r, &s)| r.end.saturating_sub(1) / s.max(1))
            .collect();
        (first == last).then(|| {
            self.caches
                .get_with(first, || Arc::new(ArrayShardedReadableExtCache::new(array)))
        })
    }
}
