//! Label-id kernels: membership in id sets, per output channel.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::dtype::Element;
use crate::eval::EvalError;
use crate::volume::Volume;

/// A set of label ids, or "every id except one" when built from an empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    ids: Vec<i128>,
    excluded: Option<i128>,
    all_but_excluded: bool,
}

impl LabelSet {
    /// The ids in `ids` (duplicates ignored) minus `excluded`; an empty list means every
    /// id except `excluded`.
    #[must_use]
    pub fn new(ids: &[i128], excluded: Option<i128>) -> Self {
        let mut ids: Vec<i128> = ids
            .iter()
            .copied()
            .filter(|&i| Some(i) != excluded)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let all_but_excluded = ids.is_empty() && excluded.is_some();
        Self {
            ids,
            excluded,
            all_but_excluded,
        }
    }

    /// The ids listed (deduplicated, sorted).
    #[must_use]
    pub fn ids(&self) -> &[i128] {
        &self.ids
    }

    /// Membership test.
    #[must_use]
    #[inline]
    pub fn contains(&self, label: i128) -> bool {
        if self.all_but_excluded {
            return Some(label) != self.excluded;
        }
        match self.ids.len() {
            0 => false,
            1..=8 => self.ids.contains(&label),
            _ => self.ids.binary_search(&label).is_ok(),
        }
    }
}

/// Widens an integer or bool label volume to i128 ids and applies `f` per element.
fn map_ids<O: Copy>(labels: &Volume, f: impl Fn(i128) -> O) -> Result<ArrayD<O>, EvalError> {
    Ok(match labels {
        Volume::Bool(a) => a.mapv(|x| f(i128::from(x))),
        Volume::U8(a) => a.mapv(|x| f(i128::from(x))),
        Volume::U16(a) => a.mapv(|x| f(i128::from(x))),
        Volume::U32(a) => a.mapv(|x| f(i128::from(x))),
        Volume::U64(a) => a.mapv(|x| f(i128::from(x))),
        Volume::I8(a) => a.mapv(|x| f(i128::from(x))),
        Volume::I16(a) => a.mapv(|x| f(i128::from(x))),
        Volume::I32(a) => a.mapv(|x| f(i128::from(x))),
        Volume::I64(a) => a.mapv(|x| f(i128::from(x))),
        Volume::F32(_) | Volume::F64(_) => {
            return Err(EvalError::Internal(format!(
                "label kernel on a {} volume (registration should have refused it)",
                labels.dtype()
            )));
        }
    })
}

/// One uint8 channel per set: `out[c] = f(&sets[c], label)`, stacked on a new first axis.
///
/// # Errors
/// When `labels` is not an integer volume.
pub fn label_kernel(
    labels: &Volume,
    sets: &[LabelSet],
    f: impl Fn(&LabelSet, i128) -> u8,
) -> Result<Volume, EvalError> {
    let mut shape = vec![sets.len()];
    shape.extend_from_slice(labels.shape());
    let mut out = ArrayD::<u8>::zeros(IxDyn(&shape));
    for (c, set) in sets.iter().enumerate() {
        let channel = map_ids(labels, |l| f(set, l))?;
        out.index_axis_mut(Axis(0), c).assign(&channel);
    }
    Ok(Volume::from(out))
}

/// `label != 0` per element, as uint8 0/1 (any dtype).
#[must_use]
pub fn nonzero(volume: &Volume) -> ArrayD<u8> {
    fn of<T: Element>(a: &ArrayD<T>) -> ArrayD<u8> {
        a.mapv(|x| u8::from(x != T::default()))
    }
    crate::with_volume!(volume, a => of(a))
}

/// The largest id in an integer volume (0 for an empty one or all-negative ids).
///
/// # Errors
/// When `labels` is not an integer volume.
pub fn max_id(labels: &Volume) -> Result<u64, EvalError> {
    let ids = map_ids(labels, |l| l)?;
    Ok(ids
        .iter()
        .copied()
        .max()
        .map_or(0, |m| u64::try_from(m.max(0)).unwrap_or(u64::MAX)))
}

/// Converts an integer label volume to uint64 ids (negative ids become 0).
///
/// # Errors
/// When `labels` is not an integer volume.
pub fn to_u64_ids(labels: &Volume) -> Result<ArrayD<u64>, EvalError> {
    map_ids(labels, |l| u64::try_from(l.max(0)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn sets() {
        let s = LabelSet::new(&[1, 2, 2, 0], Some(0));
        assert!(s.contains(1) && s.contains(2) && !s.contains(0) && !s.contains(3));
        let all = LabelSet::new(&[], Some(0));
        assert!(all.contains(7) && !all.contains(0));
        let big = LabelSet::new(&(0..100).collect::<Vec<_>>(), None);
        assert!(big.contains(99) && !big.contains(100));
    }

    #[test]
    fn kernel_stacks_channels() {
        let labels = Volume::from(arr1(&[0u64, 1, 2, 3]).into_dyn());
        let sets = [LabelSet::new(&[1, 3], Some(0)), LabelSet::new(&[], Some(0))];
        let out = label_kernel(&labels, &sets, |s, l| u8::from(s.contains(l))).unwrap();
        assert_eq!(out.shape(), &[2, 4]);
        assert_eq!(out.to_le_bytes(), vec![0, 1, 0, 1, 0, 1, 1, 1]);
        assert_eq!(max_id(&labels).unwrap(), 3);
        assert!(max_id(&Volume::zeros(crate::dtype::DType::F32, &[2])).is_err());
    }
}
