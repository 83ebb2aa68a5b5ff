//! Anti-aliased spline resampling of float32 blocks, matching
//! `skimage.transform.rescale(image, scale, order=n, anti_aliasing=True, mode="reflect",
//! preserve_range=True)` on a float32 image (skimage 0.26 on `scipy.ndimage` 1.17), and
//! computable tile by tile: any sub-block of the output can be computed from a window of
//! the input (see [`input_window`]) and equals the same sub-block of the whole result.
//!
//! The pipeline, per axis with `f = in_len / out_len` input voxels per output voxel:
//! 1. Gaussian anti-aliasing (`scipy.ndimage.gaussian_filter1d`, `mode="mirror"`,
//!    `truncate=4.0`) with `sigma = max(0, (f - 1) / 2)`, axes 0, 1, 2 in turn, skipped where
//!    `sigma <= 1e-15`; each pass reads and writes float32 and accumulates in f64 with the
//!    summation order of `NI_Correlate1D`'s symmetric branch (`ni_filters.c`). The kernel is
//!    `_gaussian_kernel1d` (`_filters.py`), normalised with numpy's pairwise sum.
//! 2. `scipy.ndimage.zoom(.., order, mode="mirror", grid_mode=True)`: for `order >= 2` the
//!    B-spline prefilter of `ni_splines.c` (`apply_filter`, mirror initialisation) in f64; the
//!    sample position of output index `k` is `(k + 0.5) * f - 0.5`, mapped, split into a start
//!    index and weights exactly as `NI_ZoomShift` / `get_spline_interpolation_weights` do
//!    (`ni_interpolation.c`, `ni_splines.c`), with out-of-range taps mirrored. Orders 0 and 1
//!    sum the `(order + 1)^ndim` taps in `NI_ZoomShift`'s own order (their f32 inputs times
//!    dyadic weights often land exactly on f32 rounding ties, which must break the same way).
//!    Orders 2..=5 prefilter and interpolate separably, axis by axis in f64: the same linear
//!    operator, rounded differently only in the last f64 bits. The result is rounded to
//!    float32. When every axis keeps its length the input is returned unchanged, like `zoom`'s
//!    early exit.
//! 3. Clipping to the `(min, max)` of the whole input.
//!
//! Tiling: at the true edges of the volume the window stops and mirror boundaries are exact.
//! At interior cuts the window carries halos: the Gaussian radius, the interpolation taps and,
//! for `order >= 2`, [`PREFILTER_HALO`] samples for the (infinite, geometrically decaying)
//! recursive prefilter, so tiled results agree with the whole-volume result to within f32
//! rounding (in practice bit for bit).
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "numeric kernel: casts mirror scipy's C code and are range-checked by MAX_LEN"
)]

mod gaussian;
mod lines;
mod spline;
mod window;

pub use spline::PREFILTER_HALO;
pub use window::{input_window, resize_window};

/// Parameters for one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisPlan {
    /// Length of the whole input along this axis.
    pub in_len: usize,
    /// Length of the whole output along this axis.
    pub out_len: usize,
}

/// Highest supported spline order.
pub const MAX_ORDER: usize = 5;

/// Largest supported axis length (input or output), far beyond any real volume; keeps all
/// index arithmetic exact in f64 and free of overflow.
pub const MAX_LEN: usize = 1 << 40;

/// Input voxels per output voxel on this axis, as `numpy.divide(in_shape, out_shape)`.
fn factor(axis: &AxisPlan) -> f64 {
    axis.in_len as f64 / axis.out_len as f64
}

/// Clips exactly like `numpy.clip` on float32 (as observed with numpy 2.4): a NaN value or
/// bound gives NaN, ties keep the value (so signed zeros survive), and an inverted range
/// gives `hi`.
fn clip_value(v: f32, (lo, hi): (f32, f32)) -> f32 {
    if v.is_nan() {
        return v;
    }
    if lo.is_nan() {
        return lo;
    }
    if hi.is_nan() {
        return hi;
    }
    let v = if v < lo { lo } else { v };
    if v > hi { hi } else { v }
}

#[cfg(test)]
mod tests;
