//! `logical_or`: uint8 1 where any channel is non-zero; a source without a `c` axis
//! gives `source != 0` (`spec/arrays.md`, deviation 5).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "logical_or", "name": "any",
//!     "source_array_config": "mask"})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::LogicalOr(_)));
//! ```

use ndarray::Axis;
use serde::Deserialize;

use super::ArrayRef;
use super::mapped::{Kernel, Mapped};
use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use crate::block::Block;
use crate::dtype::DType;
use crate::eval::EvalError;
use crate::kernels::labels::nonzero;
use crate::volume::Volume;

/// Config fields of `logical_or` (only the source).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalOrConfig {}

/// Any-channel-set mask.
#[derive(Debug)]
pub struct LogicalOr {
    /// The source has a channel axis to fold.
    channels: bool,
}

impl Node for Mapped<LogicalOr> {
    type Config = LogicalOrConfig;
    type Sources = ArrayRef;

    /// Takes the source's spatial geometry.
    ///
    /// # Errors
    /// Only a bad `chunk_shape`.
    fn build(_cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let channels = source.meta().num_channels.is_some();
        let meta = ctx.metadata(MetaParts {
            dtype: DType::U8,
            num_channels: None,
            ..MetaParts::like(source.meta())
        })?;
        Ok(Mapped::new(meta, source, LogicalOr { channels }))
    }
}

impl Kernel for LogicalOr {
    fn apply(&self, data: &Block) -> Result<Volume, EvalError> {
        let set = nonzero(data);
        if !self.channels {
            return Ok(Volume::from(set));
        }
        Ok(Volume::from(
            set.fold_axis(Axis(0), 0u8, |&acc, &v| acc | v),
        ))
    }
}
