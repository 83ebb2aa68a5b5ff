//! A volume's raw bytes (little-endian, C order) as [`Bytes`] that share the volume's
//! memory: between chunk assembly and the socket the voxels are not copied again.

use std::sync::Arc;

use bytes::Bytes;

use crate::volume::Volume;
use crate::with_volume;

/// What to do with a volume once its bytes are no longer needed.
type Then = Box<dyn FnOnce(Volume) + Send>;

/// Owns a contiguous volume and lends its elements as bytes; when dropped as the last
/// holder of the volume, hands it to `then`.
struct LeBytes {
    volume: Arc<Volume>,
    then: Option<Then>,
}

impl AsRef<[u8]> for LeBytes {
    fn as_ref(&self) -> &[u8] {
        with_volume!(&*self.volume, a => a.as_slice().map_or(&[][..], bytemuck::cast_slice))
    }
}

impl Drop for LeBytes {
    fn drop(&mut self) {
        if let (Some(then), Some(v)) = (self.then.take(), Arc::get_mut(&mut self.volume)) {
            let empty = Volume::zeros(v.dtype(), &[0]);
            then(std::mem::replace(v, empty));
        }
    }
}

fn lendable(volume: &Volume) -> bool {
    cfg!(target_endian = "little") && with_volume!(volume, a => a.as_slice().is_some())
}

/// The bytes of `volume` without a copy, when its elements are contiguous in C order and
/// the host is little-endian; `None` otherwise (then [`Volume::to_le_bytes`] copies).
#[must_use]
pub fn shared_le_bytes(volume: &Arc<Volume>) -> Option<Bytes> {
    lendable(volume).then(|| {
        Bytes::from_owner(LeBytes {
            volume: Arc::clone(volume),
            then: None,
        })
    })
}

/// The bytes of `volume` (shared when [`shared_le_bytes`] can, else copied); once they
/// are dropped, `then` gets the volume if nothing else holds it.
pub fn le_bytes_then(volume: Arc<Volume>, then: impl FnOnce(Volume) + Send + 'static) -> Bytes {
    if lendable(&volume) {
        Bytes::from_owner(LeBytes {
            volume,
            then: Some(Box::new(then)),
        })
    } else {
        Bytes::from(volume.to_le_bytes())
    }
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
