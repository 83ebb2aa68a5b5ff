//! `downsample`: a coarser level of a pyramid (`spec/api.md`, "Levels"). Voxel `i` on
//! an axis with factor `f` reduces source voxels `[i·f, i·f + f)` that exist: the mean
//! for images, the most frequent non-zero label for segmentations. The level spans
//! `[floor(lo/f), ceil(hi/f))` of the source's voxels `[lo, hi)`, so world positions
//! line up at every level.

use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use ndarray::{ArrayD, Axis};
use serde_json::{Map, json};

use super::{Array, ArrayRef, ConfigHash, Metadata};
use crate::block::Block;
use crate::dtype::Element;
use crate::eval::{EvalError, ReadCtx};
use crate::geometry::{Box3, Coord, Roi};
use crate::grid::ChunkGrid;
use crate::kernels::downsample::{Mean, Mode, Reducer, downsample};
use crate::volume::Volume;
use crate::with_volume;

/// How a block of voxels becomes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Mean (integers rounded half to even).
    Mean,
    /// Most frequent non-zero label.
    Mode,
}

/// Tiles of one read reduced at once. A coarse chunk holds at most this many source
/// tiles per level while it is computed (not the whole finer region), so a cold pyramid
/// needs memory in proportion to its depth, not to its finest level.
const TILES_IN_FLIGHT: usize = 2;

/// A source reduced by a whole factor per spatial axis.
#[derive(Debug)]
pub struct Downsample {
    meta: Metadata,
    source: ArrayRef,
    factor: [i64; 3],
    reduce: Reduce,
    /// Leading one-voxel axes that make the source three-dimensional.
    pad: usize,
}

/// A spatial coordinate of up to three axes as z,y,x with `fill` in front.
#[must_use]
pub fn pad3(c: &Coord, fill: i64) -> [i64; 3] {
    let mut out = [fill; 3];
    let pad = 3 - c.dims().min(3);
    for (d, &v) in c.iter().enumerate().take(3) {
        out[pad + d] = v;
    }
    out
}

impl Downsample {
    /// `source` reduced by `factor` (z,y,x, padded for fewer axes), chunked in
    /// `chunk` voxels from the level's first voxel.
    ///
    /// # Errors
    /// A source with more than three spatial axes, or a factor below one.
    pub fn level(
        source: ArrayRef,
        factor: [i64; 3],
        reduce: Reduce,
        chunk: [i64; 3],
    ) -> Result<ArrayRef, String> {
        let m = source.meta();
        let dims = m.dims();
        if dims > 3 || factor.iter().any(|&f| f < 1) {
            return Err(format!(
                "cannot downsample {dims} spatial axes by {factor:?}"
            ));
        }
        let pad = 3 - dims;
        let pick = |v: [i64; 3]| Coord::new(v[pad..].to_vec());
        let f = pick(factor);
        let lo = m.roi.offset.div_floor(&m.voxel_size);
        let hi = m.roi.end().div_floor(&m.voxel_size);
        let begin = lo.div_floor(&f);
        let end = hi.div_ceil(&f);
        let voxel_size = &m.voxel_size * &f;
        let roi = Roi::from_bounds(begin, &end).to_world(&voxel_size);
        let grid = ChunkGrid::from_voxels(roi.offset.clone(), &pick(chunk), &voxel_size);
        let hash = ConfigHash::of(&json!({
            "type": "downsample",
            "source": m.hash.to_string(),
            "factor": factor,
            "reduce": format!("{reduce:?}"),
            "chunk": chunk,
        }));
        let meta = Metadata {
            type_name: "downsample",
            voxel_size,
            roi,
            grid,
            attrs: Map::new(),
            hash,
            cache: true,
            depth: m.depth + 1,
            writable: false,
            ..m.clone()
        };
        Ok(Arc::new(Self {
            meta,
            source,
            factor,
            reduce,
            pad,
        }))
    }

    /// Absolute voxel box (z,y,x, padded) of a world ROI at voxel size `vs`.
    fn boxed(&self, roi: &Roi, vs: &Coord) -> Box3 {
        let begin = pad3(&roi.offset.div_floor(vs), 0);
        let end = pad3(&roi.end().div_floor(vs), 1);
        Box3 { begin, end }
    }
}

#[async_trait]
impl Array for Downsample {
    wrapper_accessors!(source);

    async fn read(&self, roi: &Roi, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let out_box = self.boxed(roi, &self.meta.voxel_size);
        let tiles = self.tiles(out_box);
        if let [only] = tiles.as_slice() {
            return self.reduce_tile(*only, ctx).await;
        }
        let mut out = Volume::zeros(self.meta.dtype, &self.meta.volume_shape(roi));
        let mut parts =
            stream::iter(tiles)
                .map(|tile| async move {
                    Ok::<_, EvalError>((tile, self.reduce_tile(tile, ctx).await?))
                })
                .buffer_unordered(TILES_IN_FLIGHT);
        while let Some((tile, part)) = parts.try_next().await? {
            let at: Vec<usize> = self
                .meta
                .num_channels
                .map(|_| 0)
                .into_iter()
                .chain(
                    (self.pad..3)
                        .map(|d| usize::try_from(tile.begin[d] - out_box.begin[d]).unwrap_or(0)),
                )
                .collect();
            out.paste(&part, &at).map_err(EvalError::Internal)?;
        }
        Ok(out)
    }
}

impl Downsample {
    /// The output voxel box split into tiles of at most one source chunk each, on the
    /// source's chunk grid where it lies on the factor.
    fn tiles(&self, out: Box3) -> Vec<Box3> {
        let sm = self.source.meta();
        let chunk = pad3(&sm.grid.chunk_voxels(&sm.voxel_size), 1);
        let origin = pad3(&sm.grid.origin.div_floor(&sm.voxel_size), 0);
        let f = self.factor;
        let cuts = [0, 1, 2].map(|d| {
            let step = (chunk[d] / f[d]).max(1);
            let phase = if origin[d] % f[d] == 0 && chunk[d] % f[d] == 0 {
                origin[d] / f[d]
            } else {
                out.begin[d]
            };
            let mut spans = Vec::new();
            let mut a = out.begin[d];
            while a < out.end[d] {
                let b = (a - (a - phase).rem_euclid(step) + step).min(out.end[d]);
                spans.push((a, b));
                a = b;
            }
            spans
        });
        let mut tiles = Vec::new();
        for &(z0, z1) in &cuts[0] {
            for &(y0, y1) in &cuts[1] {
                for &(x0, x1) in &cuts[2] {
                    tiles.push(Box3 {
                        begin: [z0, y0, x0],
                        end: [z1, y1, x1],
                    });
                }
            }
        }
        tiles
    }

    /// The output voxels `out_box` (absolute, z,y,x padded), from the source voxels
    /// they reduce.
    async fn reduce_tile(&self, out_box: Box3, ctx: &ReadCtx) -> Result<Volume, EvalError> {
        let sm = self.source.meta();
        let f = self.factor;
        let bounds = self.boxed(&sm.roi, &sm.voxel_size);
        let in_box = Box3 {
            begin: [0, 1, 2].map(|d| out_box.begin[d] * f[d]),
            end: [0, 1, 2].map(|d| out_box.end[d] * f[d]),
        }
        .intersect(&bounds);
        let pick = |v: [i64; 3]| Coord::new(v[self.pad..].to_vec());
        let in_roi =
            Roi::from_bounds(pick(in_box.begin), &pick(in_box.end)).to_world(&sm.voxel_size);
        let out_roi = Roi::from_bounds(pick(out_box.begin), &pick(out_box.end))
            .to_world(&self.meta.voxel_size);
        let input = ctx.read_shared(&self.source, &in_roi).await?;
        let channels = self.meta.num_channels;
        let shape3 =
            move |b: Box3| -> Vec<usize> { channels.into_iter().chain(b.shape()).collect() };
        let out_shape = self.meta.volume_shape(&out_roi);
        let reduce = self.reduce;
        ctx.compute(move || {
            reduce_volume(&input, &shape3(in_box), in_box, out_box, f, reduce)?
                .reshaped(&out_shape)
                .map_err(EvalError::Internal)
        })
        .await
    }
}

/// `input`, seen with the (padded, three spatial axes) `shape` of `in_box`, reduced to
/// `out_box`.
fn reduce_volume(
    input: &Block,
    shape: &[usize],
    in_box: Box3,
    out_box: Box3,
    f: [i64; 3],
    reduce: Reduce,
) -> Result<Volume, EvalError> {
    fn typed<T: Element>(
        a: &ArrayD<T>,
        (block, shape, i, o, f): (&Block, &[usize], Box3, Box3, [i64; 3]),
        r: &impl Reducer<T>,
    ) -> Result<Volume, EvalError>
    where
        ArrayD<T>: Into<Volume>,
    {
        // Read in place: the block's view with one-voxel axes in front of the spatial ones.
        let mut view = block.view_of(a);
        let lead = shape.len().saturating_sub(3);
        while view.ndim() < shape.len() {
            view.insert_axis_inplace(Axis(lead));
        }
        downsample(view, i, o, f, r)
            .map(Into::into)
            .map_err(EvalError::Internal)
    }
    let g = (input, shape, in_box, out_box, f);
    match (reduce, input.volume()) {
        (Reduce::Mode, Volume::U8(a)) => typed(a, g, &Mode),
        (Reduce::Mode, Volume::U16(a)) => typed(a, g, &Mode),
        (Reduce::Mode, Volume::U32(a)) => typed(a, g, &Mode),
        (Reduce::Mode, Volume::U64(a)) => typed(a, g, &Mode),
        (Reduce::Mode, other) => Err(EvalError::Internal(format!(
            "mode downsampling of {}",
            other.dtype()
        ))),
        (Reduce::Mean, input) => with_volume!(input, a => typed(a, g, &Mean)),
    }
}
