//! `cast`: an array converted to the dtype neuroglancer has (`spec/neuroglancer.md`):
//! bool → uint8, float64 → float32, int64 → int32 (saturating). Level 0 of the
//! precomputed view of an array whose dtype neuroglancer lacks.

use async_trait::async_trait;
use serde_json::json;

use super::{Array, ArrayRef, ConfigHash, Metadata};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::Volume;

/// The dtype the chunked views serve `dtype` as.
#[must_use]
pub fn served_dtype(dtype: DType) -> DType {
    match dtype {
        DType::Bool => DType::U8,
        DType::F64 => DType::F32,
        DType::I64 => DType::I32,
        other => other,
    }
}

/// Converts a volume to its served dtype (int64 saturates into int32).
#[must_use]
pub fn to_served(v: Volume) -> Volume {
    match v {
        Volume::I64(a) => {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "clamped to the i32 range first"
            )]
            let a = a.mapv(|x| x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32);
            Volume::from(a)
        }
        other => {
            let served = served_dtype(other.dtype());
            other.into_dtype(served)
        }
    }
}

/// A source read in its served dtype.
#[derive(Debug)]
pub struct Cast {
    meta: Metadata,
    source: ArrayRef,
}

impl Cast {
    /// `source` in its served dtype; `source` itself when that is its dtype.
    #[must_use]
    pub fn served(source: ArrayRef) -> ArrayRef {
        let m = source.meta();
        let to = served_dtype(m.dtype);
        if to == m.dtype {
            return source;
        }
        let meta = Metadata {
            type_name: "cast",
            dtype: to,
            hash: ConfigHash::of(&json!({"type": "cast", "source": m.hash.to_string(), "to": to})),
            cache: false,
            depth: m.depth + 1,
            writable: false,
            ..m.clone()
        };
        std::sync::Arc::new(Self { meta, source })
    }
}

#[async_trait]
impl Array for Cast {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let v = ctx.read(&self.source, roi).await?;
        ctx.compute(move || Ok(to_served(v))).await
    }
}
