//! `merge_instances`: instance label volumes merged into one uint64 id space. Each
//! source's labels > 0 are shifted by the sum of the max ids of all earlier sources and
//! the shifted volumes are summed (`spec/arrays.md`, deviations 7 and 8). Max ids come
//! from a `max_id` attribute, else from one scan of the source, done once; offsets are
//! therefore global and ids agree between tiles.
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "merge_instances", "name": "m",
//!     "source_array_configs": ["a", "b"]})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::MergeInstances(_)));
//! ```

use async_trait::async_trait;
use futures::future::try_join_all;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx, Source, check_voxelwise_sources};
use super::{Array, ArrayRef, Metadata};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::kernels::labels::{max_id, merge_shifted};
use crate::volume::Volume;

/// Config fields of `merge_instances` (only the sources).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeInstancesConfig {}

/// Instance merging with global offsets.
#[derive(Debug)]
pub struct MergeInstances {
    meta: Metadata,
    sources: Vec<ArrayRef>,
    offsets: OnceCell<Vec<u64>>,
}

/// The largest id of `source` over its whole ROI: its `max_id` attribute, else a scan.
///
/// # Errors
/// A failed read during the scan.
pub async fn source_max_id(source: &ArrayRef, ctx: &ReadCtx) -> Result<u64, EvalError> {
    let m = source.meta();
    if let Some(id) = m.attrs.get("max_id").and_then(serde_json::Value::as_u64) {
        return Ok(id);
    }
    let cells = m.grid.chunks_overlapping(&m.roi);
    stream::iter(cells)
        .map(|idx| async move {
            let roi = m.grid.chunk_roi(&idx).intersect(&m.roi);
            let data = ctx.read_shared(source, &roi).await?;
            ctx.compute(move || max_id(&data)).await
        })
        .buffer_unordered(ctx.fanout.max(1))
        .try_fold(0u64, |acc, v| async move { Ok(acc.max(v)) })
        .await
}

impl Node for MergeInstances {
    type Config = MergeInstancesConfig;
    type Sources = Vec<Source>;

    /// Checks the sources: integer, no channels, same voxel size, covering the first.
    ///
    /// # Errors
    /// Every offending source.
    fn build(_cfg: &Self::Config, sources: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        check_voxelwise_sources(&sources, true)?;
        let meta = ctx.metadata(MetaParts {
            dtype: DType::U64,
            labels: true,
            ..MetaParts::like(sources[0].array.meta())
        })?;
        Ok(Self {
            meta,
            sources: sources.into_iter().map(|s| s.array).collect(),
            offsets: OnceCell::new(),
        })
    }
}

impl MergeInstances {
    async fn offsets(&self, ctx: &ReadCtx) -> Result<&Vec<u64>, EvalError> {
        self.offsets
            .get_or_try_init(|| async {
                let maxes =
                    try_join_all(self.sources.iter().map(|s| source_max_id(s, ctx))).await?;
                let mut acc = 0u64;
                Ok(maxes
                    .into_iter()
                    .map(|m| {
                        let off = acc;
                        acc = acc.wrapping_add(m);
                        off
                    })
                    .collect())
            })
            .await
    }
}

#[async_trait]
impl Array for MergeInstances {
    wrapper_accessors!(sources);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let offsets = self.offsets(ctx).await?.clone();
        let parts = try_join_all(self.sources.iter().map(|s| ctx.read_shared(s, roi))).await?;
        ctx.compute(move || merge_shifted(&parts, &offsets)).await
    }
}
