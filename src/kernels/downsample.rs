//! 2× (per axis) pyramid downsampling: mean for images, most frequent non-zero label
//! for segmentations (`spec/api.md`, "Neuroglancer precomputed view").
//!
//! Output voxel `i` on an axis with factor `f` covers input voxels `[i·f, i·f + f)`,
//! intersected with the input's bounds (absolute voxel indices), so edge voxels
//! average (or vote over) only the voxels that exist.
//!
//! Integer means are rounded half to even (numpy's `np.round`); float means are
//! computed in f64 and cast.

use ndarray::{Array3, ArrayD, ArrayViewD, Axis, Ix3};

use crate::dtype::{CastInto, Element};
use crate::geometry::Box3;

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
    reduce: impl Fn(&mut [T]) -> T,
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
    // Per axis, the input index range each output index reads.
    let spans: Vec<Vec<(usize, usize)>> = (0..3)
        .map(|d| {
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
        })
        .collect();
    if spans.iter().flatten().any(|&(lo, hi)| hi <= lo) {
        return Err("output box reaches outside the input box".into());
    }
    let out_shape = output_box.shape();
    let channels: Vec<ArrayViewD<'_, T>> = if channel_axis {
        input.axis_iter(Axis(0)).collect()
    } else {
        vec![input.view()]
    };
    let mut outs = Vec::with_capacity(channels.len());
    let mut block: Vec<T> = Vec::with_capacity(8);
    for ch in channels {
        // Static 3-d indexing: an `IxDyn` index costs more than the reduction.
        let ch = ch.into_dimensionality::<Ix3>().map_err(|e| e.to_string())?;
        let mut out = Array3::<T>::default((out_shape[0], out_shape[1], out_shape[2]));
        for (z, &(z0, z1)) in spans[0].iter().enumerate() {
            for (y, &(y0, y1)) in spans[1].iter().enumerate() {
                for (x, &(x0, x1)) in spans[2].iter().enumerate() {
                    block.clear();
                    for zz in z0..z1 {
                        for yy in y0..y1 {
                            for xx in x0..x1 {
                                block.push(ch[[zz, yy, xx]]);
                            }
                        }
                    }
                    out[[z, y, x]] = reduce(&mut block);
                }
            }
        }
        outs.push(out.into_dyn());
    }
    if !channel_axis {
        return outs.pop().ok_or_else(|| "no channel".to_owned());
    }
    let views: Vec<_> = outs.iter().map(|o| o.view()).collect();
    ndarray::stack(Axis(0), &views).map_err(|e| e.to_string())
}

/// Arithmetic mean (images); integers rounded half to even.
pub fn mean<T: Element>(block: &mut [T]) -> T
where
    f64: CastInto<T>,
{
    let sum: f64 = block.iter().map(|&v| CastInto::<f64>::cast_into(v)).sum();
    #[expect(clippy::cast_precision_loss, reason = "at most 8 voxels")]
    let m = sum / block.len() as f64;
    let m = if T::DTYPE.is_integer() || T::DTYPE == crate::dtype::DType::Bool {
        m.round_ties_even()
    } else {
        m
    };
    m.cast_into()
}

/// Most frequent non-zero value, ties to the smallest; 0 when all are 0 (labels).
pub fn mode<T: Element + Ord>(block: &mut [T]) -> T {
    block.sort_unstable();
    let zero = T::default();
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
    use ndarray::Array3;

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
        let out = downsample(input.view(), in_box, out_box, [1, 1, 2], mean).unwrap();
        out.into_raw_vec_and_offset().0
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
            mode,
        )
        .unwrap();
        assert_eq!(out[[0, 0, 0]], 5);
        let zeros = ArrayD::<u64>::zeros(IxDyn(&[2, 2, 2]));
        let out = downsample(
            zeros.view(),
            b([0; 3], [2, 2, 2]),
            b([0; 3], [1, 1, 1]),
            [2, 2, 2],
            mode,
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
            mean,
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
                mean
            )
            .is_err()
        );
    }
}
