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
use ndarray::{ArrayD, IxDyn};
use serde::Deserialize;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx, Source, check_voxelwise_sources};
use super::{Array, ArrayRef, Metadata};
use crate::block::{Block, push_row};
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

/// `acc += part` elementwise (C order), `part` given as its rows and cast on the fly.
fn add_into<T: Accumulate, S: Element>(acc: &mut [T], rows: &[&[S]]) {
    let mut at = 0;
    for row in rows {
        for (x, &y) in acc[at..at + row.len()].iter_mut().zip(*row) {
            *x = T::add(*x, T::cast(y));
        }
        at += row.len();
    }
}

/// The elements of `rows`, cast.
fn cast_rows<T: Accumulate, S: Element>(rows: &[&[S]], len: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    for row in rows {
        for (o, &x) in push_row(&mut out, row.len()).iter_mut().zip(*row) {
            *o = T::cast(x);
        }
    }
    out
}

/// `cast(a) + cast(b)` elementwise, in one pass over the rows of both.
fn sum_pair<T: Accumulate, S: Element>(a: &[&[S]], b: &[&[S]], len: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    for (x, y) in a.iter().zip(b) {
        let row = push_row(&mut out, x.len().min(y.len()));
        for ((o, &p), &q) in row.iter_mut().zip(*x).zip(*y) {
            *o = T::add(T::cast(p), T::cast(q));
        }
    }
    out
}

fn accumulate<T: Accumulate>(parts: &[Block]) -> Result<Volume, EvalError> {
    let Some((first, rest)) = parts.split_first() else {
        return Err(EvalError::Internal("sum without sources".into()));
    };
    let len = first.len();
    if let Some(other) = rest.iter().find(|p| p.shape() != first.shape()) {
        return Err(EvalError::Internal(format!(
            "sum parts of shapes {:?} and {:?}",
            first.shape(),
            other.shape()
        )));
    }
    // The first two parts in one pass when they share a dtype (the usual case).
    let (mut acc, rest) = match rest.split_first() {
        Some((second, more)) if second.dtype() == first.dtype() => {
            let acc = with_volume!(first.volume(), a => match VolumeElement::view_of(second.volume()) {
                Some(b) => sum_pair::<T, _>(&first.rows_of(a), &second.rows_of(b), len),
                None => return Err(EvalError::Internal("sum parts changed dtype".into())),
            });
            (acc, more)
        }
        _ => (
            with_volume!(first.volume(), a => cast_rows::<T, _>(&first.rows_of(a), len)),
            rest,
        ),
    };
    for part in rest {
        with_volume!(part.volume(), p => add_into(&mut acc, &part.rows_of(p)));
    }
    ArrayD::from_shape_vec(IxDyn(first.shape()), acc)
        .map(Volume::from_typed)
        .map_err(|e| EvalError::Internal(format!("sum: {e}")))
}

/// Sums already-read parts in `dtype` (one of uint64, int64, float32, float64).
///
/// # Errors
/// Any other accumulator dtype.
pub fn sum_in(dtype: DType, parts: &[Block]) -> Result<Volume, EvalError> {
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
        ctx.compute(move || sum_in(dtype, &parts)).await
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
        let blk = |v: &Volume| Block::whole(std::sync::Arc::new(v.clone()));
        let (a, b, c) = (blk(&a), blk(&b), blk(&c));
        let pair = sum_in(DType::U64, &[a.clone(), b.clone()]).unwrap();
        assert_eq!(pair, Volume::from(arr1(&[260u64, 3, 255]).into_dyn()));
        let mixed = sum_in(DType::I64, &[a.clone(), c.clone(), b]).unwrap();
        assert_eq!(mixed, Volume::from(arr1(&[259i64, 6, -45]).into_dyn()));
        let floats = sum_in(DType::F32, &[c, a.clone()]).unwrap();
        assert_eq!(
            floats,
            Volume::from(arr1(&[249f32, 4.0, -300.0]).into_dyn())
        );
        assert!(sum_in(DType::U8, std::slice::from_ref(&a)).is_err());
        assert!(sum_in(DType::U64, &[]).is_err());
        // A block of a larger volume is summed in place, a row at a time.
        let big = Volume::from(
            ndarray::Array2::from_shape_fn((3, 4), |(y, x)| u8::try_from(y * 10 + x).unwrap())
                .into_dyn(),
        );
        let part = Block::new(std::sync::Arc::new(big), &[1, 1], &[2, 2]).unwrap();
        let sum = sum_in(DType::U64, &[part.clone(), part]).unwrap();
        assert_eq!(
            sum,
            Volume::from(ndarray::arr2(&[[22u64, 24], [42, 44]]).into_dyn())
        );
    }
}
