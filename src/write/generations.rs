//! Write generations of one stored array: a number per chunk of its grid that grows with
//! every acknowledged write of that chunk. Cache keys and ETags of the array, of every
//! chain over it and of every level carry the generation of the region they depend on,
//! so a write makes exactly the entries over the written chunks unreachable, and
//! everything else stays cached under its old ETag.
//!
//! Untouched chunks have the array's epoch, a number taken when the server opened the
//! array for writing, so ETags from before a restart never match chunks written since.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::geometry::{Coord, Roi};
use crate::grid::ChunkGrid;

/// Generations per chunk of one stored array.
#[derive(Debug)]
pub struct Generations {
    grid: ChunkGrid,
    epoch: AtomicU64,
    next: AtomicU64,
    written: RwLock<HashMap<Coord, u64>>,
}

impl Generations {
    /// Generations over `grid` (world units), all at a fresh epoch.
    #[must_use]
    pub fn new(grid: ChunkGrid) -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        Self {
            grid,
            epoch: AtomicU64::new(epoch),
            next: AtomicU64::new(epoch),
            written: RwLock::default(),
        }
    }

    /// The grid the generations are kept on.
    #[must_use]
    pub fn grid(&self) -> &ChunkGrid {
        &self.grid
    }

    /// The largest generation of the chunks `roi` (world units) touches.
    #[must_use]
    pub fn of(&self, roi: &Roi) -> u64 {
        let written = self.written.read().unwrap_or_else(|p| p.into_inner());
        let epoch = self.epoch.load(Ordering::Acquire);
        if written.is_empty() || roi.is_empty() {
            return epoch;
        }
        let (begin, end) = self.grid.index_bounds(roi);
        let inside = |c: &Coord| (0..c.dims()).all(|d| (begin[d]..end[d]).contains(&c[d]));
        // Whichever is smaller: the written chunks or the chunks of the ROI.
        let max = if self.grid.count_overlapping(roi) > written.len() as u128 {
            written
                .iter()
                .filter(|(c, _)| inside(c))
                .map(|(_, g)| *g)
                .max()
        } else {
            self.grid
                .chunks_overlapping(roi)
                .iter()
                .filter_map(|c| written.get(c).copied())
                .max()
        };
        max.unwrap_or(epoch)
    }

    /// Marks the chunks `cells` written (their new data is durable); returns their new
    /// generation.
    pub fn bump(&self, cells: &[Coord]) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::AcqRel) + 1;
        let mut written = self.written.write().unwrap_or_else(|p| p.into_inner());
        for c in cells {
            written.insert(c.clone(), generation);
        }
        generation
    }

    /// Marks the chunks `roi` (world units) touches written; returns their generation.
    pub fn bump_roi(&self, roi: &Roi) -> u64 {
        self.bump(&self.grid.chunks_overlapping(roi))
    }

    /// Marks every chunk written (what changed is unknown); returns the new generation.
    pub fn bump_all(&self) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::AcqRel) + 1;
        let mut written = self.written.write().unwrap_or_else(|p| p.into_inner());
        written.clear();
        self.epoch.store(generation, Ordering::Release);
        generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rois_over_written_chunks_change() {
        let g = Generations::new(ChunkGrid::new(Coord::from([0, 0]), Coord::from([10, 10])));
        let a = Roi::new([0, 0], [10, 10]);
        let b = Roi::new([10, 0], [10, 10]);
        let both = Roi::new([0, 0], [20, 20]);
        let (a0, b0) = (g.of(&a), g.of(&b));
        assert_eq!(a0, b0);
        let w = g.bump(&[Coord::from([1, 0])]);
        assert!(w > b0);
        assert_eq!(g.of(&a), a0);
        assert_eq!(g.of(&b), w);
        assert_eq!(g.of(&both), w);
        // A ROI covering many chunks scans the written ones instead.
        assert_eq!(g.of(&Roi::new([0, 0], [1000, 1000])), w);
        assert_eq!(g.of(&Roi::new([100, 100], [1000, 1000])), a0);
        let w2 = g.bump(&[Coord::from([0, 0])]);
        assert!(w2 > w);
        assert_eq!(g.of(&both), w2);
        assert_eq!(g.of(&b), w);
        let all = g.bump_all();
        assert!(all > w2);
        assert_eq!(g.of(&a), all);
        assert_eq!(g.of(&Roi::new([500, 500], [10, 10])), all);
    }
}
