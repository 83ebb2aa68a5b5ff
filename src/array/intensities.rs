//! `intensities`: `(x - min) / (max - min)` as float32, no clipping (`spec/arrays.md`).
//! `max == min` is refused at registration (deviation 9).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "intensities", "name": "raw_norm",
//!     "source_array_config": "raw", "min": 0, "max": 255})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Intensities(_)));
//! ```

use serde::Deserialize;

use super::ArrayRef;
use super::mapped::{Kernel, Mapped};
use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use crate::block::Block;
use crate::dtype::{CastInto, DType};
use crate::eval::EvalError;
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
    min: f32,
    range: f32,
}

impl Node for Mapped<Intensities> {
    type Config = IntensitiesConfig;
    type Sources = ArrayRef;

    /// Validates `min`/`max`.
    ///
    /// # Errors
    /// `max == min`, or non-finite bounds.
    fn build(cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
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
        Ok(Mapped::new(meta, source, Intensities { min, range }))
    }
}

impl Kernel for Intensities {
    fn apply(&self, data: &Block) -> Result<Volume, EvalError> {
        let (min, range) = (self.min, self.range);
        Ok(with_volume!(data.volume(), a => Volume::from(
            data.map_rows(a, |x| (CastInto::<f32>::cast_into(x) - min) / range)
        )))
    }
}
