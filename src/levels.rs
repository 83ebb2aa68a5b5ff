//! An array's levels for the chunked views (`spec/api.md`, "Levels";
//! `spec/neuroglancer.md`), built once when the array is registered.
//!
//! Level 0 is the array in a dtype neuroglancer has ([`Cast`]). Further levels are the
//! ones its storage holds ([`crate::array::Array::stored_levels`]) while they fit, then
//! [`Downsample`]s of the level before, each halving the axes whose resolution is
//! finest (among axes longer than one voxel), until the volume fits in one chunk.
//! Every level is an array: read, chunked and cached like any other.
//!
//! Arrays with fewer than three spatial axes are padded with leading axes of one voxel.

use serde_json::{Value, json};

use crate::array::cast::{Cast, served_dtype};
use crate::array::downsample::{Downsample, Reduce, pad3};
use crate::array::view::ViewOptions;
use crate::array::{ArrayRef, Metadata};
use crate::dtype::{DType, Kind};
use crate::geometry::{Box3, Coord, Roi};

/// Chunk extent of every level, voxels per axis (clipped to small volumes).
pub const CHUNK: i64 = 64;

/// Where a level's voxels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The array itself (level 0).
    Array,
    /// A level its storage holds.
    Stored,
    /// Reduced from the level before.
    Computed,
}

/// One level, z,y,x.
#[derive(Debug, Clone)]
pub struct Level {
    /// The level's voxels in the served dtype, in the array's own dimensions.
    pub array: ArrayRef,
    /// Where they come from.
    pub origin: Origin,
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
    fn of(array: ArrayRef, origin: Origin, factor: [i64; 3]) -> Self {
        let m = array.meta();
        Self {
            resolution: pad3(&m.voxel_size, 1),
            offset: pad3(&m.roi.offset.div_floor(&m.voxel_size), 0),
            size: pad3(&m.roi.shape.div_floor(&m.voxel_size), 1),
            factor,
            origin,
            array,
        }
    }

    /// The level's voxels as an absolute box.
    #[must_use]
    pub fn bounds(&self) -> Box3 {
        Box3 {
            begin: self.offset,
            end: [0, 1, 2].map(|d| self.offset[d] + self.size[d]),
        }
    }
}

/// The levels of one array.
#[derive(Debug, Clone)]
pub struct Levels {
    /// Levels, finest first.
    pub levels: Vec<Level>,
    /// Chunk extent of the views, voxels, z,y,x.
    pub chunk: [i64; 3],
    /// The array's own dtype.
    pub dtype: DType,
    /// The dtype every level is served in.
    pub served: DType,
    /// True for a label volume (mode downsampling, segmentation layer).
    pub segmentation: bool,
    /// Channels, `None` without a `c` axis.
    pub num_channels: Option<usize>,
    /// How the config asks for the array to be shown (encoding, segment names).
    pub view: ViewOptions,
    /// Leading one-voxel axes added to reach three (3 − spatial dims).
    pad: usize,
}

/// The factor from `last` to the computed level after it: the finest axes (longer
/// than one voxel) halved; `None` once `last` fits in one chunk.
fn next_factor(last: &Level, chunk: [i64; 3]) -> Option<[i64; 3]> {
    if (0..3).all(|d| last.size[d] <= chunk[d]) {
        return None;
    }
    Some(halving(last.size, last.resolution))
}

/// The factor of the level after one of `size` voxels of `resolution` (z,y,x): 2 on
/// the axes (longer than one voxel) whose resolution is finest, 1 elsewhere.
#[must_use]
pub fn halving(size: [i64; 3], resolution: [i64; 3]) -> [i64; 3] {
    let finest = (0..3)
        .filter(|&d| size[d] > 1)
        .map(|d| resolution[d])
        .min()
        .unwrap_or(1);
    [0, 1, 2].map(|d| {
        if size[d] > 1 && resolution[d] == finest {
            2
        } else {
            1
        }
    })
}

/// Whether an array's levels are label volumes (mode, segmentation) rather than images.
#[must_use]
pub fn is_segmentation(m: &Metadata) -> bool {
    m.labels && m.num_channels.is_none() && served_dtype(m.dtype).kind() == Kind::Unsigned
}

/// How an array's levels are reduced: mode for label volumes, mean for images.
#[must_use]
pub fn reduction(m: &Metadata) -> Reduce {
    if is_segmentation(m) {
        Reduce::Mode
    } else {
        Reduce::Mean
    }
}

/// Why a stored level cannot follow `last`, if it cannot.
fn misfit(last: &Level, base: &Metadata, stored: &Metadata) -> Option<String> {
    if stored.dims() != base.dims() || stored.num_channels != base.num_channels {
        return Some("its axes differ from the array's".into());
    }
    if served_dtype(stored.dtype) != served_dtype(base.dtype) {
        return Some(format!(
            "its dtype {} differs from the array's {}",
            stored.dtype, base.dtype
        ));
    }
    let res = pad3(&stored.voxel_size, 1);
    let factor = [0, 1, 2].map(|d| res[d] / last.resolution[d]);
    if (0..3).any(|d| factor[d] < 1 || factor[d] * last.resolution[d] != res[d]) {
        return Some(format!(
            "its voxel size {} is not a whole multiple of the level before ({:?})",
            stored.voxel_size, last.resolution
        ));
    }
    // Its world bounds must match the level before's within one of its own voxels.
    let (lo, hi) = (last.bounds().begin, last.bounds().end);
    let offset = pad3(&stored.roi.offset, 0);
    let end = pad3(&stored.roi.end(), 0);
    let off = (0..3).any(|d| {
        (offset[d] - lo[d] * last.resolution[d]).abs() >= res[d]
            || (end[d] - hi[d] * last.resolution[d]).abs() >= res[d]
    });
    off.then(|| {
        format!(
            "its ROI {} does not cover the level before's within one voxel",
            stored.roi
        )
    })
}

impl Levels {
    /// The levels of `array`: level 0, the stored levels that fit, then computed
    /// halvings until the volume fits in one chunk.
    #[must_use]
    pub fn build(array: &ArrayRef) -> Self {
        let m = array.meta();
        let served = served_dtype(m.dtype);
        let segmentation = is_segmentation(m);
        let first = Level::of(Cast::served(array.clone()), Origin::Array, [1; 3]);
        let chunk = first.size.map(|s| s.clamp(1, CHUNK));
        let mut levels = vec![first];
        if m.dims() > 3 {
            return Self::new(levels, chunk, served, segmentation, m);
        }
        for s in array.stored_levels() {
            let last = &levels[levels.len() - 1];
            if next_factor(last, chunk).is_none() {
                break;
            }
            if let Some(why) = misfit(last, m, s.meta()) {
                tracing::info!(level = levels.len(), reason = %why, "a stored level is not used; computing it and the coarser ones");
                break;
            }
            let res = pad3(&s.meta().voxel_size, 1);
            let factor = [0, 1, 2].map(|d| res[d] / last.resolution[d]);
            levels.push(Level::of(Cast::served(s), Origin::Stored, factor));
        }
        let reduce = reduction(m);
        while let Some(factor) = next_factor(&levels[levels.len() - 1], chunk) {
            let last = levels[levels.len() - 1].array.clone();
            match Downsample::level(last, factor, reduce, chunk) {
                Ok(next) => levels.push(Level::of(next, Origin::Computed, factor)),
                Err(e) => {
                    tracing::warn!(error = %e, "pyramid stops early");
                    break;
                }
            }
        }
        Self::new(levels, chunk, served, segmentation, m)
    }

    fn new(
        levels: Vec<Level>,
        chunk: [i64; 3],
        served: DType,
        segmentation: bool,
        m: &Metadata,
    ) -> Self {
        Self {
            levels,
            chunk,
            dtype: m.dtype,
            served,
            segmentation,
            num_channels: m.num_channels,
            view: ViewOptions::default(),
            pad: 3 - m.dims().min(3),
        }
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
    #[must_use]
    pub fn world_roi(&self, level: &Level, b: Box3) -> Roi {
        let pick = |v: [i64; 3]| Coord::new(v[self.pad..].to_vec());
        Roi::from_bounds(pick(b.begin), &pick(b.end)).to_world(&pick(level.resolution))
    }

    /// The write generation of the voxels `b` of level `k` (0 when nothing below is
    /// writable).
    #[must_use]
    pub fn generation(&self, k: usize, b: Box3) -> u64 {
        self.level(k)
            .map_or(0, |l| l.array.generation(&self.world_roi(l, b)))
    }

    /// Each level as `GET /v1/arrays/{name}` lists it.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let levels: Vec<Value> = self
            .levels
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let m = l.array.meta();
                json!({
                    "key": format!("s{k}"),
                    "origin": match l.origin {
                        Origin::Array => "array",
                        Origin::Stored => "stored",
                        Origin::Computed => "computed",
                    },
                    "type": m.type_name,
                    "voxel_size": m.voxel_size,
                    "roi": {"offset": m.roi.offset, "shape": m.roi.shape},
                    "shape": m.shape(),
                })
            })
            .collect();
        Value::Array(levels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{Array, ConfigHash, Freshness};
    use crate::eval::{EvalError, ReadCtx};
    use crate::grid::ChunkGrid;
    use crate::volume::Volume;

    /// An array that is only metadata (these tests never read).
    #[derive(Debug)]
    struct Shape(Metadata);

    #[async_trait::async_trait]
    impl Array for Shape {
        fn meta(&self) -> &Metadata {
            &self.0
        }
        async fn read(&self, roi: &Roi, _ctx: &ReadCtx) -> Result<Volume, EvalError> {
            Ok(Volume::zeros(self.0.dtype, &self.0.volume_shape(roi)))
        }
    }

    fn levels_of(m: Metadata) -> Levels {
        Levels::build(&(std::sync::Arc::new(Shape(m)) as ArrayRef))
    }

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
            writable: false,
            mutable: false,
        }
    }

    #[test]
    fn halves_finest_axes_until_one_chunk() {
        let p = levels_of(meta([8, 4, 4], [3, 5, 7], [100, 300, 300]));
        let res: Vec<_> = p.levels.iter().map(|l| l.resolution).collect();
        assert_eq!(res[..4], [[8, 4, 4], [8, 8, 8], [16, 16, 16], [32, 32, 32]]);
        let last = p.levels.last().unwrap();
        assert!((0..3).all(|d| last.size[d] <= p.chunk[d]));
        assert_eq!(p.levels[0].origin, Origin::Array);
        assert!(p.levels[1..].iter().all(|l| l.origin == Origin::Computed
            && l.array.meta().type_name == "downsample"
            && l.array.meta().cache));
        // Bounds follow [floor(lo/f), ceil(hi/f)), and each level's array has them.
        assert_eq!(p.levels[1].offset, [3, 2, 3]);
        assert_eq!(p.levels[1].size, [100, 151, 151]);
        let m1 = p.levels[1].array.meta();
        assert_eq!(m1.voxel_size, Coord::from([8, 8, 8]));
        assert_eq!(m1.roi, Roi::new([24, 16, 24], [800, 1208, 1208]));
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
        let p = levels_of(meta([1, 1, 1], [0, 0, 0], [10, 20, 30]));
        assert_eq!(p.levels.len(), 1);
        assert_eq!(p.chunk, [10, 20, 30]);
        assert_eq!(served_dtype(DType::Bool), DType::U8);
        let v =
            crate::array::cast::to_served(Volume::from(ndarray::arr1(&[i64::MAX, -5]).into_dyn()));
        assert_eq!(v, Volume::from(ndarray::arr1(&[i32::MAX, -5]).into_dyn()));
    }
}
