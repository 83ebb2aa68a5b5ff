//! Label-id kernels: membership in id sets, per output channel.

use ndarray::{ArrayD, IxDyn};

use crate::block::{Block, push_row};
use crate::dtype::Element;
use crate::eval::EvalError;
use crate::volume::{Volume, VolumeElement};

/// Which label ids an output channel is 1 for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelSet {
    /// These ids (sorted, deduplicated, never empty).
    Ids(Vec<i128>),
    /// Every id but this one.
    AllBut(i128),
    /// Every id above 0.
    Positive,
    /// No id.
    Nothing,
}

impl LabelSet {
    /// The ids in `ids` (duplicates ignored) minus `excluded`; an empty list means every
    /// id except `excluded` (nothing without one).
    #[must_use]
    pub fn new(ids: &[i128], excluded: Option<i128>) -> Self {
        let mut ids: Vec<i128> = ids
            .iter()
            .copied()
            .filter(|&i| Some(i) != excluded)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        match (ids.is_empty(), excluded) {
            (false, _) => Self::Ids(ids),
            (true, Some(e)) => Self::AllBut(e),
            (true, None) => Self::Nothing,
        }
    }

    /// Membership test.
    #[must_use]
    pub fn contains(&self, label: i128) -> bool {
        match self {
            Self::Ids(ids) => ids.binary_search(&label).is_ok(),
            Self::AllBut(e) => label != *e,
            Self::Positive => label > 0,
            Self::Nothing => false,
        }
    }

    /// The set in the labels' own type `T` (ids that `T` cannot hold dropped).
    fn native<T: LabelId>(&self) -> Native<T> {
        let native = |i: &i128| T::try_from(*i).ok();
        match self {
            Self::Ids(ids) => Native::Ids(ids.iter().filter_map(native).collect()),
            Self::AllBut(e) => native(e).map_or(Native::All, Native::AllBut),
            Self::Positive => Native::Positive,
            Self::Nothing => Native::Nothing,
        }
    }
}

/// A [`LabelSet`] in the labels' own type.
enum Native<T> {
    /// These ids (sorted).
    Ids(Vec<T>),
    /// Every id but this one.
    AllBut(T),
    /// Every id.
    All,
    /// Every id above 0.
    Positive,
    /// No id.
    Nothing,
}

impl<T: LabelId> Native<T> {
    /// Writes `out[i] = contains(labels[i])` as 0/1, in `T` without widening, one pass.
    fn fill(&self, labels: &[T], out: &mut [u8]) {
        match self {
            Self::Ids(ids) => fill_runs(labels, out, |x| u8::from(ids.binary_search(x).is_ok())),
            Self::AllBut(e) => {
                for (o, &x) in out.iter_mut().zip(labels) {
                    *o = u8::from(x != *e);
                }
            }
            Self::All => out.fill(1),
            Self::Positive => {
                for (o, &x) in out.iter_mut().zip(labels) {
                    *o = u8::from(x > T::default());
                }
            }
            Self::Nothing => out.fill(0),
        }
    }
}

/// Labels tested together by [`fill_runs`]: a block whose labels are all equal is
/// looked up once and written with one store.
const RUN_BLOCK: usize = 8;

/// `out[i] = member(&labels[i])`, with `member` called once per run of equal labels (label
/// volumes are piecewise constant); uniform blocks of [`RUN_BLOCK`] are tested branch-free.
fn fill_runs<T: LabelId>(labels: &[T], out: &mut [u8], member: impl Fn(&T) -> u8) {
    let Some(&first) = labels.first() else { return };
    let (mut run, mut bit) = (first, member(&first));
    let scalar = |o: &mut [u8], l: &[T], run: &mut T, bit: &mut u8| {
        for (o, &x) in o.iter_mut().zip(l) {
            if x != *run {
                (*run, *bit) = (x, member(&x));
            }
            *o = *bit;
        }
    };
    let mut outs = out.chunks_exact_mut(RUN_BLOCK);
    let mut ins = labels.chunks_exact(RUN_BLOCK);
    for (o, l) in (&mut outs).zip(&mut ins) {
        let head = l[0];
        if l.iter().fold(true, |all, &x| all & (x == head)) {
            if head != run {
                (run, bit) = (head, member(&head));
            }
            o.fill(bit);
        } else {
            scalar(o, l, &mut run, &mut bit);
        }
    }
    scalar(outs.into_remainder(), ins.remainder(), &mut run, &mut bit);
}

/// An integer element type label ids are read in.
trait LabelId: VolumeElement + Ord + Into<i128> + TryFrom<i128> {
    /// The id as uint64, negative ids as 0 (no widening to i128).
    fn positive_id(self) -> u64;
}

/// [`LabelId`] for the unsigned and the signed integer types.
macro_rules! label_ids {
    (unsigned: $($u:ty),*; signed: $($i:ty),*) => {
        $(impl LabelId for $u {
            #[inline]
            fn positive_id(self) -> u64 {
                u64::from(self)
            }
        })*
        $(impl LabelId for $i {
            #[inline]
            #[allow(clippy::cast_sign_loss, reason = "clamped to 0 first")]
            fn positive_id(self) -> u64 {
                self.max(0) as u64
            }
        })*
    };
}
label_ids!(unsigned: u8, u16, u32, u64; signed: i8, i16, i32, i64);

/// A computation over an integer label volume, generic in its element type.
trait OverLabels {
    /// The result.
    type Out;
    /// Runs on the labels, given as their rows in C order (`len` labels in all).
    fn run<T: LabelId>(self, rows: &[&[T]], len: usize) -> Self::Out;
}

/// Runs `job` over `labels` in their own dtype (bool as uint8), read in place.
fn over_labels<J: OverLabels>(labels: &Block, job: J) -> Result<J::Out, EvalError> {
    fn flat<T: LabelId, J: OverLabels>(labels: &Block, a: &ArrayD<T>, job: J) -> J::Out {
        job.run(&labels.rows_of(a), labels.len())
    }
    Ok(match labels.volume() {
        Volume::Bool(a) => {
            let bytes = labels.map_rows(a, u8::from);
            job.run(&[bytes.as_slice().unwrap_or_default()], bytes.len())
        }
        Volume::U8(a) => flat(labels, a, job),
        Volume::U16(a) => flat(labels, a, job),
        Volume::U32(a) => flat(labels, a, job),
        Volume::U64(a) => flat(labels, a, job),
        Volume::I8(a) => flat(labels, a, job),
        Volume::I16(a) => flat(labels, a, job),
        Volume::I32(a) => flat(labels, a, job),
        Volume::I64(a) => flat(labels, a, job),
        Volume::F32(_) | Volume::F64(_) => {
            return Err(EvalError::Internal(format!(
                "label kernel on a {} volume (registration should have refused it)",
                labels.dtype()
            )));
        }
    })
}

/// `flat` in C order as an array of `shape`, after a channel axis if given.
fn shaped<T>(
    channels: Option<usize>,
    shape: &[usize],
    flat: Vec<T>,
) -> Result<ArrayD<T>, EvalError> {
    let shape: Vec<usize> = channels.into_iter().chain(shape.iter().copied()).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), flat)
        .map_err(|e| EvalError::Internal(format!("label kernel: {e}")))
}

/// One uint8 0/1 channel per set (`out[c] = sets[c].contains(label)`), stacked on a new
/// first axis; computed in the labels' own dtype, one pass per set.
///
/// # Errors
/// When `labels` is not an integer or bool volume.
pub fn label_kernel(labels: &Block, sets: &[LabelSet]) -> Result<Volume, EvalError> {
    struct Channels<'a>(&'a [LabelSet]);
    impl OverLabels for Channels<'_> {
        type Out = Vec<u8>;
        fn run<T: LabelId>(self, rows: &[&[T]], len: usize) -> Vec<u8> {
            let sets: Vec<Native<T>> = self.0.iter().map(LabelSet::native).collect();
            let mut out = vec![0u8; sets.len() * len];
            // Row by row, every set in turn: the labels are read from memory once.
            let mut at = 0;
            for row in rows {
                for (set, o) in sets.iter().zip(out.chunks_exact_mut(len.max(1))) {
                    set.fill(row, &mut o[at..at + row.len()]);
                }
                at += row.len();
            }
            out
        }
    }
    let flat = over_labels(labels, Channels(sets))?;
    shaped(Some(sets.len()), labels.shape(), flat).map(Volume::from)
}

/// `merge_instances` of already-read parts: `Σ (label > 0 ? label + offset : 0)` in
/// uint64 (wrapping), one pass per part.
///
/// # Errors
/// No parts, or a part that is not an integer or bool volume.
pub fn merge_shifted(parts: &[Block], offsets: &[u64]) -> Result<Volume, EvalError> {
    /// Starts the accumulator from the shifted labels of these rows, and of `next` (a
    /// part of the same dtype, in the same pass) when given; says whether `next` was used.
    struct Start<'a>(&'a mut Vec<u64>, u64, Option<(&'a Block, u64)>);
    impl OverLabels for Start<'_> {
        type Out = bool;
        fn run<T: LabelId>(self, rows: &[&[T]], _len: usize) -> bool {
            let Start(acc, off, next) = self;
            let pair = next.and_then(|(b, off_b)| Some((b, T::view_of(b.volume())?, off_b)));
            if let Some((b, typed, off_b)) = pair {
                for (x, y) in rows.iter().zip(b.rows_of(typed)) {
                    let row = push_row(acc, x.len().min(y.len()));
                    for ((o, &p), &q) in row.iter_mut().zip(*x).zip(y) {
                        *o = shifted(p, off).wrapping_add(shifted(q, off_b));
                    }
                }
                return true;
            }
            for row in rows {
                for (o, &x) in push_row(acc, row.len()).iter_mut().zip(*row) {
                    *o = shifted(x, off);
                }
            }
            false
        }
    }
    /// Adds the shifted labels into the accumulator.
    struct AddShifted<'a>(&'a mut [u64], u64);
    impl OverLabels for AddShifted<'_> {
        type Out = ();
        fn run<T: LabelId>(self, rows: &[&[T]], _len: usize) {
            let AddShifted(acc, off) = self;
            let mut at = 0;
            for row in rows {
                for (o, &x) in acc[at..at + row.len()].iter_mut().zip(*row) {
                    *o = o.wrapping_add(shifted(x, off));
                }
                at += row.len();
            }
        }
    }
    let (first, rest) = parts
        .split_first()
        .ok_or_else(|| EvalError::Internal("merge_instances without sources".into()))?;
    let shape = first.shape();
    if let Some(other) = rest.iter().find(|p| p.shape() != shape) {
        return Err(EvalError::Internal(format!(
            "merge_instances parts of shapes {shape:?} and {:?}",
            other.shape()
        )));
    }
    let off = |i: usize| offsets.get(i).copied().unwrap_or(0);
    let mut acc = Vec::with_capacity(first.len());
    let next = rest.first().map(|b| (b, off(1)));
    let paired = over_labels(first, Start(&mut acc, off(0), next))?;
    for (i, part) in rest.iter().enumerate().skip(usize::from(paired)) {
        over_labels(part, AddShifted(&mut acc, off(i + 1)))?;
    }
    shaped(None, shape, acc).map(Volume::from)
}

/// A label moved into the merged id space: ids above 0 shifted by `off`, others 0.
#[inline]
fn shifted<T: LabelId>(x: T, off: u64) -> u64 {
    let id = x.positive_id();
    if id > 0 { id.wrapping_add(off) } else { 0 }
}

/// The largest id in an integer volume (0 for an empty one or all-negative ids).
///
/// # Errors
/// When `labels` is not an integer volume.
pub fn max_id(labels: &Block) -> Result<u64, EvalError> {
    struct Max;
    impl OverLabels for Max {
        type Out = u64;
        fn run<T: LabelId>(self, rows: &[&[T]], _len: usize) -> u64 {
            rows.iter()
                .flat_map(|row| row.iter())
                .max()
                .map_or(0, |&m| m.positive_id())
        }
    }
    over_labels(labels, Max)
}

/// `label != 0` per element, as uint8 0/1 (any dtype).
#[must_use]
pub fn nonzero(block: &Block) -> ArrayD<u8> {
    fn of<T: Element>(block: &Block, a: &ArrayD<T>) -> ArrayD<u8> {
        block.map_rows(a, |x| u8::from(x != T::default()))
    }
    crate::with_volume!(block.volume(), a => of(block, a))
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
        assert_eq!(LabelSet::new(&[], None), LabelSet::Nothing);
        assert!(LabelSet::Positive.contains(1) && !LabelSet::Positive.contains(-1));
        let big = LabelSet::new(&(0..100).collect::<Vec<_>>(), None);
        assert!(big.contains(99) && !big.contains(100));
    }

    struct Wide;
    impl OverLabels for Wide {
        type Out = Vec<i128>;
        fn run<T: LabelId>(self, rows: &[&[T]], _len: usize) -> Vec<i128> {
            rows.iter()
                .flat_map(|r| r.iter())
                .map(|&x| x.into())
                .collect()
        }
    }

    fn blk(v: &Volume) -> Block {
        Block::whole(std::sync::Arc::new(v.clone()))
    }

    #[test]
    fn kernels_read_a_block_in_place() {
        let full = Volume::from(
            ndarray::Array3::from_shape_fn((4, 5, 6), |(z, y, x)| {
                i32::try_from(z * 7 + y * 3 + x / 2).unwrap() - 9
            })
            .into_dyn(),
        );
        let shared = std::sync::Arc::new(full.clone());
        let (at, shape) = ([1, 1, 2], [3, 3, 4]);
        let part = Block::new(shared, &at, &shape).unwrap();
        let copy = blk(&full.crop(&at, &shape).unwrap());
        let sets = [LabelSet::new(&[1, 3, 20], Some(0)), LabelSet::Positive];
        assert_eq!(
            label_kernel(&part, &sets).unwrap(),
            label_kernel(&copy, &sets).unwrap()
        );
        let parts = [part.clone(), copy.clone()];
        let merged = merge_shifted(&parts, &[0, 5]).unwrap();
        assert_eq!(
            merged,
            merge_shifted(&[copy.clone(), copy.clone()], &[0, 5]).unwrap()
        );
        assert_eq!(max_id(&part).unwrap(), max_id(&copy).unwrap());
        assert_eq!(max_id(&part).unwrap(), 3 * 7 + 3 * 3 + 2 - 9);
        assert_eq!(nonzero(&part), nonzero(&copy));
    }

    #[test]
    fn native_fill_equals_membership() {
        let sets = [
            LabelSet::new(&[1, 3, -2, 300, 70_000, 1 << 40], Some(0)),
            LabelSet::new(&(0..40).map(|i| i * 7 - 20).collect::<Vec<_>>(), None),
            LabelSet::new(&[], Some(0)),
            LabelSet::new(&[], Some(-1)),
            LabelSet::new(&[], Some(1 << 40)),
            LabelSet::Positive,
            LabelSet::Nothing,
        ];
        let values: Vec<i64> = (-300..300).chain([70_000, 1 << 40, -(1 << 40)]).collect();
        for dtype in crate::dtype::DType::ALL {
            if !dtype.is_integer() {
                continue;
            }
            let wide = Volume::from(ndarray::Array1::from(values.clone()).into_dyn());
            let labels = wide.into_dtype(dtype);
            let out = label_kernel(&blk(&labels), &sets).unwrap().to_le_bytes();
            let ids = over_labels(&blk(&labels), Wide).unwrap();
            for (c, set) in sets.iter().enumerate() {
                for (i, &l) in ids.iter().enumerate() {
                    let got = out[c * ids.len() + i];
                    assert_eq!(got, u8::from(set.contains(l)), "{dtype} {set:?} {l}");
                }
            }
        }
    }

    #[test]
    fn runs_and_blocks_equal_membership() {
        // Runs of 1..=20 equal ids: uniform blocks, blocks that continue a run, blocks
        // with a change inside, and a tail shorter than a block.
        let mut labels = Vec::new();
        for (i, len) in (1..=20).chain([3, 8, 16, 1, 9]).enumerate() {
            let id = i64::try_from(i % 7).unwrap() - 1;
            labels.extend(std::iter::repeat_n(id, len));
        }
        labels.truncate(labels.len() - 3);
        let sets = [
            LabelSet::new(&[1, 3, 4], Some(0)),
            LabelSet::new(&[-1, 5], None),
        ];
        let wide = Volume::from(ndarray::Array1::from(labels.clone()).into_dyn());
        for dtype in [crate::dtype::DType::I16, crate::dtype::DType::I64] {
            let out = label_kernel(&blk(&wide.cast(dtype)), &sets)
                .unwrap()
                .to_le_bytes();
            for (c, set) in sets.iter().enumerate() {
                for (i, &l) in labels.iter().enumerate() {
                    let want = u8::from(set.contains(i128::from(l)));
                    assert_eq!(out[c * labels.len() + i], want, "{dtype} {set:?} at {i}");
                }
            }
        }
    }

    #[test]
    fn merge_shifts_positive_ids_of_every_part() {
        let a = Volume::from(arr1(&[0i16, 1, -3, 7, 2]).into_dyn());
        let b = Volume::from(arr1(&[5u64, 0, 1, u64::MAX, 2]).into_dyn());
        let c = Volume::from(arr1(&[3u8, 3, 0, 1, 0]).into_dyn());
        let got = merge_shifted(&[blk(&a), blk(&b), blk(&c)], &[0, 10, 100]).unwrap();
        let want = [
            5 + 10 + 3 + 100,
            1 + 3 + 100,
            1 + 10,
            (7u64 + u64::MAX.wrapping_add(10)).wrapping_add(101),
            2 + 2 + 10,
        ];
        assert_eq!(got, Volume::from(arr1(&want).into_dyn()));
        let short = Volume::from(arr1(&[1u8]).into_dyn());
        assert!(merge_shifted(&[blk(&a), blk(&short)], &[0, 1]).is_err());
        assert!(merge_shifted(&[], &[]).is_err());
    }

    #[test]
    fn kernel_stacks_channels() {
        let labels = Volume::from(arr1(&[0u64, 1, 2, 3]).into_dyn());
        let sets = [LabelSet::new(&[1, 3], Some(0)), LabelSet::new(&[], Some(0))];
        let out = label_kernel(&blk(&labels), &sets).unwrap();
        assert_eq!(out.shape(), &[2, 4]);
        assert_eq!(out.to_le_bytes(), vec![0, 1, 0, 1, 0, 1, 1, 1]);
        assert_eq!(max_id(&blk(&labels)).unwrap(), 3);
        assert!(max_id(&blk(&Volume::zeros(crate::dtype::DType::F32, &[2]))).is_err());
    }
}
