//! Regular chunk grids in world units: the unit of caching and of every chunked view
//! (`spec/api.md`, "Evaluation and the cache").

use serde::Serialize;

use crate::geometry::{Coord, Roi};

/// A regular grid of chunks: cell `i` covers `[origin + i*chunk, origin + (i+1)*chunk)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ChunkGrid {
    /// World coordinate where cell 0 begins.
    pub origin: Coord,
    /// Cell extent in world units (a multiple of the voxel size).
    pub chunk: Coord,
}

impl ChunkGrid {
    /// A grid from origin and chunk extent (world units).
    #[must_use]
    pub fn new(origin: Coord, chunk: Coord) -> Self {
        Self { origin, chunk }
    }

    /// A grid of `chunk_voxels` voxels of size `voxel_size`, starting at `origin`.
    #[must_use]
    pub fn from_voxels(origin: Coord, chunk_voxels: &Coord, voxel_size: &Coord) -> Self {
        Self::new(origin, chunk_voxels * voxel_size)
    }

    /// The chunk extent in voxels.
    #[must_use]
    pub fn chunk_voxels(&self, voxel_size: &Coord) -> Coord {
        &self.chunk / voxel_size
    }

    /// The world ROI of cell `idx` (not clipped to any array).
    #[must_use]
    pub fn chunk_roi(&self, idx: &Coord) -> Roi {
        Roi::new(&self.origin + &(idx * &self.chunk), self.chunk.clone())
    }

    /// First and one-past-last cell indices touched by `roi` (empty range for an empty ROI).
    #[must_use]
    pub fn index_bounds(&self, roi: &Roi) -> (Coord, Coord) {
        let begin = (&roi.offset - &self.origin).div_floor(&self.chunk);
        if roi.is_empty() {
            return (begin.clone(), begin);
        }
        let end = (&roi.end() - &self.origin).div_ceil(&self.chunk);
        (begin, end)
    }

    /// How many cells overlap `roi` (saturating; computed without listing them).
    #[must_use]
    pub fn count_overlapping(&self, roi: &Roi) -> u128 {
        let (begin, end) = self.index_bounds(roi);
        begin
            .iter()
            .zip(end.iter())
            .try_fold(1u128, |acc, (&b, &e)| {
                acc.checked_mul(u128::try_from(e.saturating_sub(b)).unwrap_or(0))
            })
            .unwrap_or(u128::MAX)
    }

    /// All cell indices that overlap `roi`, in C order.
    #[must_use]
    pub fn chunks_overlapping(&self, roi: &Roi) -> Vec<Coord> {
        let (begin, end) = self.index_bounds(roi);
        let mut out = Vec::new();
        if (0..begin.dims()).any(|d| end[d] <= begin[d]) {
            return out;
        }
        let mut cur = begin.to_vec();
        loop {
            out.push(Coord::new(cur.clone()));
            let mut d = cur.len();
            loop {
                if d == 0 {
                    return out;
                }
                d -= 1;
                cur[d] += 1;
                if cur[d] < end[d] {
                    break;
                }
                cur[d] = begin[d];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cover_roi_exactly_once() {
        let g = ChunkGrid::new(Coord::from([4, 8, 8]), Coord::from([40, 48, 48]));
        let roi = Roi::new([8, 24, 76], [40, 44, 56]);
        let cells = g.chunks_overlapping(&roi);
        assert_eq!(cells.len(), 2 * 2 * 2);
        assert_eq!(g.count_overlapping(&roi), 8);
        assert_eq!(cells[0], Coord::from([0, 0, 1]));
        let covered: i64 = cells
            .iter()
            .map(|c| g.chunk_roi(c).intersect(&roi).shape.product())
            .sum();
        assert_eq!(covered, roi.shape.product());
        assert!(
            g.chunks_overlapping(&Roi::new([0, 0, 0], [0, 5, 5]))
                .is_empty()
        );
    }

    #[test]
    fn negative_side_of_origin() {
        let g = ChunkGrid::new(Coord::from([0, 0]), Coord::from([10, 10]));
        let (b, e) = g.index_bounds(&Roi::new([-15, 0], [20, 10]));
        assert_eq!((b, e), (Coord::from([-2, 0]), Coord::from([1, 1])));
    }
}
