//! `logical_or`: uint8 1 where any channel is non-zero; a source without a `c` axis
//! gives `source != 0` (`spec/arrays.md`, deviation 5).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "logical_or", "name": "any",
//!     "source_array_config": "mask"})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::LogicalOr(_)));
//! ```

use async_trait::async_trait;
use ndarray::Axis;
use serde::Deserialize;

use super::resolve::{MetaParts, NodeCtx};
use super::{Array, ArrayRef, FieldProblem, Metadata};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::kernels::labels::nonzero;
use crate::volume::Volume;

/// Config fields of `logical_or` (only the source).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalOrConfig {}

/// Any-channel-set mask.
#[derive(Debug)]
pub struct LogicalOr {
    meta: Metadata,
    source: ArrayRef,
}

impl LogicalOr {
    /// Takes the source's spatial geometry.
    ///
    /// # Errors
    /// Only a bad `chunk_shape`.
    pub fn resolve(
        _cfg: &LogicalOrConfig,
        source: ArrayRef,
        ctx: &NodeCtx<'_>,
    ) -> Result<Self, Vec<FieldProblem>> {
        let m = source.meta();
        let meta = ctx.metadata(MetaParts {
            dtype: DType::U8,
            num_channels: None,
            ..MetaParts::like(m)
        })?;
        Ok(Self { meta, source })
    }
}

#[async_trait]
impl Array for LogicalOr {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let data = ctx.read(&self.source, roi).await?;
        let channels = self.source.meta().num_channels.is_some();
        ctx.compute(move || {
            let set = nonzero(&data);
            if !channels {
                return Ok(Volume::from(set));
            }
            let any = set.fold_axis(Axis(0), 0u8, |&acc, &v| acc | v);
            Ok(Volume::from(any))
        })
        .await
    }
}
