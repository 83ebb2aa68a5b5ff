//! 2× (per axis) pyramid downsampling: mean for images, most frequent non-zero label
//! for segmentations (`spec/api.md`, "Neuroglancer precomputed view").
//!
//! Output voxel `i` on an axis with factor `f` covers input voxels `[i·f, i·f + f)`,
//! intersected with the input's bounds (absolute voxel indices), so edge voxels
//! average (or vote over) only the voxels that exist.
//!
//! Integer means are rounded half to even (numpy's `np.round`); float means are
//! computed in f64 and cast.

use ndarray::{Array3, ArrayD, ArrayView3, ArrayViewD, Axis, CowArray, Ix3};

use crate::dtype::{CastInto, Element};
use crate::geometry::Box3;

/// Per axis, the input index range `[lo, hi)` each output index reduces.
pub type Spans = [Vec<(usize, usize)>; 3];

/// How a level reduces the input voxels under each output voxel, one channel at a time.
pub trait Reducer<T> {
    /// The reduced channel: `out[z, y, x]` over input `spans[0][z] × spans[1][y] × spans[2][x]`.
    fn channel(&self, input: ArrayView3<'_, T>, spans: &Spans) -> Array3<T>;
}

/// Downsamples `input` (axes `[c,] z, y, x`, covering `input_box`) to the voxels of
/// `output_box` at the coarser level, with per-axis `factor`.
///
/// # Errors
/// When the input does not cover the voxels the output box needs.
pub fn downsample<T: Element>(
    input: ArrayViewD<'_, T>,
    input_box: Box3,
    output_box: Box3,
    factor: [i64; 3],
    reducer: &impl Reducer<T>,
) -> Result<ArrayD<T>, String> {
    let channel_axis = input.ndim() == 4;
    let lead = usize::from(channel_axis);
    let in_shape = input_box.shape();
    if input.shape()[lead..] != in_shape {
        return Err(format!(
            "input shape {:?} does not match its box {in_shape:?}",
            input.shape()
        ));
    }
    let span = |d: usize| -> Vec<(usize, usize)> {
        (output_box.begin[d]..output_box.end[d])
            .map(|i| {
                let lo = (i * factor[d]).max(input_box.begin[d]) - input_box.begin[d];
                let hi = (i * factor[d] + factor[d]).min(input_box.end[d]) - input_box.begin[d];
                (
                    usize::try_from(lo).unwrap_or(0),
                    usize::try_from(hi).unwrap_or(0),
                )
            })
            .collect()
    };
    let spans: Spans = [span(0), span(1), span(2)];
    if spans.iter().flatten().any(|&(lo, hi)| hi <= lo) {
        return Err("output box reaches outside the input box".into());
    }
    let channels: Vec<ArrayViewD<'_, T>> = if channel_axis {
        input.axis_iter(Axis(0)).collect()
    } else {
        vec![input.view()]
    };
    let mut outs = Vec::with_capacity(channels.len());
    for ch in channels {
        let ch = ch.into_dimensionality::<Ix3>().map_err(|e| e.to_string())?;
        outs.push(reducer.channel(ch, &spans).into_dyn());
    }
    if !channel_axis {
        return outs.pop().ok_or_else(|| "no channel".to_owned());
    }
    let views: Vec<_> = outs.iter().map(|o| o.view()).collect();
    ndarray::stack(Axis(0), &views).map_err(|e| e.to_string())
}

/// Runs `per_row(rows, out_row)` for every output row `(z, y)`: `rows` are the input rows
/// (last axis, as slices) its span covers, `out_row` the output row to fill.
fn for_each_row<T: Copy + Default>(
    input: ArrayView3<'_, T>,
    spans: &Spans,
    mut per_row: impl FnMut(&[&[T]], &mut [T]),
) -> Array3<T> {
    // Rows are read in place when each is contiguous (a block of a C-order volume).
    let input = if input.strides()[2] == 1 || input.dim().2 <= 1 {
        CowArray::from(input)
    } else {
        input.as_standard_layout()
    };
    let ny = input.dim().1;
    let all_rows: Vec<&[T]> = input
        .rows()
        .into_iter()
        .map(|r| r.to_slice().unwrap_or_default())
        .collect();
    let row_of = |zz: usize, yy: usize| all_rows[zz * ny + yy];
    let shape = (spans[0].len(), spans[1].len(), spans[2].len());
    let mut out = vec![T::default(); shape.0 * shape.1 * shape.2];
    let mut out_rows = out.chunks_exact_mut(shape.2.max(1));
    let mut rows: Vec<&[T]> = Vec::with_capacity(4);
    for &(z0, z1) in &spans[0] {
        for &(y0, y1) in &spans[1] {
            rows.clear();
            for zz in z0..z1 {
                for yy in y0..y1 {
                    rows.push(row_of(zz, yy));
                }
            }
            if let Some(out_row) = out_rows.next() {
                per_row(&rows, out_row);
            }
        }
    }
    Array3::from_shape_vec(shape, out).unwrap_or_default()
}

/// Arithmetic mean (images); integers rounded half to even. Integers of up to 32 bits
/// sum exactly in integers (2×2×2 blocks in a vectorised pass); other types sum in f64 in
/// block order (z, then y, then x), accumulated a row at a time.
#[derive(Debug, Clone, Copy)]
pub struct Mean;

impl<T: MeanElement> Reducer<T> for Mean {
    fn channel(&self, input: ArrayView3<'_, T>, spans: &Spans) -> Array3<T> {
        let xs = &spans[2];
        let pairs = pair_prefix(xs);
        let mut scratch = Vec::new();
        for_each_row(input, spans, |rows, out_row| {
            T::mean_row(rows, xs, pairs, out_row, &mut scratch);
        })
    }
}

/// How many leading output spans cover input `[x0 + 2i, x0 + 2i + 2)`: the 2×2×2 fast case.
fn pair_prefix(xs: &[(usize, usize)]) -> usize {
    xs.first().map_or(0, |&(x0, _)| {
        xs.iter()
            .enumerate()
            .take_while(|&(i, &(a, b))| a == x0 + 2 * i && b == a + 2)
            .count()
    })
}

/// Two-voxel pieces of four input rows from `x0` on, `n` of them per row (2×2×2
/// blocks, `[[r0, r1], [r2, r3]]` per item); `None` unless there are four rows.
fn pair_blocks<'a, T>(
    rows: &[&'a [T]],
    x0: usize,
    n: usize,
) -> Option<impl Iterator<Item = [[&'a [T]; 2]; 2]>> {
    let [r0, r1, r2, r3] = rows else { return None };
    let cut = |r: &'a [T]| r[x0..x0 + 2 * n].chunks_exact(2);
    Some(
        cut(r0)
            .zip(cut(r1))
            .zip(cut(r2).zip(cut(r3)))
            .map(|((a, b), (c, d))| [[a, b], [c, d]]),
    )
}

/// An element type [`Mean`] reduces, with the row kernel that suits it.
pub trait MeanElement: Element {
    /// Fills `out[i]` with the mean of `rows[..][xs[i].0..xs[i].1]`; the first `pairs`
    /// spans are each the next two voxels. `scratch` is reusable space.
    fn mean_row(
        rows: &[&[Self]],
        xs: &[(usize, usize)],
        pairs: usize,
        out: &mut [Self],
        scratch: &mut Vec<f64>,
    );
}

/// The f64 mean of one output row, rounded half to even for integers and bool.
fn mean_row_f64<T: Element>(rows: &[&[T]], xs: &[(usize, usize)], out: &mut [T], acc: &mut Vec<f64>)
where
    f64: CastInto<T>,
{
    let round = T::DTYPE.is_integer() || T::DTYPE == crate::dtype::DType::Bool;
    acc.clear();
    acc.resize(xs.len(), -0.0);
    for row in rows {
        for (a, &(x0, x1)) in acc.iter_mut().zip(xs) {
            for &v in &row[x0..x1] {
                *a += CastInto::<f64>::cast_into(v);
            }
        }
    }
    for ((o, &sum), &(x0, x1)) in out.iter_mut().zip(acc.iter()).zip(xs) {
        *o = finish(sum, rows.len() * (x1 - x0), round);
    }
}

/// [`MeanElement`] in f64 (wide integers, floats and bool).
macro_rules! mean_in_f64 {
    ($($t:ty),*) => {$(
        impl MeanElement for $t {
            fn mean_row(
                rows: &[&[Self]],
                xs: &[(usize, usize)],
                _pairs: usize,
                out: &mut [Self],
                scratch: &mut Vec<f64>,
            ) {
                mean_row_f64(rows, xs, out, scratch);
            }
        }
    )*};
}
mean_in_f64!(bool, u64, i64, f32, f64);

/// [`MeanElement`] in exact integer sums for integers of up to 32 bits: `$acc` holds a
/// 2×2×2 block sum plus 7 (vectorised lanes), `i64` any other block.
macro_rules! mean_in_integers {
    ($($t:ty => $acc:ty),*) => {$(
        impl MeanElement for $t {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_precision_loss,
                clippy::cast_sign_loss,
                clippy::cast_possible_wrap,
                clippy::cast_lossless,
                reason = "a rounded mean lies in the element's range; sums are exact"
            )]
            fn mean_row(
                rows: &[&[Self]],
                xs: &[(usize, usize)],
                pairs: usize,
                out: &mut [Self],
                _scratch: &mut Vec<f64>,
            ) {
                let mut done = 0;
                let x0 = xs.first().map_or(0, |s| s.0);
                if let Some(blocks) = pair_blocks(rows, x0, pairs.min(out.len())) {
                    done = pairs.min(out.len());
                    for (o, [[a, b], [c, d]]) in out[..done].iter_mut().zip(blocks) {
                        let s = (a[0] as $acc + a[1] as $acc + b[0] as $acc + b[1] as $acc)
                            + (c[0] as $acc + c[1] as $acc + d[0] as $acc + d[1] as $acc);
                        // s / 8 rounded half to even: up when the remainder is above 4, or
                        // 4 with an odd quotient.
                        *o = ((s + 3 + ((s >> 3) & 1)) >> 3) as $t;
                    }
                }
                for (o, &(x0, x1)) in out[done..].iter_mut().zip(&xs[done..]) {
                    let sum: i64 = rows
                        .iter()
                        .flat_map(|row| &row[x0..x1])
                        .map(|&v| i64::from(v))
                        .sum();
                    *o = finish(sum as f64, rows.len() * (x1 - x0), true);
                }
            }
        }
    )*};
}
mean_in_integers!(u8 => u16, i8 => i16, u16 => u32, i16 => i32, u32 => u64, i32 => i64);

/// `sum / n`, rounded half to even when `round`; exact integer arithmetic while the sum
/// is an exact integer well inside f64 (the same result as rounding the f64 quotient).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    reason = "n is a block size; the integer path runs only for |sum| < 2^45"
)]
fn finish<T: Element>(sum: f64, n: usize, round: bool) -> T
where
    f64: CastInto<T>,
{
    if round && sum.abs() < (1u64 << 45) as f64 {
        let (s, n) = (sum as i64, n as i64);
        let (q, r) = (s.div_euclid(n), s.rem_euclid(n));
        let up = 2 * r > n || (2 * r == n && q % 2 != 0);
        return ((q + i64::from(up)) as f64).cast_into();
    }
    let m = sum / n as f64;
    if round { m.round_ties_even() } else { m }.cast_into()
}

/// Most frequent non-zero value, ties to the smallest; 0 when all are 0 (labels).
#[derive(Debug, Clone, Copy)]
pub struct Mode;

impl<T: Element + Ord> Reducer<T> for Mode {
    fn channel(&self, input: ArrayView3<'_, T>, spans: &Spans) -> Array3<T> {
        let mut block: Vec<T> = Vec::with_capacity(8);
        let xs = &spans[2];
        let (pairs, x0) = (pair_prefix(xs), xs.first().map_or(0, |s| s.0));
        for_each_row(input, spans, |rows, out_row| {
            let mut done = 0;
            if let Some(blocks) = pair_blocks(rows, x0, pairs.min(out_row.len())) {
                done = pairs.min(out_row.len());
                for (o, [[a, b], [c, d]]) in out_row[..done].iter_mut().zip(blocks) {
                    *o = mode8([a[0], a[1], b[0], b[1], c[0], c[1], d[0], d[1]]);
                }
            }
            for (o, &(x0, x1)) in out_row[done..].iter_mut().zip(&xs[done..]) {
                block.clear();
                for row in rows {
                    block.extend_from_slice(&row[x0..x1]);
                }
                *o = mode(&mut block);
            }
        })
    }
}

/// [`mode`] of a 2×2×2 block without sorting or branches on the values: each value is
/// counted against the values after it, which gives the first occurrence of every value
/// its full count (later occurrences count less and never win).
fn mode8<T: Element + Ord>(v: [T; 8]) -> T {
    let zero = T::default();
    if v.iter().fold(true, |all, &x| all & (x == v[0])) {
        return v[0];
    }
    let (mut best, mut best_n) = (zero, 0u32);
    for (i, &x) in v.iter().enumerate() {
        let n = v[i..].iter().map(|&y| u32::from(y == x)).sum::<u32>();
        let better = x != zero && (n > best_n || (n == best_n && x < best));
        best = if better { x } else { best };
        best_n = if better { n } else { best_n };
    }
    best
}

/// The mode of one block: most frequent non-zero value, ties to the smallest, 0 when all
/// are 0; a uniform block (the common case in label volumes) without sorting.
fn mode<T: Element + Ord>(block: &mut [T]) -> T {
    let zero = T::default();
    if let Some(&first) = block.first()
        && block.iter().all(|&v| v == first)
    {
        return first;
    }
    block.sort_unstable();
    let (mut best, mut best_n) = (zero, 0usize);
    let mut i = 0;
    while i < block.len() {
        let v = block[i];
        let mut j = i;
        while j < block.len() && block[j] == v {
            j += 1;
        }
        if v != zero && j - i > best_n {
            (best, best_n) = (v, j - i);
        }
        i = j;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn b(begin: [i64; 3], end: [i64; 3]) -> Box3 {
        Box3 { begin, end }
    }

    /// The x-axis mean by 2 of one row of `values` at voxels `[begin, end)` into
    /// outputs `[out_begin, out_end)`.
    fn mean_row(values: Vec<u8>, (begin, end): (i64, i64), (ob, oe): (i64, i64)) -> Vec<u8> {
        let n = values.len();
        let input = Array3::from_shape_vec((1, 1, n), values)
            .unwrap()
            .into_dyn();
        let (in_box, out_box) = (b([0, 0, begin], [1, 1, end]), b([0, 0, ob], [1, 1, oe]));
        let out = downsample(input.view(), in_box, out_box, [1, 1, 2], &Mean).unwrap();
        out.into_raw_vec_and_offset().0
    }

    #[test]
    fn integer_rounding_equals_rounding_the_f64_quotient() {
        for n in 1..=8usize {
            for s in -2000..2000i64 {
                #[expect(clippy::cast_precision_loss, reason = "small test values")]
                let (sum, nf) = (s as f64, n as f64);
                let want: i64 = (sum / nf).round_ties_even().cast_into();
                assert_eq!(finish::<i64>(sum, n, true), want, "{s} / {n}");
            }
        }
        assert_eq!(finish::<f32>(3.0, 2, false), 1.5);
    }

    #[test]
    fn mean_rounds_half_to_even_and_handles_edges() {
        // (1+2)/2 = 1.5 → 2, (3+4)/2 = 3.5 → 4, edge voxel 9 alone → 9.
        assert_eq!(mean_row(vec![1, 2, 3, 4, 9], (0, 5), (0, 3)), vec![2, 4, 9]);
        // An odd input offset: voxels 3..7 → outputs 1..4 cover [2,4), [4,6), [6,8) ∩ [3,7),
        // i.e. voxel 3 alone (10), voxels 4 and 5 ((20+30)/2 = 25), voxel 6 alone (40).
        assert_eq!(
            mean_row(vec![10, 20, 30, 40], (3, 7), (1, 4)),
            vec![10, 25, 40]
        );
    }

    #[test]
    fn mode_prefers_frequent_non_zero_then_smallest() {
        let input = Array3::from_shape_vec((2, 2, 2), vec![0u64, 0, 0, 7, 7, 5, 5, 0])
            .unwrap()
            .into_dyn();
        let out = downsample(
            input.view(),
            b([0; 3], [2, 2, 2]),
            b([0; 3], [1, 1, 1]),
            [2, 2, 2],
            &Mode,
        )
        .unwrap();
        assert_eq!(out[[0, 0, 0]], 5);
        let zeros = ArrayD::<u64>::zeros(IxDyn(&[2, 2, 2]));
        let out = downsample(
            zeros.view(),
            b([0; 3], [2, 2, 2]),
            b([0; 3], [1, 1, 1]),
            [2, 2, 2],
            &Mode,
        )
        .unwrap();
        assert_eq!(out[[0, 0, 0]], 0);
    }

    /// 2×2×2 reductions of `input` (shape `n³`, `n` even, plus an odd edge) by the
    /// kernels and by the plain per-block definitions.
    fn check_blocks<T: MeanElement + Ord>(
        input: &Array3<T>,
        reducer: &impl Reducer<T>,
        want: impl Fn(&mut Vec<T>) -> T,
    ) {
        let n = i64::try_from(input.dim().0).unwrap();
        let out_n = (n + 1) / 2;
        let got = downsample(
            input.view().into_dyn(),
            b([0; 3], [n; 3]),
            b([0; 3], [out_n; 3]),
            [2, 2, 2],
            reducer,
        )
        .unwrap();
        let u = |v: i64| usize::try_from(v).unwrap();
        for ((z, y, x), &g) in got
            .into_dimensionality::<ndarray::Ix3>()
            .unwrap()
            .indexed_iter()
        {
            let mut block = Vec::new();
            for zz in 2 * z..(2 * z + 2).min(u(n)) {
                for yy in 2 * y..(2 * y + 2).min(u(n)) {
                    for xx in 2 * x..(2 * x + 2).min(u(n)) {
                        block.push(input[[zz, yy, xx]]);
                    }
                }
            }
            assert_eq!(g, want(&mut block), "block {z},{y},{x}: {block:?}");
        }
    }

    #[test]
    fn vectorised_mean_equals_f64_rounding_for_every_small_integer() {
        fn run<T>(lo: i64, hi: i64)
        where
            T: MeanElement + Ord + TryFrom<i64> + CastInto<f64>,
            f64: CastInto<T>,
        {
            let mut state = 12345u64;
            let input = Array3::from_shape_fn((7, 7, 7), |_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let span = u64::try_from(hi - lo).unwrap() + 1;
                let v = lo + i64::try_from((state >> 33) % span).unwrap();
                T::try_from(v).ok().unwrap()
            });
            check_blocks(&input, &Mean, |block| {
                let sum: f64 = block.iter().map(|&v| CastInto::<f64>::cast_into(v)).sum();
                #[expect(clippy::cast_precision_loss, reason = "block sizes")]
                let m = (sum / block.len() as f64).round_ties_even();
                m.cast_into()
            });
        }
        run::<u8>(0, 255);
        run::<u8>(250, 255);
        run::<i8>(-128, 127);
        run::<u16>(0, 65535);
        run::<i16>(-32768, 32767);
        run::<u32>(0, i64::from(u32::MAX));
        run::<i32>(i64::from(i32::MIN), i64::from(i32::MAX));
        run::<i32>(-3, 3);
    }

    #[test]
    fn mode_of_eight_equals_sorting_mode() {
        let mut state = 99u64;
        // Few distinct values so that blocks hold ties, repeats, zeros and uniform runs.
        for values in [2u64, 3, 5, 9] {
            let input = Array3::from_shape_fn((9, 9, 9), |(z, _, _)| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                if z < 2 { 4 } else { (state >> 33) % values }
            });
            check_blocks(&input, &Mode, |block| mode(block));
        }
    }

    #[test]
    fn channels_are_downsampled_separately() {
        let input = ndarray::Array4::from_shape_fn(
            (2, 2, 2, 2),
            |(c, _, _, _)| if c == 0 { 4u16 } else { 8 },
        )
        .into_dyn();
        let out = downsample(
            input.view(),
            b([0; 3], [2, 2, 2]),
            b([0; 3], [1, 1, 1]),
            [2, 2, 2],
            &Mean,
        )
        .unwrap();
        assert_eq!(out.shape(), &[2, 1, 1, 1]);
        assert_eq!(out.into_raw_vec_and_offset().0, vec![4, 8]);
        assert!(
            downsample(
                input.view(),
                b([0; 3], [2, 2, 2]),
                b([0; 3], [2, 1, 1]),
                [2, 2, 2],
                &Mean
            )
            .is_err()
        );
    }
}
