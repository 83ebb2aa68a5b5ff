//! Coordinates and half-open ROIs in world units, with funlib.geometry semantics
//! (`spec/arrays.md`, "Geometry"). Spatial order is always z, y, x.

use std::fmt;
use std::ops::{Add, Deref, Div, Mul, Neg, Sub};

use serde::{Deserialize, Serialize};

/// Largest absolute world coordinate or extent anything may have: 2^48 (281 m in nm).
/// Inputs beyond it are refused where they enter (queries, configs, stored metadata),
/// so sums of a few coordinates never overflow.
pub const MAX_WORLD: i64 = 1 << 48;

/// A point or extent, one integer per spatial axis (z, y, x order).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Coord(Vec<i64>);

impl Coord {
    /// A coordinate from its components.
    #[must_use]
    pub fn new(values: Vec<i64>) -> Self {
        Self(values)
    }

    /// `value` repeated `dims` times.
    #[must_use]
    pub fn splat(value: i64, dims: usize) -> Self {
        Self(vec![value; dims])
    }

    /// Number of spatial dimensions.
    #[must_use]
    pub fn dims(&self) -> usize {
        self.0.len()
    }

    /// Product of the components (a volume in voxels or cubic units), saturating.
    #[must_use]
    pub fn product(&self) -> i64 {
        self.0.iter().fold(1, |acc, &v| acc.saturating_mul(v))
    }

    /// Applies `f` pairwise.
    #[must_use]
    pub fn zip_with(&self, other: &Self, f: impl Fn(i64, i64) -> i64) -> Self {
        debug_assert_eq!(self.dims(), other.dims(), "coordinate dims differ");
        Self(
            self.0
                .iter()
                .zip(&other.0)
                .map(|(&a, &b)| f(a, b))
                .collect(),
        )
    }

    /// Applies `f` to every component.
    #[must_use]
    pub fn map(&self, f: impl Fn(i64) -> i64) -> Self {
        Self(self.0.iter().map(|&a| f(a)).collect())
    }

    /// Component-wise product, `None` on overflow.
    #[must_use]
    pub fn checked_mul(&self, other: &Self) -> Option<Self> {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(&a, &b)| a.checked_mul(b))
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    /// True when every component lies within ±[`MAX_WORLD`].
    #[must_use]
    pub fn within_world(&self) -> bool {
        self.0
            .iter()
            .all(|v| v.unsigned_abs() <= MAX_WORLD.unsigned_abs())
    }

    /// True when every component is divisible by the matching one of `grid`.
    #[must_use]
    pub fn is_multiple_of(&self, grid: &Self) -> bool {
        self.0
            .iter()
            .zip(&grid.0)
            .all(|(&a, &g)| a.checked_rem_euclid(g) == Some(0))
    }

    /// Component-wise floor division (`i64::MAX` where dividing by zero or overflowing).
    #[must_use]
    pub fn div_floor(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| a.checked_div_euclid(b).unwrap_or(i64::MAX))
    }

    /// Component-wise ceiling division (`i64::MAX` where dividing by zero or overflowing).
    #[must_use]
    pub fn div_ceil(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| {
            a.saturating_neg()
                .checked_div_euclid(b)
                .map_or(i64::MAX, i64::saturating_neg)
        })
    }

    /// Component-wise minimum.
    #[must_use]
    pub fn min(&self, other: &Self) -> Self {
        self.zip_with(other, i64::min)
    }

    /// Component-wise maximum.
    #[must_use]
    pub fn max(&self, other: &Self) -> Self {
        self.zip_with(other, i64::max)
    }

    /// Component-wise least common multiple (both positive).
    #[must_use]
    pub fn lcm(&self, other: &Self) -> Self {
        self.zip_with(other, |a, b| {
            a.checked_div(gcd(a, b))
                .map_or(i64::MAX, |q| q.saturating_mul(b))
        })
    }

    /// The components as a vector.
    #[must_use]
    pub fn to_vec(&self) -> Vec<i64> {
        self.0.clone()
    }

    /// The components as unsigned sizes; negative values clamp to zero.
    #[must_use]
    pub fn to_usize(&self) -> Vec<usize> {
        self.0
            .iter()
            .map(|&v| usize::try_from(v).unwrap_or(0))
            .collect()
    }
}

/// Greatest common divisor of two non-negative integers.
#[must_use]
pub fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Deref for Coord {
    type Target = [i64];
    fn deref(&self) -> &[i64] {
        &self.0
    }
}

impl From<Vec<i64>> for Coord {
    fn from(v: Vec<i64>) -> Self {
        Self(v)
    }
}

impl<const N: usize> From<[i64; N]> for Coord {
    fn from(v: [i64; N]) -> Self {
        Self(v.to_vec())
    }
}

impl fmt::Debug for Coord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Coord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v}")?;
        }
        write!(f, ")")
    }
}

/// Component-wise arithmetic saturates: an overflow becomes `i64::MAX`/`MIN`, which every
/// bounds check ([`Roi::check_world`]) refuses, instead of wrapping to a plausible value.
macro_rules! coord_op {
    ($tr:ident, $m:ident, $op:ident) => {
        impl $tr<&Coord> for &Coord {
            type Output = Coord;
            fn $m(self, rhs: &Coord) -> Coord {
                self.zip_with(rhs, i64::$op)
            }
        }
    };
}
coord_op!(Add, add, saturating_add);
coord_op!(Sub, sub, saturating_sub);
coord_op!(Mul, mul, saturating_mul);

impl Div<&Coord> for &Coord {
    type Output = Coord;
    /// Floor division, as funlib's `//` on coordinates.
    fn div(self, rhs: &Coord) -> Coord {
        self.div_floor(rhs)
    }
}

impl Neg for &Coord {
    type Output = Coord;
    fn neg(self) -> Coord {
        self.map(i64::saturating_neg)
    }
}

/// Whether snapping grows (begin floored, end ceiled) or shrinks the ROI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snap {
    /// Begin floored and end ceiled to the grid.
    Grow,
    /// Begin ceiled and end floored to the grid.
    Shrink,
}

/// A half-open box `[offset, offset + shape)` in world units.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Roi {
    /// Begin, z,y,x.
    pub offset: Coord,
    /// Extent, z,y,x.
    pub shape: Coord,
}

impl Roi {
    /// A ROI from offset and shape.
    #[must_use]
    pub fn new(offset: impl Into<Coord>, shape: impl Into<Coord>) -> Self {
        Self {
            offset: offset.into(),
            shape: shape.into(),
        }
    }

    /// A ROI from begin and (exclusive) end.
    #[must_use]
    pub fn from_bounds(begin: Coord, end: &Coord) -> Self {
        let shape = end - &begin;
        Self {
            offset: begin,
            shape,
        }
    }

    /// Number of spatial dimensions.
    #[must_use]
    pub fn dims(&self) -> usize {
        self.offset.dims()
    }

    /// Exclusive end.
    #[must_use]
    pub fn end(&self) -> Coord {
        &self.offset + &self.shape
    }

    /// Empty if any shape component is <= 0.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shape.iter().any(|&s| s <= 0)
    }

    /// True when `other` lies within this ROI (an empty ROI is contained anywhere).
    #[must_use]
    pub fn contains(&self, other: &Roi) -> bool {
        if other.is_empty() {
            return true;
        }
        let (end, oend) = (self.end(), other.end());
        (0..self.dims()).all(|d| other.offset[d] >= self.offset[d] && oend[d] <= end[d])
    }

    /// The overlap of two ROIs; empty (zero shape) when they do not overlap.
    #[must_use]
    pub fn intersect(&self, other: &Roi) -> Roi {
        let begin = self.offset.max(&other.offset);
        let end = self.end().min(&other.end()).max(&begin);
        Roi::from_bounds(begin, &end)
    }

    /// Snaps begin and end to multiples of `grid` (funlib `snap_to_grid`).
    #[must_use]
    pub fn snap_to_grid(&self, grid: &Coord, mode: Snap) -> Roi {
        let (begin, end) = match mode {
            Snap::Grow => (
                &self.offset.div_floor(grid) * grid,
                &self.end().div_ceil(grid) * grid,
            ),
            Snap::Shrink => (
                &self.offset.div_ceil(grid) * grid,
                &self.end().div_floor(grid) * grid,
            ),
        };
        let end = end.max(&begin);
        Roi::from_bounds(begin, &end)
    }

    /// Grows by `before` at the begin and `after` at the end (negative shrinks).
    #[must_use]
    pub fn grow(&self, before: &Coord, after: &Coord) -> Roi {
        let begin = &self.offset - before;
        let end = &self.end() + after;
        Roi::from_bounds(begin, &end)
    }

    /// Moves the ROI by `by`.
    #[must_use]
    pub fn shift(&self, by: &Coord) -> Roi {
        Roi::new(&self.offset + by, self.shape.clone())
    }

    /// True when offset and shape are multiples of `voxel_size`.
    #[must_use]
    pub fn is_aligned(&self, voxel_size: &Coord) -> bool {
        self.offset.is_multiple_of(voxel_size) && self.shape.is_multiple_of(voxel_size)
    }

    /// Checks that offset, shape and end lie within ±[`MAX_WORLD`] and the shape is
    /// not negative.
    ///
    /// # Errors
    /// A reason naming the bound.
    pub fn check_world(&self) -> Result<(), String> {
        let end_ok = self
            .offset
            .iter()
            .zip(self.shape.iter())
            .all(|(&o, &s)| o.checked_add(s).is_some_and(|e| e.abs() <= MAX_WORLD));
        if self.offset.within_world() && self.shape.within_world() && end_ok {
            if self.shape.iter().any(|&s| s < 0) {
                return Err(format!("ROI {self} has a negative shape"));
            }
            Ok(())
        } else {
            Err(format!(
                "ROI offset {} shape {} reaches beyond ±2^48 world units, the largest extent this server handles",
                self.offset, self.shape
            ))
        }
    }

    /// A voxel-unit ROI scaled up to world units.
    #[must_use]
    pub fn to_world(&self, voxel_size: &Coord) -> Roi {
        Roi::new(&self.offset * voxel_size, &self.shape * voxel_size)
    }
}

/// A half-open 3-D box of absolute voxel indices `[begin, end)`, z,y,x: one level's
/// voxels, a chunk of a view, or the input a reduction reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Box3 {
    /// First voxel.
    pub begin: [i64; 3],
    /// One past the last voxel.
    pub end: [i64; 3],
}

impl Box3 {
    /// Extent per axis (0 where empty).
    #[must_use]
    pub fn shape(&self) -> [usize; 3] {
        [0, 1, 2].map(|d| usize::try_from(self.end[d] - self.begin[d]).unwrap_or(0))
    }

    /// The overlap of two boxes (possibly empty).
    #[must_use]
    pub fn intersect(&self, other: &Box3) -> Box3 {
        let begin = [0, 1, 2].map(|d| self.begin[d].max(other.begin[d]));
        let end = [0, 1, 2].map(|d| self.end[d].min(other.end[d]).max(begin[d]));
        Box3 { begin, end }
    }

    /// True when the boxes share no voxel.
    #[must_use]
    pub fn is_disjoint(&self, other: &Box3) -> bool {
        (0..3).any(|d| self.end[d] <= other.begin[d] || self.begin[d] >= other.end[d])
    }

    /// The box of `extent` voxels per axis starting at `begin`.
    #[must_use]
    pub fn sized(begin: [i64; 3], extent: [i64; 3]) -> Box3 {
        Box3 {
            begin,
            end: [0, 1, 2].map(|d| begin[d].saturating_add(extent[d])),
        }
    }

    /// Signed extent per axis (`end - begin`).
    #[must_use]
    pub fn extent(&self) -> [i64; 3] {
        [0, 1, 2].map(|d| self.end[d] - self.begin[d])
    }

    /// Number of voxels (0 when empty), saturating.
    #[must_use]
    pub fn voxels(&self) -> i64 {
        self.extent()
            .iter()
            .fold(1, |acc, &e| acc.saturating_mul(e.max(0)))
    }

    /// True when the box holds no voxel.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        (0..3).any(|d| self.end[d] <= self.begin[d])
    }

    /// True when voxel `p` lies inside.
    #[must_use]
    pub fn contains_point(&self, p: [i64; 3]) -> bool {
        (0..3).all(|d| p[d] >= self.begin[d] && p[d] < self.end[d])
    }
}

impl fmt::Debug for Roi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Roi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}..{}) shape {}", self.offset, self.end(), self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roi3() -> impl Strategy<Value = Roi> {
        (
            prop::array::uniform3(-50i64..50),
            prop::array::uniform3(0i64..40),
        )
            .prop_map(|(o, s)| Roi::new(o, s))
    }

    #[test]
    fn funlib_examples() {
        let r = Roi::new([1, 5, 7], [10, 10, 10]);
        assert_eq!(
            r.snap_to_grid(&Coord::from([4, 4, 4]), Snap::Grow),
            Roi::new([0, 4, 4], [12, 12, 16])
        );
        assert_eq!(
            r.snap_to_grid(&Coord::from([4, 4, 4]), Snap::Shrink),
            Roi::new([4, 8, 8], [4, 4, 8])
        );
        assert_eq!(
            r.intersect(&Roi::new([5, 0, 0], [100, 8, 100])),
            Roi::new([5, 5, 7], [6, 3, 10])
        );
        assert!(
            r.intersect(&Roi::new([100, 100, 100], [1, 1, 1]))
                .is_empty()
        );
        assert_eq!(
            Roi::new([-3, 0, 0], [3, 1, 1]).snap_to_grid(&Coord::from([2, 2, 2]), Snap::Grow),
            Roi::new([-4, 0, 0], [4, 2, 2])
        );
    }

    #[test]
    fn world_bounds_refuse_what_would_overflow() {
        assert!(Roi::new([0, 0, 0], [MAX_WORLD, 1, 1]).check_world().is_ok());
        assert!(
            Roi::new([1, 0, 0], [MAX_WORLD, 1, 1])
                .check_world()
                .is_err()
        );
        assert!(Roi::new([i64::MIN, 0, 0], [1, 1, 1]).check_world().is_err());
        assert!(Roi::new([0, 0, 0], [i64::MAX, 1, 1]).check_world().is_err());
        assert!(Roi::new([0, 0, 0], [-1, 1, 1]).check_world().is_err());
        let big = Coord::from([i64::MAX / 2, 3, 1]);
        let wrapped = &big * &Coord::from([3, 1, 1]);
        assert_eq!(wrapped[0], i64::MAX, "saturates instead of wrapping");
        assert!(Roi::new([0, 0, 0], wrapped).check_world().is_err());
        assert_eq!(big.checked_mul(&Coord::from([3, 1, 1])), None);
        assert_eq!(
            Coord::from([2, 3]).checked_mul(&Coord::from([4, 5])),
            Some(Coord::from([8, 15]))
        );
    }

    proptest! {
        #[test]
        fn intersect_commutes(a in roi3(), b in roi3()) {
            let (ab, ba) = (a.intersect(&b), b.intersect(&a));
            prop_assert_eq!(ab.is_empty(), ba.is_empty());
            if !ab.is_empty() {
                prop_assert_eq!(&ab, &ba);
                prop_assert!(a.contains(&ab) && b.contains(&ab));
            }
        }

        #[test]
        fn grow_contains_roi_contains_shrink(r in roi3(), g in prop::array::uniform3(1i64..9)) {
            let g = Coord::from(g);
            let grown = r.snap_to_grid(&g, Snap::Grow);
            let shrunk = r.snap_to_grid(&g, Snap::Shrink);
            prop_assert!(grown.contains(&r));
            prop_assert!(r.contains(&shrunk));
            prop_assert!(grown.is_aligned(&g));
            prop_assert!(shrunk.is_aligned(&g));
            // Growing by the snap remainder is the smallest aligned cover.
            let over = &grown.shape - &r.shape;
            prop_assert!(over.iter().zip(g.iter()).all(|(&o, &gg)| o < 2 * gg));
        }

        #[test]
        fn grow_then_shrink_round_trips(r in roi3(), a in prop::array::uniform3(0i64..5), b in prop::array::uniform3(0i64..5)) {
            let (a, b) = (Coord::from(a), Coord::from(b));
            let back = r.grow(&a, &b).grow(&-&a, &-&b);
            prop_assert_eq!(back, r);
        }
    }
}
