//! A volume's raw bytes (little-endian, C order) as [`Bytes`] that share the volume's
//! memory: between chunk assembly and the socket the voxels are not copied again.

use std::sync::Arc;

use bytes::Bytes;

use crate::volume::Volume;
use crate::with_volume;

/// Owns a contiguous volume and lends its elements as bytes.
struct LeBytes(Arc<Volume>);

impl AsRef<[u8]> for LeBytes {
    fn as_ref(&self) -> &[u8] {
        with_volume!(&*self.0, a => a.as_slice().map_or(&[][..], bytemuck::cast_slice))
    }
}

/// The bytes of `volume` without a copy, when its elements are contiguous in C order and
/// the host is little-endian; `None` otherwise (then [`Volume::to_le_bytes`] copies).
#[must_use]
pub fn shared_le_bytes(volume: &Arc<Volume>) -> Option<Bytes> {
    let contiguous = with_volume!(&**volume, a => a.as_slice().is_some());
    (cfg!(target_endian = "little") && contiguous)
        .then(|| Bytes::from_owner(LeBytes(Arc::clone(volume))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn shares_what_to_le_bytes_copies() {
        let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 5]), |i| {
            u16::try_from(i[0] * 1000 + i[1] * 10 + i[2]).unwrap()
        });
        let v = Arc::new(Volume::from(a.clone()));
        let shared = shared_le_bytes(&v).unwrap();
        assert_eq!(&shared[..], &v.to_le_bytes()[..]);
        assert_eq!(shared.len(), 60);
        let flags = Arc::new(Volume::from(a.mapv(|x| x % 2 == 1)));
        assert_eq!(
            &shared_le_bytes(&flags).unwrap()[..],
            &flags.to_le_bytes()[..]
        );
        // a transposed view is not C-contiguous: the caller copies
        let t = Arc::new(Volume::from(a.reversed_axes()));
        assert!(shared_le_bytes(&t).is_none());
    }
}
