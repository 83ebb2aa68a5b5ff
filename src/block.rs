//! [`Block`]: a block of a shared [`Volume`] (a cached chunk, or part of an in-memory
//! array) that kernels read in place, a row at a time, instead of copying it out first.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::dtype::DType;
use crate::volume::{Volume, region, row_starts};
use crate::with_volume;

/// The block `begin + shape` (all axes) of a shared, C-order volume.
#[derive(Debug, Clone)]
pub struct Block {
    volume: Arc<Volume>,
    begin: Vec<usize>,
    shape: Vec<usize>,
}

/// Appends `n` default elements to `out` and returns them, to be written in place: a
/// loop over slices vectorises where `Vec::extend` over a zip of rows does not, and the
/// row is still in L1 when it is overwritten.
pub fn push_row<T: Copy + Default>(out: &mut Vec<T>, n: usize) -> &mut [T] {
    let at = out.len();
    out.resize(at + n, T::default());
    &mut out[at..]
}

/// True when the elements of `v` lie in C order in one slice.
fn contiguous(v: &Volume) -> bool {
    with_volume!(v, a => a.as_slice().is_some())
}

impl Block {
    /// All of `volume` (copied into C order first if it is not).
    #[must_use]
    pub fn whole(volume: Arc<Volume>) -> Self {
        let volume = if contiguous(&volume) {
            volume
        } else {
            Arc::new(with_volume!(&*volume, a => Volume::from(a.as_standard_layout().into_owned())))
        };
        let shape = volume.shape().to_vec();
        Self {
            begin: vec![0; shape.len()],
            shape,
            volume,
        }
    }

    /// The block `begin + shape` of `volume`, read in place when `volume` is in C order
    /// (else copied out).
    ///
    /// # Errors
    /// When the block is not inside the volume.
    pub fn new(volume: Arc<Volume>, begin: &[usize], shape: &[usize]) -> Result<Self, String> {
        if contiguous(&volume) {
            volume.check_region(begin, shape)?;
            Ok(Self {
                volume,
                begin: begin.to_vec(),
                shape: shape.to_vec(),
            })
        } else {
            Ok(Self::whole(Arc::new(volume.crop(begin, shape)?)))
        }
    }

    /// The block's shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.volume.dtype()
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the block holds no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole shared volume the block lies in (dispatch on it, then read the block
    /// with [`Block::rows_of`] or [`Block::view_of`]).
    #[must_use]
    pub fn volume(&self) -> &Volume {
        &self.volume
    }

    /// The block's rows (last axis) in C order, out of `a`, the array of [`Block::volume`].
    #[must_use]
    pub fn rows_of<'a, T>(&self, a: &'a ArrayD<T>) -> Vec<&'a [T]> {
        let (Some(all), Some(&row)) = (a.as_slice(), self.shape.last()) else {
            return Vec::new();
        };
        row_starts(a.shape(), &self.begin, &self.shape)
            .into_iter()
            .map(|at| &all[at..at + row])
            .collect()
    }

    /// The block as a (strided) view of `a`, the array of [`Block::volume`].
    #[must_use]
    pub fn view_of<'a, T>(&self, a: &'a ArrayD<T>) -> ArrayViewD<'a, T> {
        a.slice(region(&self.begin, &self.shape).as_slice())
    }

    /// `f` of every element, in C order, as an array of the block's shape.
    #[must_use]
    pub fn map_rows<T: Copy, U: Copy + Default>(
        &self,
        a: &ArrayD<T>,
        f: impl Fn(T) -> U,
    ) -> ArrayD<U> {
        let mut out = Vec::with_capacity(self.len());
        for row in self.rows_of(a) {
            for (o, &x) in push_row(&mut out, row.len()).iter_mut().zip(row) {
                *o = f(x);
            }
        }
        ArrayD::from_shape_vec(IxDyn(&self.shape), out).unwrap_or_else(|_| self.view_of(a).mapv(f))
    }

    /// The block as its own volume: the shared one when the block is all of it (copied
    /// only when someone else still holds it), else its rows copied out.
    #[must_use]
    pub fn into_volume(self) -> Volume {
        if self.shape == self.volume.shape() {
            return Volume::unshared(self.volume);
        }
        self.volume
            .crop(&self.begin, &self.shape)
            .unwrap_or_else(|_| Volume::zeros(self.volume.dtype(), &self.shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn rows_views_and_copies_agree() {
        let v = Volume::from(
            Array3::from_shape_fn((4, 5, 6), |(z, y, x)| {
                u16::try_from(z * 100 + y * 10 + x).unwrap()
            })
            .into_dyn(),
        );
        let shared = Arc::new(v.clone());
        let block = Block::new(Arc::clone(&shared), &[1, 2, 3], &[2, 3, 2]).unwrap();
        assert_eq!((block.shape(), block.len()), (&[2, 3, 2][..], 12));
        let want = v.crop(&[1, 2, 3], &[2, 3, 2]).unwrap();
        let Volume::U16(a) = block.volume() else {
            panic!("dtype")
        };
        let rows: Vec<u16> = block.rows_of(a).concat();
        assert_eq!(
            rows,
            want.to_le_bytes()
                .chunks(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect::<Vec<_>>()
        );
        assert_eq!(Volume::from(block.view_of(a).to_owned()), want);
        assert_eq!(Volume::from(block.map_rows(a, |x| x)), want);
        assert_eq!(block.clone().into_volume(), want);
        assert!(Block::new(Arc::clone(&shared), &[3, 0, 0], &[2, 1, 1]).is_err());
        drop(block);
        let whole = Block::whole(shared);
        assert_eq!(whole.into_volume(), v);
        // A transposed (not C-order) volume is made contiguous first.
        let t = Volume::from(
            Array3::from_shape_fn((2, 3, 4), |(z, y, x)| u64::try_from(z + y + x).unwrap())
                .reversed_axes()
                .into_dyn(),
        );
        let Volume::U64(_) = &t else { panic!("dtype") };
        let b = Block::new(Arc::new(t.clone()), &[1, 0, 0], &[2, 2, 1]).unwrap();
        assert_eq!(b.into_volume(), t.crop(&[1, 0, 0], &[2, 2, 1]).unwrap());
    }
}
