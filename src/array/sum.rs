//! `sum`: element-wise sum of sources without a `c` axis, in numpy's sum dtype
//! (unsigned → uint64, signed/bool → int64, floats unchanged) after promoting the
//! sources (`spec/arrays.md`, deviation 8).
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "sum", "name": "s",
//!     "source_array_configs": ["a", "b"]})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Sum(_)));
//! ```

use async_trait::async_trait;
use futures::future::try_join_all;
use ndarray::{ArrayD, Zip};
use serde::Deserialize;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx, Source, check_voxelwise_sources};
use super::{Array, ArrayRef, Metadata};
use crate::dtype::{CastInto, DType, Element};
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::Roi;
use crate::volume::{Volume, VolumeElement};
use crate::with_volume;

/// Config fields of `sum` (only the sources).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumConfig {}

/// Element-wise sum.
#[derive(Debug)]
pub struct Sum {
    meta: Metadata,
    sources: Vec<ArrayRef>,
}

/// Addition as numpy does it in an accumulator dtype (integers wrap).
trait Accumulate: VolumeElement {
    fn add(a: Self, b: Self) -> Self;
    fn cast<S: Element>(s: S) -> Self;
}

macro_rules! accumulators {
    ($($t:ty: $add:expr;)*) => {$(
        impl Accumulate for $t {
            #[inline]
            fn add(a: Self, b: Self) -> Self {
                $add(a, b)
            }
            #[inline]
            fn cast<S: Element>(s: S) -> Self {
                CastInto::<$t>::cast_into(s)
            }
        }
    )*};
}

accumulators! {
    u64: u64::wrapping_add;
    i64: i64::wrapping_add;
    f32: |a: f32, b: f32| a + b;
    f64: |a: f64, b: f64| a + b;
}

/// `acc += part` elementwise, `part` cast on the fly.
fn add_into<T: Accumulate, S: Element>(acc: &mut ArrayD<T>, part: &ArrayD<S>) {
    match (acc.as_slice_mut(), part.as_slice()) {
        (Some(a), Some(p)) => {
            for (x, &y) in a.iter_mut().zip(p) {
                *x = T::add(*x, T::cast(y));
            }
        }
        _ => Zip::from(acc)
            .and(part)
            .for_each(|x, &y| *x = T::add(*x, T::cast(y))),
    }
}

/// `cast(a) + cast(b)` elementwise, in one pass when both are contiguous.
fn sum_pair<T: Accumulate, S: Element>(a: &ArrayD<S>, b: &ArrayD<S>) -> ArrayD<T> {
    if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice())
        && let Ok(out) = ArrayD::from_shape_vec(
            a.raw_dim(),
            x.iter()
                .zip(y)
                .map(|(&p, &q)| T::add(T::cast(p), T::cast(q)))
                .collect(),
        )
    {
        return out;
    }
    let mut acc = a.mapv(T::cast);
    add_into(&mut acc, b);
    acc
}

fn accumulate<T: Accumulate>(parts: &[&Volume]) -> Result<Volume, EvalError> {
    let Some((&first, rest)) = parts.split_first() else {
        return Err(EvalError::Internal("sum without sources".into()));
    };
    // The first two parts in one pass when they share a dtype and shape (the usual case).
    let (mut acc, rest) = match rest.split_first() {
        Some((&second, more))
            if second.dtype() == first.dtype() && second.shape() == first.shape() =>
        {
            let acc = with_volume!(first, a => match VolumeElement::view_of(second) {
                Some(b) => sum_pair::<T, _>(a, b),
                None => return Err(EvalError::Internal("sum parts changed dtype".into())),
            });
            (acc, more)
        }
        _ => (with_volume!(first, a => a.mapv(T::cast)), rest),
    };
    for &part in rest {
        with_volume!(part, p => add_into(&mut acc, p));
    }
    Ok(Volume::from_typed(acc))
}

/// Sums already-read parts in `dtype` (one of uint64, int64, float32, float64).
///
/// # Errors
/// Any other accumulator dtype.
pub fn sum_in(dtype: DType, parts: &[&Volume]) -> Result<Volume, EvalError> {
    match dtype {
        DType::U64 => accumulate::<u64>(parts),
        DType::I64 => accumulate::<i64>(parts),
        DType::F32 => accumulate::<f32>(parts),
        DType::F64 => accumulate::<f64>(parts),
        other => Err(EvalError::Internal(format!("{other} is not a sum dtype"))),
    }
}

impl Node for Sum {
    type Config = SumConfig;
    type Sources = Vec<Source>;

    /// Checks the sources combine voxel by voxel.
    ///
    /// # Errors
    /// Channel axes, mismatched voxel sizes, or ROIs that do not cover the first.
    fn build(_cfg: &Self::Config, sources: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        check_voxelwise_sources(&sources, false)?;
        let m = sources[0].array.meta();
        let dtype = DType::promote_all(sources.iter().map(|s| s.array.meta().dtype))
            .unwrap_or(m.dtype)
            .sum_dtype();
        let meta = ctx.metadata(MetaParts {
            dtype,
            labels: dtype.is_integer() && sources.iter().all(|s| s.array.meta().labels),
            ..MetaParts::like(m)
        })?;
        Ok(Self {
            meta,
            sources: sources.into_iter().map(|s| s.array).collect(),
        })
    }
}

#[async_trait]
impl Array for Sum {
    wrapper_accessors!(sources);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let parts = try_join_all(self.sources.iter().map(|s| ctx.read_shared(s, roi))).await?;
        let dtype = self.meta.dtype;
        ctx.compute(move || {
            let parts: Vec<&Volume> = parts.iter().map(AsRef::as_ref).collect();
            sum_in(dtype, &parts)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn sums_cast_each_part_like_numpy() {
        let a = Volume::from(arr1(&[250u8, 1, 0]).into_dyn());
        let b = Volume::from(arr1(&[10u8, 2, 255]).into_dyn());
        let c = Volume::from(arr1(&[-1i16, 3, -300]).into_dyn());
        let pair = sum_in(DType::U64, &[&a, &b]).unwrap();
        assert_eq!(pair, Volume::from(arr1(&[260u64, 3, 255]).into_dyn()));
        let mixed = sum_in(DType::I64, &[&a, &c, &b]).unwrap();
        assert_eq!(mixed, Volume::from(arr1(&[259i64, 6, -45]).into_dyn()));
        let floats = sum_in(DType::F32, &[&c, &a]).unwrap();
        assert_eq!(
            floats,
            Volume::from(arr1(&[249f32, 4.0, -300.0]).into_dyn())
        );
        assert!(sum_in(DType::U8, &[&a]).is_err());
        assert!(sum_in(DType::U64, &[]).is_err());
    }
}
