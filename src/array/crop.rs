//! `crop`: the source's voxels inside `roi ∩ source ROI` (`spec/arrays.md`,
//! deviation 10). Values are kept, so attributes pass through.
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "crop", "name": "c", "source_array_config": "raw",
//!     "roi": {"offset": [0, 0, 0], "shape": [40, 80, 80]}})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Crop(_)));
//! ```

use async_trait::async_trait;
use serde::Deserialize;

use super::config::RoiField;
use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use super::{Array, ArrayRef, Metadata};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;

/// Config fields of `crop`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropConfig {
    /// The crop, world units: `{offset, shape}` or `[offset, shape]`.
    pub roi: RoiField,
}

/// A window onto the source.
#[derive(Debug)]
pub struct Crop {
    meta: Metadata,
    source: ArrayRef,
}

impl Node for Crop {
    type Config = CropConfig;
    type Sources = ArrayRef;

    /// Intersects the crop with the source.
    ///
    /// # Errors
    /// Wrong dimensionality, a ROI off the voxel grid, or an empty intersection.
    fn build(cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let m = source.meta();
        let roi = &cfg.roi.0;
        let bad = |reason: String| Err(vec![ctx.problem("roi", reason)]);
        if roi.dims() != m.dims() {
            return bad(format!(
                "has {} axes but the source has {} (z,y,x)",
                roi.dims(),
                m.dims()
            ));
        }
        if !roi.is_aligned(&m.voxel_size) {
            return bad(format!(
                "{roi} is not on the source's voxel grid {}",
                m.voxel_size
            ));
        }
        let inside = roi.intersect(&m.roi);
        if inside.is_empty() {
            return bad(format!("{roi} does not overlap the source ROI {}", m.roi));
        }
        let meta = ctx.metadata(MetaParts {
            roi: inside,
            attrs: m.attrs.clone(),
            labels: m.labels,
            ..MetaParts::like(m)
        })?;
        Ok(Self { meta, source })
    }
}

#[async_trait]
impl Array for Crop {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        ctx.read(&self.source, roi).await
    }
}
