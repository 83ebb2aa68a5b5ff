//! Tiling: which input window an output block needs, and the resize of one block from its
//! window (the module's pipeline, checked arguments first).

use std::ops::Range;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

use super::{AxisPlan, MAX_LEN, MAX_ORDER, PREFILTER_HALO, clip_value, gaussian, spline};

/// What input window an output range needs, per axis: returns [lo, hi) in input indices
/// (clipped to [0, in_len)).
///
/// The window covers the interpolation taps of every output index in `out_range`, plus
/// [`PREFILTER_HALO`]`[order]` samples and the Gaussian radius on each side. An empty or
/// out-of-bounds part of `out_range` is ignored; an empty result is `0..0`. Lengths above
/// [`MAX_LEN`] (which [`resize_window`] rejects) give the whole input.
#[must_use]
pub fn input_window(axis: &AxisPlan, order: usize, out_range: Range<usize>) -> Range<usize> {
    if axis.in_len == 0 || axis.out_len == 0 {
        return 0..0;
    }
    if axis.in_len > MAX_LEN || axis.out_len > MAX_LEN {
        return 0..axis.in_len;
    }
    let order = order.min(MAX_ORDER);
    let out_range = out_range.start.min(axis.out_len)..out_range.end.min(axis.out_len);
    let Some((lo, hi)) = spline::tap_span(axis, order, out_range) else {
        return 0..0;
    };
    let halo =
        PREFILTER_HALO[order].saturating_add(gaussian::gaussian_params(axis).map_or(0, |(_, r)| r));
    lo.saturating_sub(halo)..hi.saturating_add(halo).saturating_add(1).min(axis.in_len)
}

/// Checks the arguments of [`resize_window`]; returns the output shape.
fn validate(
    window: &ArrayViewD<f32>,
    window_ranges: &[Range<usize>],
    axes: &[AxisPlan],
    order: usize,
    out_ranges: &[Range<usize>],
) -> Result<Vec<usize>, String> {
    let ndim = axes.len();
    if ndim == 0 {
        return Err("resize needs at least one axis".into());
    }
    if order > MAX_ORDER {
        return Err(format!(
            "spline order {order} is not supported (0..={MAX_ORDER})"
        ));
    }
    if window.ndim() != ndim || window_ranges.len() != ndim || out_ranges.len() != ndim {
        return Err(format!(
            "dimension mismatch: {ndim} axes, {}-d window, {} window ranges, {} output ranges",
            window.ndim(),
            window_ranges.len(),
            out_ranges.len()
        ));
    }
    if (order + 1).checked_pow(ndim as u32).is_none() {
        return Err(format!("too many axes ({ndim}) for order {order}"));
    }
    let mut out_shape = Vec::with_capacity(ndim);
    for (a, (axis, or)) in axes.iter().zip(out_ranges).enumerate() {
        if axis.in_len == 0 || axis.out_len == 0 || axis.in_len > MAX_LEN || axis.out_len > MAX_LEN
        {
            return Err(format!(
                "axis {a}: lengths must be in 1..={MAX_LEN} ({axis:?})"
            ));
        }
        if or.start > or.end || or.end > axis.out_len {
            return Err(format!(
                "axis {a}: output range {or:?} outside 0..{}",
                axis.out_len
            ));
        }
        out_shape.push(or.end - or.start);
    }
    if out_shape.contains(&0) {
        // Nothing to compute: any window (including input_window's empty one) will do.
        return Ok(out_shape);
    }
    for (a, ((axis, wr), or)) in axes.iter().zip(window_ranges).zip(out_ranges).enumerate() {
        let len = window.shape()[a];
        if wr.start >= wr.end || wr.end > axis.in_len || wr.end - wr.start != len {
            return Err(format!(
                "axis {a}: window range {wr:?} does not fit input length {} / window length {len}",
                axis.in_len
            ));
        }
        if let Some((lo, hi)) = spline::tap_span(axis, order, or.clone())
            && (lo < wr.start || hi >= wr.end)
        {
            return Err(format!(
                "axis {a}: window {wr:?} does not cover input {lo}..{} needed by output {or:?}",
                hi + 1
            ));
        }
    }
    Ok(out_shape)
}

/// Resizes the part of the full-volume result given by `out_ranges` from an input `window`.
///
/// `out_ranges` (one per axis) are in output indices of the whole volume; `window` is the input
/// restricted to `window_ranges` (input indices of the whole volume, as returned by
/// [`input_window`]); `axes` give the whole-volume lengths; `clip` = (min, max) of the whole
/// input. Follows the module's pipeline: Gaussian anti-aliasing, spline zoom, clipping. The
/// result has shape = `out_ranges` lengths.
///
/// Errors on unsupported orders, mismatched dimensions, lengths of 0 or above [`MAX_LEN`],
/// ranges out of bounds, and windows that do not contain the interpolation taps. Windows
/// narrower than [`input_window`]'s (missing halos) are not detected and give approximate
/// values near interior cuts. `clip` is applied as `numpy.clip` does, so a NaN bound yields
/// NaN and an inverted range yields `clip.1`.
pub fn resize_window(
    window: ArrayViewD<f32>,
    window_ranges: &[Range<usize>],
    axes: &[AxisPlan],
    order: usize,
    out_ranges: &[Range<usize>],
    clip: (f32, f32),
) -> Result<ArrayD<f32>, String> {
    let out_shape = validate(&window, window_ranges, axes, order, out_ranges)?;
    if out_shape.contains(&0) {
        return Ok(ArrayD::zeros(IxDyn(&out_shape)));
    }
    if axes.iter().all(|a| a.in_len == a.out_len) {
        // `scipy.ndimage.zoom` returns its input when every zoom factor is 1 (no Gaussian
        // either, as every sigma is 0).
        let mut view = window;
        for (a, (wr, or)) in window_ranges.iter().zip(out_ranges).enumerate() {
            view.slice_axis_inplace(Axis(a), Slice::from(or.start - wr.start..or.end - wr.start));
        }
        return Ok(view.mapv(|v| clip_value(v, clip)));
    }

    let mut taps = spline::window_taps(axes, window_ranges, out_ranges, order);
    let window = window.as_standard_layout();
    let input = window
        .as_slice()
        .ok_or_else(|| "internal error: window is not contiguous".to_string())?;
    let mut shape = window.shape().to_vec();
    let filtered = gaussian::anti_alias(input, &mut shape, axes, order, &mut taps);
    let data = filtered.as_deref().unwrap_or(input);
    let values = spline::zoom(data, &shape, &taps, order, clip);
    ArrayD::from_shape_vec(IxDyn(&out_shape), values).map_err(|e| e.to_string())
}
