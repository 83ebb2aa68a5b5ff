//! `dummy`: float64 zeros over offset 0, shape (100,100,100), voxel size (1,2,2), as
//! DaCapo's `DummyArray` (`spec/arrays.md`, "Types").
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "dummy", "name": "dummy"})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Dummy(_)));
//! ```

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Map;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use super::{Array, Metadata};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Coord, Roi};
use crate::volume::Volume;

/// Config fields of `dummy` (none).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DummyConfig {}

/// Zeros everywhere.
#[derive(Debug)]
pub struct Dummy {
    meta: Metadata,
}

impl Node for Dummy {
    type Config = DummyConfig;
    type Sources = ();

    /// The fixed geometry.
    ///
    /// # Errors
    /// Only a bad `chunk_shape` option.
    fn build(_cfg: &Self::Config, (): (), ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let meta = ctx.metadata(MetaParts {
            dtype: DType::F64,
            num_channels: None,
            voxel_size: Coord::from([1, 2, 2]),
            roi: Roi::new([0, 0, 0], [100, 100, 100]),
            grid: None,
            attrs: Map::new(),
            labels: false,
        })?;
        Ok(Self { meta })
    }
}

#[async_trait]
impl Array for Dummy {
    fn meta(&self) -> &Metadata {
        &self.meta
    }

    async fn read(&self, roi: &Roi, _ctx: &ReadCtx) -> Result<Volume, EvalError> {
        Ok(Volume::zeros(DType::F64, &self.meta.volume_shape(roi)))
    }
}
