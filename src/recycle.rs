//! [`Recycler`]: the buffers of big assembled reads, given back once their bytes are on
//! the wire and handed to the next read of the same size, so a big ROI does not fault in
//! fresh pages for every request.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use crate::dtype::DType;
use crate::encode::raw::le_bytes_then;
use crate::volume::Volume;
use crate::with_volume;

/// Most bytes kept for reuse: eight slabs of the largest size (`eval::MAX_SLAB_BYTES`).
pub const DEFAULT_CAPACITY: usize = 64 << 20;

/// A bounded pool of free volumes, shared by every read.
#[derive(Debug, Clone)]
pub struct Recycler(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    free: Mutex<Vec<Volume>>,
    capacity: usize,
}

impl Default for Recycler {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Recycler {
    /// A pool holding at most `capacity` bytes of free volumes.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self(Arc::new(Inner {
            free: Mutex::new(Vec::new()),
            capacity,
        }))
    }

    /// The pool for a server with `inflight` bytes of responses in flight: a quarter of
    /// that, at most [`DEFAULT_CAPACITY`].
    #[must_use]
    pub fn within(inflight: u64) -> Self {
        Self::new(
            usize::try_from(inflight / 4).map_or(DEFAULT_CAPACITY, |q| q.min(DEFAULT_CAPACITY)),
        )
    }

    /// A `dtype` volume of `shape`: a free one of that size when there is one, else fresh
    /// zeros. A reused volume is zeroed again unless `covered` (the caller writes every
    /// voxel), so nothing of an earlier read can be seen.
    #[must_use]
    pub fn take(&self, dtype: DType, shape: &[usize], covered: bool) -> Volume {
        let len: usize = shape.iter().product();
        let found = {
            let mut free = self.0.free.lock().unwrap_or_else(PoisonError::into_inner);
            let at = free
                .iter()
                .position(|v| v.dtype() == dtype && v.len() == len);
            at.map(|i| free.swap_remove(i))
        };
        let Some(Ok(mut v)) = found.map(|v| v.reshaped(shape)) else {
            return Volume::zeros(dtype, shape);
        };
        if !covered {
            with_volume!(&mut v, a => a.fill(Default::default()));
        }
        v
    }

    /// Bytes in the pool now.
    #[cfg(test)]
    fn held(&self) -> usize {
        bytes_in(&self.0.free.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Keeps `v` (contiguous: [`Recycler::bytes`] lends only such) for a later
    /// [`Recycler::take`] if it fits.
    fn give_back(&self, v: Volume) {
        let mut free = self.0.free.lock().unwrap_or_else(PoisonError::into_inner);
        if !v.is_empty() && bytes_in(&free) + v.nbytes() <= self.0.capacity {
            free.push(v);
        }
    }

    /// The bytes of `volume` (little-endian, C order), without a copy when it is
    /// contiguous; when they are dropped and nothing else holds `volume`, it comes back
    /// to this pool.
    #[must_use]
    pub fn bytes(&self, volume: Arc<Volume>) -> Bytes {
        let pool = self.clone();
        le_bytes_then(volume, move |v| pool.give_back(v))
    }
}

fn bytes_in(free: &[Volume]) -> usize {
    free.iter().map(Volume::nbytes).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn ramp(shape: &[usize]) -> Volume {
        Volume::from(ArrayD::from_shape_fn(IxDyn(shape), |i| {
            u16::try_from(i[0] * 100 + i[1]).unwrap()
        }))
    }

    #[test]
    fn a_sent_volume_comes_back_zeroed_unless_covered() {
        let pool = Recycler::new(1 << 10);
        let v = Arc::new(ramp(&[4, 8]));
        let expected = v.to_le_bytes();
        let body = pool.bytes(v.clone());
        assert_eq!(&body[..], &expected[..]);
        drop(v);
        assert_eq!(pool.held(), 0, "still lent to the body");
        drop(body);
        assert_eq!(pool.held(), 64);

        // another size or dtype: fresh zeros, the free one stays
        assert_eq!(
            pool.take(DType::U16, &[3, 8], false),
            Volume::zeros(DType::U16, &[3, 8])
        );
        assert_eq!(
            pool.take(DType::I16, &[4, 8], false),
            Volume::zeros(DType::I16, &[4, 8])
        );
        assert_eq!(pool.held(), 64);

        // same length, new shape, not covered: zeroed
        let again = pool.take(DType::U16, &[8, 4], false);
        assert_eq!(again, Volume::zeros(DType::U16, &[8, 4]));
        assert_eq!(pool.held(), 0);
        drop(pool.bytes(Arc::new(again)));

        // covered (the caller writes every voxel): handed out as it is
        let kept = pool.bytes(Arc::new(ramp(&[4, 8])));
        drop(kept);
        let reused = pool.take(DType::U16, &[4, 8], true);
        assert_eq!(reused.shape(), &[4, 8]);
        assert_eq!(pool.held(), 64, "one of the two came back out");
    }

    #[test]
    fn the_pool_is_bounded_and_shared_volumes_stay_with_their_owner() {
        let pool = Recycler::new(100);
        drop(pool.bytes(Arc::new(ramp(&[4, 8]))));
        drop(pool.bytes(Arc::new(ramp(&[4, 8]))));
        assert_eq!(
            pool.held(),
            64,
            "a second 64-byte volume would pass 100 bytes"
        );
        let cached = Arc::new(ramp(&[2, 8]));
        drop(pool.bytes(cached.clone()));
        assert_eq!(
            pool.held(),
            64,
            "a volume still held elsewhere is not taken"
        );
        assert_eq!(cached.len(), 16);
        assert_eq!(Recycler::within(100).0.capacity, 25);
        assert_eq!(Recycler::within(1 << 40).0.capacity, DEFAULT_CAPACITY);
    }
}
