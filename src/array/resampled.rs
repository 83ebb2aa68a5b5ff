//! `resampled`: up/down-sampling by integer factors per axis (`spec/arrays.md`).
//! Output voxel size = source voxel size × downsample / upsample (must divide exactly);
//! the ROI is the source ROI shrunk to lcm(source voxel size, voxel size).
//!
//! - `interp_order` 0: nearest neighbour exactly as DaCapo (skimage `rescale`, order 0):
//!   output voxel `j` (counted from world 0) takes source voxel
//!   `floor((2j + 1) · down / (2 · up))`, so downsampling by k keeps voxel `floor(k/2)`
//!   of each block and upsampling repeats each voxel k times.
//! - `interp_order` ≥ 1: skimage `rescale(order, anti_aliasing=True, mode="reflect")`
//!   of the **whole** source over this array's ROI, cropped to the request; each block
//!   reads a halo ([`crate::kernels::resize::input_window`]) so results do not depend on
//!   tiling (deviation 3). Values are clipped to the source's global min/max (a one-time
//!   scan, needed only for order ≥ 2 where splines overshoot) and cast back by truncation.
//!
//! ```
//! # use arrayd::array::config::{parse, TypedConfig};
//! let node = parse(&serde_json::json!({"type": "resampled", "name": "raw_s1",
//!     "source_array_config": "raw", "upsample": [1, 1, 1], "downsample": [1, 2, 2],
//!     "interp_order": 1})).unwrap();
//! assert!(matches!(node.typed, TypedConfig::Resampled(_)));
//! ```

use std::ops::Range;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use ndarray::{ArrayD, Axis, IxDyn};
use serde::Deserialize;
use serde_json::Map;
use tokio::sync::Mutex;

use super::node::{Node, Resolved};
use super::resolve::{MetaParts, NodeCtx};
use super::{Array, ArrayRef, Metadata};
use crate::block::Block;
use crate::dtype::CastInto;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Coord, Roi, Snap};
use crate::grid::ChunkGrid;
use crate::kernels::resize::{AxisPlan, input_window, resize_window};
use crate::volume::Volume;
use crate::{with_dtype, with_volume};

/// A factor per axis, or one factor for every axis.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Factors {
    /// The same factor on every axis.
    Scalar(i64),
    /// One factor per axis, z,y,x.
    PerAxis(Vec<i64>),
}

impl Factors {
    fn expand(&self, dims: usize) -> Option<Vec<i64>> {
        match self {
            Factors::Scalar(f) => Some(vec![*f; dims]),
            Factors::PerAxis(v) if v.len() == dims => Some(v.clone()),
            Factors::PerAxis(_) => None,
        }
    }
}

fn one() -> Factors {
    Factors::Scalar(1)
}

/// Config fields of `resampled`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResampledConfig {
    /// Upsampling factor per axis.
    #[serde(default = "one")]
    pub upsample: Factors,
    /// Downsampling factor per axis.
    #[serde(default = "one")]
    pub downsample: Factors,
    /// 0 = nearest neighbour, 1..=5 = spline order.
    pub interp_order: u8,
}

/// A resampled view of the source.
#[derive(Debug)]
pub struct Resampled {
    meta: Metadata,
    source: ArrayRef,
    up: Vec<i64>,
    down: Vec<i64>,
    order: u8,
    /// Global (min, max) of the source over this ROI, for order ≥ 2.
    /// The source's value range and the write generation it was scanned at.
    range: Mutex<Option<(u64, (f32, f32))>>,
}

impl Node for Resampled {
    type Config = ResampledConfig;
    type Sources = ArrayRef;

    /// Checks the factors and derives the geometry.
    ///
    /// # Errors
    /// Factors of the wrong length or not positive, non-integer voxel sizes, an order
    /// above 5, or an empty ROI.
    fn build(cfg: &Self::Config, source: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let m = source.meta();
        let dims = m.dims();
        let mut problems = Vec::new();
        let mut factor = |f: &Factors, field: &str| match f.expand(dims) {
            Some(v) if v.iter().all(|&x| x >= 1) => v,
            _ => {
                problems.push(ctx.problem(
                    field,
                    format!("must be {dims} positive integers (z,y,x) or one"),
                ));
                vec![1; dims]
            }
        };
        let up = factor(&cfg.upsample, "upsample");
        let down = factor(&cfg.downsample, "downsample");
        if cfg.interp_order > 5 {
            problems.push(ctx.problem(
                "interp_order",
                "must be 0 (nearest) or a spline order 1..=5",
            ));
        }
        let scaled = &m.voxel_size * &Coord::new(down.clone());
        if !scaled.is_multiple_of(&Coord::new(up.clone())) {
            problems.push(ctx.problem(
                "upsample",
                format!(
                    "source voxel size {} × downsample {down:?} is not divisible by upsample {up:?}: \
                     the resampling ratio must give an integer voxel size",
                    m.voxel_size
                ),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let vs = scaled.div_floor(&Coord::new(up.clone()));
        let lcm = m.voxel_size.lcm(&vs);
        let roi = m.roi.snap_to_grid(&lcm, Snap::Shrink);
        let origin = m.grid.origin.div_floor(&lcm);
        let grid = ChunkGrid::new(&origin * &lcm, &m.grid.chunk.div_ceil(&lcm) * &lcm);
        let value_keeping = cfg.interp_order == 0;
        let meta = ctx.metadata(MetaParts {
            voxel_size: vs,
            roi,
            grid: Some(grid),
            attrs: if value_keeping {
                m.attrs.clone()
            } else {
                Map::new()
            },
            labels: value_keeping && m.labels,
            ..MetaParts::like(m)
        })?;
        Ok(Self {
            meta,
            source,
            up,
            down,
            order: cfg.interp_order,
            range: Mutex::new(None),
        })
    }
}

impl Resampled {
    /// Source voxel indices (from world 0) that output voxels `out` take (order 0).
    fn nearest(&self, axis: usize, out: Range<i64>) -> Vec<i64> {
        let (up, down) = (self.up[axis], self.down[axis]);
        out.map(|j| ((2 * j + 1) * down).div_euclid(2 * up))
            .collect()
    }

    async fn read_nearest(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let (svs, vs) = (&self.source.meta().voxel_size, &self.meta.voxel_size);
        let first = &roi.offset / vs;
        let last = &roi.end() / vs;
        let picks: Vec<Vec<i64>> = (0..roi.dims())
            .map(|d| self.nearest(d, first[d]..last[d]))
            .collect();
        let lo = Coord::new(
            picks
                .iter()
                .map(|p| p.first().copied().unwrap_or(0))
                .collect(),
        );
        let hi = Coord::new(
            picks
                .iter()
                .map(|p| p.last().copied().unwrap_or(0) + 1)
                .collect(),
        );
        let src_roi = Roi::from_bounds(&lo * svs, &(&hi * svs));
        let data = ctx.read_shared(&self.source, &src_roi).await?;
        let offset = usize::from(self.meta.num_channels.is_some());
        ctx.compute(move || {
            let mut v: Option<Volume> = None;
            for (d, p) in picks.iter().enumerate() {
                let idx: Vec<usize> = p
                    .iter()
                    .map(|&i| usize::try_from(i - lo[d]).unwrap_or(0))
                    .collect();
                let axis = Axis(d + offset);
                v = Some(match &v {
                    Some(prev) => with_volume!(prev, a => Volume::from(a.select(axis, &idx))),
                    None => with_volume!(data.volume(), a => Volume::from(
                        data.view_of(a).select(axis, &idx)
                    )),
                });
            }
            Ok(v.unwrap_or_else(|| data.into_volume()))
        })
        .await
    }

    /// (min, max) of the source over this ROI, scanned once per write generation.
    async fn value_range(&self, ctx: &ReadCtx) -> Result<(f32, f32), EvalError> {
        if self.order < 2 {
            // Gaussian and linear weights are convex: results never leave the input range.
            return Ok((f32::NEG_INFINITY, f32::INFINITY));
        }
        let src = &self.source;
        let roi = &self.meta.roi;
        let grid = &src.meta().grid;
        let generation = src.generation(roi);
        let mut cached = self.range.lock().await;
        if let Some((g, range)) = *cached
            && g == generation
        {
            return Ok(range);
        }
        let range = stream::iter(grid.chunks_overlapping(roi))
            .map(|idx| async move {
                let part = grid.chunk_roi(&idx).intersect(roi);
                let data = ctx.read_shared(src, &part).await?;
                ctx.compute(move || Ok(min_max(&data))).await
            })
            .buffer_unordered(ctx.fanout.max(1))
            .try_fold((f32::INFINITY, f32::NEG_INFINITY), |acc, v| async move {
                Ok((acc.0.min(v.0), acc.1.max(v.1)))
            })
            .await?;
        *cached = Some((generation, range));
        Ok(range)
    }

    async fn read_smooth(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let m = &self.meta;
        let svs = &self.source.meta().voxel_size;
        let axes: Vec<AxisPlan> = (0..m.dims())
            .map(|d| AxisPlan {
                in_len: usize::try_from(m.roi.shape[d] / svs[d]).unwrap_or(0),
                out_len: usize::try_from(m.roi.shape[d] / m.voxel_size[d]).unwrap_or(0),
            })
            .collect();
        let out_begin = (&(&roi.offset - &m.roi.offset) / &m.voxel_size).to_usize();
        let out_len = (&roi.shape / &m.voxel_size).to_usize();
        let out_ranges: Vec<Range<usize>> = (0..m.dims())
            .map(|d| out_begin[d]..out_begin[d] + out_len[d])
            .collect();
        let order = usize::from(self.order);
        let windows: Vec<Range<usize>> = axes
            .iter()
            .zip(&out_ranges)
            .map(|(a, r)| input_window(a, order, r.clone()))
            .collect();
        let to_i64 = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let src_roi = Roi::new(
            &m.roi.offset + &(&Coord::new(windows.iter().map(|w| to_i64(w.start)).collect()) * svs),
            &Coord::new(windows.iter().map(|w| to_i64(w.len())).collect()) * svs,
        );
        let clip = self.value_range(ctx).await?;
        let data = ctx.read_shared(&self.source, &src_roi).await?;
        let channels = m.num_channels;
        ctx.compute(move || {
            let dtype = data.dtype();
            let floats =
                with_volume!(data.volume(), a => data.map_rows(a, CastInto::<f32>::cast_into));
            let per_channel: Vec<ArrayD<f32>> = match channels {
                None => vec![
                    resize_window(floats.view(), &windows, &axes, order, &out_ranges, clip)
                        .map_err(EvalError::Internal)?,
                ],
                Some(_) => floats
                    .axis_iter(Axis(0))
                    .map(|c| resize_window(c, &windows, &axes, order, &out_ranges, clip))
                    .collect::<Result<_, _>>()
                    .map_err(EvalError::Internal)?,
            };
            let mut shape: Vec<usize> = channels.into_iter().collect();
            shape.extend(out_ranges.iter().map(ExactSizeIterator::len));
            let stacked = if channels.is_none() {
                per_channel
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| ArrayD::zeros(IxDyn(&shape)))
            } else {
                let views: Vec<_> = per_channel.iter().map(|a| a.view()).collect();
                ndarray::stack(Axis(0), &views).map_err(|e| EvalError::Internal(e.to_string()))?
            };
            Ok(with_dtype!(dtype, T => Volume::from(stacked.mapv(CastInto::<T>::cast_into))))
        })
        .await
    }
}

fn min_max(v: &Block) -> (f32, f32) {
    with_volume!(v.volume(), a => v.rows_of(a).iter().flat_map(|r| r.iter()).fold(
        (f32::INFINITY, f32::NEG_INFINITY),
        |(lo, hi), &x| {
            let f: f32 = CastInto::<f32>::cast_into(x);
            (lo.min(f), hi.max(f))
        },
    ))
}

#[async_trait]
impl Array for Resampled {
    wrapper_accessors!(source);

    /// Nearest neighbours read at most one source voxel beyond the ROI; smooth orders
    /// read kernel windows and clip to the whole source's range: all of it, to be safe.
    fn footprint(&self, roi: &Roi) -> Roi {
        let sm = self.source.meta();
        if self.order == 0 {
            roi.grow(&sm.voxel_size, &sm.voxel_size)
        } else {
            sm.roi.clone()
        }
    }

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        if self.order == 0 {
            self.read_nearest(roi, ctx).await
        } else {
            self.read_smooth(roi, ctx).await
        }
    }
}
