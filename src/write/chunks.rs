//! Writing voxels into the stored chunks of one array: a chunk the write covers is
//! encoded from the new voxels alone; a border chunk is read, patched and stored again.
//! Both happen under the chunk's lock, so concurrent writers of one chunk are applied
//! one after the other and never lose each other's voxels.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ndarray::ArrayD;
use zarrs::array::Array as ZArray;
use zarrs::storage::ReadableWritableStorageTraits;

use crate::eval::EvalError;
use crate::geometry::{Coord, Roi};
use crate::grid::ChunkGrid;
use crate::metrics::Metrics;
use crate::volume::Volume;
use crate::{with_dtype, with_volume};

/// Lock stripes per array: chunks hash onto them (bounded memory for any array size).
const STRIPES: usize = 1024;

/// Per-chunk locks of one array.
#[derive(Debug)]
pub struct ChunkLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for ChunkLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl ChunkLocks {
    /// Locks chunk `idx`, recording any wait.
    fn lock(&self, idx: &[u64], metrics: &Metrics) -> MutexGuard<'_, ()> {
        let stripe = usize::try_from(xxhash_rust::xxh3::xxh3_64(bytemuck::cast_slice(idx)))
            .unwrap_or(0)
            % STRIPES;
        let m = &self.stripes[stripe];
        if let Ok(g) = m.try_lock() {
            return g;
        }
        let start = Instant::now();
        let g = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        metrics.write_lock_waits.inc();
        metrics
            .write_lock_wait_seconds
            .observe(start.elapsed().as_secs_f64());
        g
    }
}

/// One chunk of a write: its grid index and where the written voxels go (all axes,
/// stored order = served order).
#[derive(Debug, Clone)]
pub struct ChunkPart {
    /// Grid index of the stored chunk.
    pub idx: Vec<u64>,
    /// First voxel of the part inside the chunk.
    pub in_chunk: Vec<usize>,
    /// First voxel of the part inside the written volume.
    pub in_data: Vec<usize>,
    /// Extent of the part.
    pub shape: Vec<usize>,
    /// True when the part covers every stored voxel of the chunk.
    pub covers: bool,
}

/// The parts of a write of `shape` voxels at `begin` (all axes) into an array of
/// `array_shape` stored in chunks of `chunk`.
#[must_use]
pub fn parts(begin: &[u64], shape: &[u64], array_shape: &[u64], chunk: &[u64]) -> Vec<ChunkPart> {
    let i = |v: &[u64]| {
        Coord::new(
            v.iter()
                .map(|&x| i64::try_from(x).unwrap_or(i64::MAX))
                .collect(),
        )
    };
    let grid = ChunkGrid::new(Coord::splat(0, begin.len()), i(chunk));
    let cells = grid.chunks_overlapping(&Roi::new(i(begin), i(shape)));
    cells
        .iter()
        .map(|cell| {
            let n = begin.len();
            let idx: Vec<u64> = cell
                .iter()
                .map(|&c| u64::try_from(c).unwrap_or(0))
                .collect();
            let mut part = ChunkPart {
                in_chunk: Vec::with_capacity(n),
                in_data: Vec::with_capacity(n),
                shape: Vec::with_capacity(n),
                covers: true,
                idx,
            };
            for d in 0..n {
                let c0 = part.idx[d] * chunk[d];
                let c1 = (c0 + chunk[d]).min(array_shape[d]);
                let a = begin[d].max(c0);
                let b = (begin[d] + shape[d]).min(c1);
                part.covers &= a == c0 && b == c1;
                part.in_chunk.push(usize::try_from(a - c0).unwrap_or(0));
                part.in_data
                    .push(usize::try_from(a - begin[d]).unwrap_or(0));
                part.shape.push(usize::try_from(b - a).unwrap_or(0));
            }
            part
        })
        .collect()
}

/// Stores one part of `data` into its chunk under the chunk's lock; the bytes written.
///
/// # Errors
/// Storage or codec failures.
pub fn store_part(
    array: &ZArray<dyn ReadableWritableStorageTraits>,
    locks: &ChunkLocks,
    metrics: &Metrics,
    data: &Volume,
    part: &ChunkPart,
) -> Result<u64, EvalError> {
    let storage = |e: &dyn std::fmt::Display| EvalError::from_storage(e);
    let chunk_shape: Vec<usize> = array
        .chunk_shape(&part.idx)
        .map_err(|e| storage(&e))?
        .iter()
        .map(|n| usize::try_from(n.get()).unwrap_or(0))
        .collect();
    let _guard = locks.lock(&part.idx, metrics);
    let mut chunk = if part.covers {
        Volume::zeros(data.dtype(), &chunk_shape)
    } else {
        with_dtype!(data.dtype(), T => Volume::from(
            array.retrieve_chunk::<ArrayD<T>>(&part.idx).map_err(|e| storage(&e))?
        ))
    };
    chunk
        .copy_region(data, &part.in_data, &part.in_chunk, &part.shape)
        .map_err(EvalError::Internal)?;
    let bytes = u64::try_from(chunk.nbytes()).unwrap_or(u64::MAX);
    with_volume!(chunk, a => array.store_chunk(&part.idx, a)).map_err(|e| storage(&e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_write_once_and_know_border_chunks() {
        // A write of [2, 10) x [0, 8) into a 10x8 array of 4x4 chunks.
        let p = parts(&[2, 0], &[8, 8], &[10, 8], &[4, 4]);
        let idx: Vec<Vec<u64>> = p.iter().map(|p| p.idx.clone()).collect();
        assert_eq!(
            idx,
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![1, 0],
                vec![1, 1],
                vec![2, 0],
                vec![2, 1]
            ]
        );
        let covers: Vec<bool> = p.iter().map(|p| p.covers).collect();
        // Chunk row 0 is partly written; row 2 ends at the array's edge (10), so covered.
        assert_eq!(covers, vec![false, false, true, true, true, true]);
        let voxels: usize = p.iter().map(|p| p.shape.iter().product::<usize>()).sum();
        assert_eq!(voxels, 8 * 8);
        assert_eq!(p[0].in_chunk, vec![2, 0]);
        assert_eq!(p[0].in_data, vec![0, 0]);
        assert_eq!(p[4].in_data, vec![6, 0]);
        assert_eq!(p[4].shape, vec![2, 4]);
    }
}
