//! 2× (per axis) pyramid downsampling: mean for images, most frequent non-zero label
//! for segmentations (`spec/api.md`, "Neuroglancer precomputed view").
//!
//! Output voxel `i` on an axis with factor `f` covers input voxels `[i·f, i·f + f)`,
//! intersected with the input's bounds (absolute voxel indices), so edge voxels
//! average (or vote over) only the voxels that exist.
//!
//! Integer means are rounded half to even (numpy's `np.round`); float means are
//! computed in f64 and cast.

use ndarray::{Array3, ArrayD, ArrayView3, ArrayViewD, Axis, Ix3};

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
    let input = input.as_standard_layout();
    let (_, ny, nx) = input.dim();
    let src = input.as_slice().unwrap_or_default();
    let shape = (spans[0].len(), spans[1].len(), spans[2].len());
    let mut out = vec![T::default(); shape.0 * shape.1 * shape.2];
    let mut out_rows = out.chunks_exact_mut(shape.2.max(1));
    let mut rows: Vec<&[T]> = Vec::with_capacity(4);
    for &(z0, z1) in &spans[0] {
        for &(y0, y1) in &spans[1] {
            rows.clear();
            for zz in z0..z1 {
                for yy in y0..y1 {
                    let at = (zz * ny + yy) * nx;
                    rows.push(&src[at..at + nx]);
                }
            }
            if let Some(out_row) = out_rows.next() {
                per_row(&rows, out_row);
            }
        }
    }
    Array3::from_shape_vec(shape, out).unwrap_or_default()
}

/// Arithmetic mean (images); integers rounded half to even. Sums in f64 in block order
/// (z, then y, then x), accumulated a row at a time.
#[derive(Debug, Clone, Copy)]
pub struct Mean;

impl<T: Element> Reducer<T> for Mean
where
    f64: CastInto<T>,
{
    fn channel(&self, input: ArrayView3<'_, T>, spans: &Spans) -> Array3<T> {
        let round = T::DTYPE.is_integer() || T::DTYPE == crate::dtype::DType::Bool;
        let mut acc = vec![0f64; spans[2].len()];
        for_each_row(input, spans, |rows, out_row| {
            acc.fill(-0.0);
            for row in rows {
                for (a, &(x0, x1)) in acc.iter_mut().zip(&spans[2]) {
                    for &v in &row[x0..x1] {
                        *a += CastInto::<f64>::cast_into(v);
                    }
                }
            }
            for ((o, &sum), &(x0, x1)) in out_row.iter_mut().zip(&acc).zip(&spans[2]) {
                *o = finish(sum, rows.len() * (x1 - x0), round);
            }
        })
    }
}

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
        for_each_row(input, spans, |rows, out_row| {
            for (o, &(x0, x1)) in out_row.iter_mut().zip(&spans[2]) {
                block.clear();
                for row in rows {
                    block.extend_from_slice(&row[x0..x1]);
                }
                *o = mode(&mut block);
            }
        })
    }
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
