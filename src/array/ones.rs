//! `ones`: `true` everywhere, shaped like the source (channels kept) (`spec/arrays.md`).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "ones", "name": "mask",
//!     "source_array_config": "labels"})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Ones(_)));
//! ```

use async_trait::async_trait;
use serde::Deserialize;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use super::{Array, ArrayRef, Metadata};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;

/// Config fields of `ones` (only the source).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnesConfig {}

/// All true; the source's data is never read, only its geometry.
#[derive(Debug)]
pub struct Ones {
    meta: Metadata,
    source: ArrayRef,
}

impl Node for Ones {
    type Config = OnesConfig;
    type Sources = ArrayRef;

    /// Takes the source's geometry.
    ///
    /// # Errors
    /// Only a bad `chunk_shape`.
    fn build(_cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let m = source.meta();
        let meta = ctx.metadata(MetaParts {
            dtype: DType::Bool,
            ..MetaParts::like(m)
        })?;
        Ok(Self { meta, source })
    }
}

#[async_trait]
impl Array for Ones {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, _ctx: &ReadCtx) -> Result<Volume, EvalError> {
        Volume::full(DType::Bool, &self.meta.volume_shape(roi), "true").map_err(EvalError::Internal)
    }
}
