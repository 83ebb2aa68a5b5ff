//! The multiscale pyramid every array gets for the chunked views (`spec/api.md`,
//! "Neuroglancer precomputed view"; `spec/neuroglancer.md`).
//!
//! Level 0 is the array, converted to a dtype neuroglancer has (bool → uint8,
//! float64 → float32, int64 → int32 saturating). Each further level halves the axes
//! whose resolution is finest (among axes longer than one voxel), mean for images and
//! most frequent non-zero label for segmentations, until the volume fits in one chunk.
//! Level `k` spans voxels `[floor(lo/f), ceil(hi/f))` of level `k-1`'s `[lo, hi)`, so
//! world positions line up at every level. Level-`k` chunks are computed from level
//! `k-1`'s cached chunks, never from level 0, and cached like every other chunk.
//!
//! Arrays with fewer than three spatial axes are padded with leading axes of one voxel.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt, stream};
use ndarray::{ArrayD, IxDyn};

use crate::array::{ArrayRef, Metadata};
use crate::cache::{Cached, ChunkKey, Variant};
use crate::dtype::DType;
use crate::eval::{EvalError, ReadCtx, read_roi};
use crate::geometry::{Coord, Roi};
use crate::kernels::downsample::{Box3, downsample, mean, mode};
use crate::volume::Volume;
use crate::with_volume;

/// Chunk extent of every level, voxels per axis (clipped to small volumes).
pub const CHUNK: i64 = 64;

/// One level of the pyramid, z,y,x.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// World units per voxel.
    pub resolution: [i64; 3],
    /// Absolute index of the first voxel (world offset / resolution).
    pub offset: [i64; 3],
    /// Extent in voxels.
    pub size: [i64; 3],
    /// Factor relative to the previous level (1 for level 0).
    pub factor: [i64; 3],
}

impl Level {
    /// The level's voxels as an absolute box.
    #[must_use]
    pub fn bounds(&self) -> Box3 {
        Box3 {
            begin: self.offset,
            end: [0, 1, 2].map(|d| self.offset[d] + self.size[d]),
        }
    }
}

/// The pyramid of one array.
#[derive(Debug, Clone)]
pub struct Pyramid {
    /// Levels, finest first.
    pub levels: Vec<Level>,
    /// Chunk extent, voxels, z,y,x.
    pub chunk: [i64; 3],
    /// The dtype every level is served in.
    pub served: DType,
    /// True for a label volume (mode downsampling, segmentation layer).
    pub segmentation: bool,
    /// Channels, `None` without a `c` axis.
    pub num_channels: Option<usize>,
    /// Leading one-voxel axes added to reach three (3 − spatial dims).
    pad: usize,
    /// Per level, the array that stores it (levels taken from the source's own pyramid).
    stored: Vec<Option<ArrayRef>>,
}

/// The dtype a view serves `dtype` as.
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

/// The computed level after `last`: the finest axes (longer than one voxel) halved;
/// `None` once `last` fits in one chunk.
fn next_level(last: &Level, chunk: [i64; 3]) -> Option<Level> {
    if (0..3).all(|d| last.size[d] <= chunk[d]) {
        return None;
    }
    let finest = (0..3)
        .filter(|&d| last.size[d] > 1)
        .map(|d| last.resolution[d])
        .min()
        .unwrap_or(1);
    let factor = [0, 1, 2].map(|d| {
        if last.size[d] > 1 && last.resolution[d] == finest {
            2
        } else {
            1
        }
    });
    let begin = [0, 1, 2].map(|d| last.offset[d].div_euclid(factor[d]));
    let end = [0, 1, 2].map(|d| -((-(last.offset[d] + last.size[d])).div_euclid(factor[d])));
    Some(Level {
        resolution: [0, 1, 2].map(|d| last.resolution[d] * factor[d]),
        offset: begin,
        size: [0, 1, 2].map(|d| end[d] - begin[d]),
        factor,
    })
}

fn pad3(c: &Coord, fill: i64) -> [i64; 3] {
    let mut out = [fill; 3];
    let pad = 3 - c.dims().min(3);
    for (d, &v) in c.iter().enumerate().take(3) {
        out[pad + d] = v;
    }
    out
}

impl Pyramid {
    /// The pyramid of an array with metadata `m`.
    #[must_use]
    pub fn of(m: &Metadata) -> Self {
        let served = served_dtype(m.dtype);
        let segmentation =
            m.labels && m.num_channels.is_none() && served.kind() == crate::dtype::Kind::Unsigned;
        let resolution = pad3(&m.voxel_size, 1);
        let offset = pad3(&(&m.roi.offset / &m.voxel_size), 0);
        let size = pad3(&(&m.roi.shape / &m.voxel_size), 1);
        let chunk = size.map(|s| s.clamp(1, CHUNK));
        let mut levels = vec![Level {
            resolution,
            offset,
            size,
            factor: [1; 3],
        }];
        while let Some(next) = next_level(&levels[levels.len() - 1], chunk) {
            levels.push(next);
        }
        let stored = vec![None; levels.len()];
        Self {
            levels,
            chunk,
            served,
            segmentation,
            num_channels: m.num_channels,
            pad: 3 - m.dims().min(3),
            stored,
        }
    }

    /// The pyramid of `array`: levels the source stores itself (DVID labelmap scales)
    /// come first, read as they are; computed halvings continue from the last of them
    /// until the volume fits in one chunk.
    #[must_use]
    pub fn for_array(array: &ArrayRef) -> Self {
        let m = array.meta();
        let mut pyr = Self::of(m);
        if m.dims() != 3 {
            return pyr;
        }
        let mut levels = vec![pyr.levels[0].clone()];
        let mut stored = vec![None];
        for s in array.stored_levels() {
            let sm = s.meta();
            let last = &levels[levels.len() - 1];
            let res = pad3(&sm.voxel_size, 1);
            let factor = [0, 1, 2].map(|d| res[d] / last.resolution[d]);
            let usable = sm.dims() == 3
                && sm.num_channels == m.num_channels
                && served_dtype(sm.dtype) == pyr.served
                && (0..3).all(|d| factor[d] >= 1 && factor[d] * last.resolution[d] == res[d]);
            if !usable || (0..3).all(|d| last.size[d] <= pyr.chunk[d]) {
                break;
            }
            levels.push(Level {
                resolution: res,
                offset: pad3(&(&sm.roi.offset / &sm.voxel_size), 0),
                size: pad3(&(&sm.roi.shape / &sm.voxel_size), 1),
                factor,
            });
            stored.push(Some(s.clone()));
        }
        if levels.len() == 1 {
            return pyr;
        }
        while let Some(next) = next_level(&levels[levels.len() - 1], pyr.chunk) {
            levels.push(next);
            stored.push(None);
        }
        pyr.levels = levels;
        pyr.stored = stored;
        pyr
    }

    /// The level, if it exists.
    #[must_use]
    pub fn level(&self, level: usize) -> Option<&Level> {
        self.levels.get(level)
    }

    /// The voxels of chunk `idx` of `level` (clipped to the level).
    #[must_use]
    pub fn chunk_box(&self, level: &Level, idx: [i64; 3]) -> Box3 {
        let begin = [0, 1, 2].map(|d| level.offset[d] + idx[d] * self.chunk[d]);
        let end =
            [0, 1, 2].map(|d| (begin[d] + self.chunk[d]).min(level.offset[d] + level.size[d]));
        Box3 { begin, end }
    }

    /// Number of chunks per axis at `level`.
    #[must_use]
    pub fn grid_shape(&self, level: &Level) -> [i64; 3] {
        [0, 1, 2].map(|d| (level.size[d] + self.chunk[d] - 1) / self.chunk[d])
    }

    /// The grid index of a chunk given by its voxel box, if the box is exactly one
    /// chunk of `level`.
    #[must_use]
    pub fn chunk_index(&self, level: &Level, b: Box3) -> Option<[i64; 3]> {
        let grid = self.grid_shape(level);
        let mut idx = [0; 3];
        for d in 0..3 {
            let rel = b.begin[d] - level.offset[d];
            if rel < 0 || rel % self.chunk[d] != 0 || rel / self.chunk[d] >= grid[d] {
                return None;
            }
            idx[d] = rel / self.chunk[d];
        }
        (self.chunk_box(level, idx) == b).then_some(idx)
    }

    /// Volume shape `[c,] z, y, x` of a box.
    #[must_use]
    pub fn volume_shape(&self, b: Box3) -> Vec<usize> {
        self.num_channels.into_iter().chain(b.shape()).collect()
    }

    /// The world ROI of a box of `level`, in the array's own dimensions.
    fn world_roi(&self, level: usize, b: Box3) -> Roi {
        let l0 = &self.levels[level];
        let dims = 3 - self.pad;
        let pick = |v: [i64; 3]| Coord::new(v[self.pad..].to_vec());
        let begin = [0, 1, 2].map(|d| b.begin[d] * l0.resolution[d]);
        let shape = [0, 1, 2].map(|d| (b.end[d] - b.begin[d]) * l0.resolution[d]);
        debug_assert_eq!(pick(begin).dims(), dims);
        Roi::new(pick(begin), pick(shape))
    }
}

/// Reads the voxels of `b` (inside `level`) in the served dtype, axes `[c,] z, y, x`.
///
/// # Errors
/// Read or compute failures.
pub fn read_level<'a>(
    ctx: &'a ReadCtx,
    array: &'a ArrayRef,
    pyr: &'a Pyramid,
    level: usize,
    b: Box3,
) -> BoxFuture<'a, Result<Volume, EvalError>> {
    Box::pin(async move {
        if level == 0 {
            let v = read_roi(ctx, array, &pyr.world_roi(0, b), None).await?;
            let shape = pyr.volume_shape(b);
            let v = with_volume!(v, a => Volume::from(a.into_shape_with_order(IxDyn(&shape)).map_err(|e| EvalError::Internal(e.to_string()))?));
            return Ok(to_served(v));
        }
        let lvl = pyr
            .level(level)
            .ok_or_else(|| EvalError::BadRequest(format!("no pyramid level {level}")))?;
        let grid = pyr.grid_shape(lvl);
        let first = [0, 1, 2].map(|d| (b.begin[d] - lvl.offset[d]).div_euclid(pyr.chunk[d]));
        let last = [0, 1, 2]
            .map(|d| ((b.end[d] - lvl.offset[d] - 1).div_euclid(pyr.chunk[d])).min(grid[d] - 1));
        let mut cells = Vec::new();
        for z in first[0]..=last[0] {
            for y in first[1]..=last[1] {
                for x in first[2]..=last[2] {
                    cells.push([z, y, x]);
                }
            }
        }
        if let [only] = cells.as_slice()
            && pyr.chunk_box(lvl, *only) == b
        {
            return Ok(level_chunk(ctx, array, pyr, level, *only)
                .await?
                .as_ref()
                .clone());
        }
        let mut out = Volume::zeros(pyr.served, &pyr.volume_shape(b));
        let lead: Vec<usize> = pyr.num_channels.map(|_| 0).into_iter().collect();
        let mut parts = stream::iter(cells)
            .map(|idx| async move {
                level_chunk(ctx, array, pyr, level, idx)
                    .await
                    .map(|v| (idx, v))
            })
            .buffer_unordered(ctx.fanout.max(1));
        while let Some((idx, chunk)) = parts.try_next().await? {
            let cb = pyr.chunk_box(lvl, idx);
            let begin = [0, 1, 2].map(|d| cb.begin[d].max(b.begin[d]));
            let end = [0, 1, 2].map(|d| cb.end[d].min(b.end[d]));
            let part = Box3 { begin, end };
            let at = |origin: [i64; 3]| -> Vec<usize> {
                lead.iter()
                    .copied()
                    .chain((0..3).map(|d| usize::try_from(begin[d] - origin[d]).unwrap_or(0)))
                    .collect()
            };
            out.copy_region(&chunk, &at(cb.begin), &at(b.begin), &pyr.volume_shape(part))
                .map_err(EvalError::Internal)?;
        }
        Ok(out)
    })
}

/// Chunk `idx` of `level` ≥ 1, computed from level `level - 1` and cached.
///
/// # Errors
/// Read or compute failures.
pub async fn level_chunk(
    ctx: &ReadCtx,
    array: &ArrayRef,
    pyr: &Pyramid,
    level: usize,
    idx: [i64; 3],
) -> Result<Arc<Volume>, EvalError> {
    let lvl = pyr
        .level(level)
        .ok_or_else(|| EvalError::BadRequest(format!("no pyramid level {level}")))?;
    let prev = pyr
        .level(level - 1)
        .ok_or_else(|| EvalError::Internal("pyramid level 0 has no chunks of its own".into()))?;
    let key = ChunkKey::of(
        array.meta(),
        u32::try_from(level).unwrap_or(u32::MAX),
        Variant::Data,
        Coord::new(idx.to_vec()),
    );
    let out_box = pyr.chunk_box(lvl, idx);
    let f = lvl.factor;
    let pb = prev.bounds();
    let in_box = Box3 {
        begin: [0, 1, 2].map(|d| (out_box.begin[d] * f[d]).max(pb.begin[d])),
        end: [0, 1, 2].map(|d| (out_box.end[d] * f[d]).min(pb.end[d])),
    };
    let segmentation = pyr.segmentation;
    let stored = pyr.stored.get(level).cloned().flatten();
    let cached = ctx
        .cache
        .get_or_compute(key, async move {
            if let Some(stored) = stored {
                // A level the source stores: read it (zeros where it stores nothing).
                let v = read_roi(ctx, &stored, &pyr.world_roi(level, out_box), Some("0")).await?;
                let shape = pyr.volume_shape(out_box);
                let v = with_volume!(v, a => Volume::from(a.into_shape_with_order(IxDyn(&shape)).map_err(|e| EvalError::Internal(e.to_string()))?));
                return Ok(Cached::Volume(Arc::new(to_served(v))));
            }
            let input = read_level(ctx, array, pyr, level - 1, in_box).await?;
            let v = ctx
                .compute(move || reduce_volume(&input, in_box, out_box, f, segmentation))
                .await?;
            Ok(Cached::Volume(Arc::new(v)))
        })
        .await?;
    match cached {
        Cached::Volume(v) => Ok(v),
        Cached::Bytes(_) => Err(EvalError::Internal("pyramid chunk cached as bytes".into())),
    }
}

fn reduce_volume(
    input: &Volume,
    in_box: Box3,
    out_box: Box3,
    f: [i64; 3],
    segmentation: bool,
) -> Result<Volume, EvalError> {
    fn typed<T: crate::dtype::Element>(
        a: &ArrayD<T>,
        i: Box3,
        o: Box3,
        f: [i64; 3],
        r: impl Fn(&mut [T]) -> T,
    ) -> Result<Volume, EvalError>
    where
        ArrayD<T>: Into<Volume>,
    {
        downsample(a.view(), i, o, f, r)
            .map(Into::into)
            .map_err(EvalError::Internal)
    }
    if segmentation {
        return match input {
            Volume::U8(a) => typed(a, in_box, out_box, f, mode),
            Volume::U16(a) => typed(a, in_box, out_box, f, mode),
            Volume::U32(a) => typed(a, in_box, out_box, f, mode),
            Volume::U64(a) => typed(a, in_box, out_box, f, mode),
            other => Err(EvalError::Internal(format!(
                "segmentation pyramid over {}",
                other.dtype()
            ))),
        };
    }
    with_volume!(input, a => typed(a, in_box, out_box, f, mean))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{ConfigHash, Freshness};
    use crate::grid::ChunkGrid;

    fn meta(vs: [i64; 3], offset: [i64; 3], shape_vox: [i64; 3]) -> Metadata {
        let vs = Coord::from(vs);
        Metadata {
            type_name: "test",
            dtype: DType::U8,
            num_channels: None,
            roi: Roi::new(&Coord::from(offset) * &vs, &Coord::from(shape_vox) * &vs),
            grid: ChunkGrid::new(Coord::from([0, 0, 0]), &Coord::from([64, 64, 64]) * &vs),
            voxel_size: vs,
            attrs: serde_json::Map::new(),
            hash: ConfigHash([0; 16]),
            labels: false,
            cache: false,
            freshness: Freshness::Immutable,
            depth: 1,
        }
    }

    #[test]
    fn halves_finest_axes_until_one_chunk() {
        let p = Pyramid::of(&meta([8, 4, 4], [3, 5, 7], [100, 300, 300]));
        let res: Vec<_> = p.levels.iter().map(|l| l.resolution).collect();
        assert_eq!(res[..4], [[8, 4, 4], [8, 8, 8], [16, 16, 16], [32, 32, 32]]);
        let last = p.levels.last().unwrap();
        assert!((0..3).all(|d| last.size[d] <= p.chunk[d]));
        // Bounds follow [floor(lo/f), ceil(hi/f)).
        assert_eq!(p.levels[1].offset, [3, 2, 3]);
        assert_eq!(p.levels[1].size, [100, 151, 151]);
        assert_eq!(
            p.chunk_index(&p.levels[1], p.chunk_box(&p.levels[1], [1, 2, 0])),
            Some([1, 2, 0])
        );
        assert_eq!(
            p.chunk_index(
                &p.levels[1],
                Box3 {
                    begin: [4, 2, 3],
                    end: [68, 66, 67]
                }
            ),
            None
        );
    }

    #[test]
    fn small_volumes_have_one_level_and_served_types() {
        let p = Pyramid::of(&meta([1, 1, 1], [0, 0, 0], [10, 20, 30]));
        assert_eq!(p.levels.len(), 1);
        assert_eq!(p.chunk, [10, 20, 30]);
        assert_eq!(served_dtype(DType::Bool), DType::U8);
        let v = to_served(Volume::from(ndarray::arr1(&[i64::MAX, -5]).into_dyn()));
        assert_eq!(v, Volume::from(ndarray::arr1(&[i32::MAX, -5]).into_dyn()));
    }
}
