//! `intensities`: `(x - min) / (max - min)` as float32, no clipping (`spec/arrays.md`).
//! `max == min` is refused at registration (deviation 9).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "intensities", "name": "raw_norm",
//!     "source_array_config": "raw", "min": 0, "max": 255})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Intensities(_)));
//! ```

use async_trait::async_trait;
use serde::Deserialize;

use super::resolve::{MetaParts, NodeCtx};
use super::{Array, ArrayRef, FieldProblem, Metadata};
use crate::dtype::{CastInto, DType};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;
use crate::with_volume;

/// Config fields of `intensities`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntensitiesConfig {
    /// Maps to 0.
    pub min: f64,
    /// Maps to 1.
    pub max: f64,
}

/// Linear intensity normalization.
#[derive(Debug)]
pub struct Intensities {
    meta: Metadata,
    source: ArrayRef,
    min: f32,
    range: f32,
}

impl Intensities {
    /// Validates `min`/`max`.
    ///
    /// # Errors
    /// `max == min`, or non-finite bounds.
    pub fn resolve(
        cfg: &IntensitiesConfig,
        source: ArrayRef,
        ctx: &NodeCtx<'_>,
    ) -> Result<Self, Vec<FieldProblem>> {
        if !cfg.min.is_finite() || !cfg.max.is_finite() {
            return Err(vec![
                ctx.problem("min", "min and max must be finite numbers"),
            ]);
        }
        #[expect(clippy::float_cmp, reason = "exact equality is the degenerate case")]
        if cfg.max == cfg.min {
            return Err(vec![ctx.problem(
                "max",
                format!(
                    "equals min ({}); the normalization would divide by zero",
                    cfg.min
                ),
            )]);
        }
        let m = source.meta();
        let meta = ctx.metadata(MetaParts {
            dtype: DType::F32,
            ..MetaParts::like(m)
        })?;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "numpy casts the python floats to float32 too"
        )]
        let (min, range) = (cfg.min as f32, (cfg.max - cfg.min) as f32);
        Ok(Self {
            meta,
            source,
            min,
            range,
        })
    }
}

#[async_trait]
impl Array for Intensities {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let data = ctx.read(&self.source, roi).await?;
        let (min, range) = (self.min, self.range);
        ctx.compute(move || {
            Ok(with_volume!(&data, a => Volume::from(a.mapv(|x| (CastInto::<f32>::cast_into(x) - min) / range))))
        })
        .await
    }
}
