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

use std::ops::Range;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

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

/// `truncate` of the Gaussian filter: the kernel radius is `int(truncate * sigma + 0.5)`.
const TRUNCATE: f64 = 4.0;

/// Sigmas at or below this are skipped, as `scipy.ndimage.gaussian_filter` does.
const SIGMA_EPS: f64 = 1e-15;

/// Extra input samples kept on each side of the interpolation taps, per spline order, so that
/// the recursive B-spline prefilter (which has infinite support) sees enough of the true signal
/// at an interior cut. A wrong sample at distance `d` from a tap perturbs the coefficient there
/// by about `|z|^d` times the sample, `z` being the pole of largest modulus
/// (`get_filter_poles`: order 2: 0.1716, 3: 0.2679, 4: 0.3613, 5: 0.4306). The halo `H` is the
/// smallest with `|z|^H <= 2^-60` (order 2: 23.6, 3: 31.6, 4: 40.9, 5: 49.4, rounded up), i.e.
/// far below one f64 ulp of the data range, hence far below f32 resolution even for values
/// near zero in data with a range of 2^32. Orders 0 and 1 have no prefilter.
pub const PREFILTER_HALO: [usize; MAX_ORDER + 1] = [0, 0, 24, 32, 41, 50];

/// Input voxels per output voxel on this axis, as `numpy.divide(in_shape, out_shape)`.
fn factor(axis: &AxisPlan) -> f64 {
    axis.in_len as f64 / axis.out_len as f64
}

/// The anti-aliasing sigma and kernel radius of an axis, or `None` when it is not filtered.
fn gaussian_params(axis: &AxisPlan) -> Option<(f64, usize)> {
    let sigma = ((factor(axis) - 1.0) / 2.0).max(0.0);
    if sigma > SIGMA_EPS {
        // Python's `int(truncate * sd + 0.5)` truncates toward zero.
        Some((sigma, (TRUNCATE * sigma + 0.5) as usize))
    } else {
        None
    }
}

/// numpy's pairwise summation of float64 (`pairwise_sum` in `loops_utils.h.src`).
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0_f64; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        for block in a[8..full].chunks_exact(8) {
            for (acc, &v) in r.iter_mut().zip(block) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[full..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `scipy.ndimage._filters._gaussian_kernel1d(sigma, 0, radius)` (symmetric, so reversal for
/// correlation is a no-op).
fn gaussian_kernel(sigma: f64, radius: usize) -> Vec<f64> {
    let c = -0.5 / (sigma * sigma);
    let r = radius as i64;
    let phi: Vec<f64> = (-r..=r).map(|x| (c * (x * x) as f64).exp()).collect();
    let sum = pairwise_sum(&phi);
    phi.iter().map(|v| v / sum).collect()
}

/// Index into a line of length `n` for a position `i` outside it, as `NI_ExtendLine` does for
/// `NI_EXTEND_MIRROR` (whole-sample mirror, period `2n - 2`; a line of one sample repeats).
fn extend_mirror(i: i64, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * n as i64 - 2;
    let m = i.rem_euclid(period);
    let m = if m >= n as i64 { period - m } else { m };
    m as usize
}

/// `map_coordinate(in, len, NI_EXTEND_MIRROR)` from `ni_interpolation.c`, operation for
/// operation.
fn map_mirror(x: f64, len: usize) -> f64 {
    let len_i = len as i64;
    if x < 0.0 {
        if len <= 1 {
            0.0
        } else {
            let sz2 = 2 * len_i - 2;
            let v = (sz2 * ((-x / sz2 as f64) as i64)) as f64 + x;
            if v <= (1 - len_i) as f64 {
                v + sz2 as f64
            } else {
                -v
            }
        }
    } else if x > (len_i - 1) as f64 {
        if len <= 1 {
            0.0
        } else {
            let sz2 = 2 * len_i - 2;
            let v = x - (sz2 * ((x / sz2 as f64) as i64)) as f64;
            if v >= len_i as f64 { sz2 as f64 - v } else { v }
        }
    } else {
        x
    }
}

/// `get_spline_interpolation_weights` from `ni_splines.c` (orders 1..=5), operation for
/// operation.
fn spline_weights(x: f64, order: usize, w: &mut [f64; MAX_ORDER + 1]) {
    let mut x = x;
    x -= if order & 1 == 1 { x } else { x + 0.5 }.floor();
    let mut y = x;
    let mut z = 1.0 - x;
    match order {
        1 => w[0] = 1.0 - x,
        2 => {
            w[1] = 0.75 - x * x;
            y = 0.5 - x;
            w[0] = 0.5 * y * y;
        }
        3 => {
            w[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
            w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
            w[0] = z * z * z / 6.0;
        }
        4 => {
            let t = x * x;
            w[2] = t * (t * 0.25 - 0.625) + 115.0 / 192.0;
            y = 1.0 + x;
            w[1] = y * (y * (y * (5.0 - y) / 6.0 - 1.25) + 5.0 / 24.0) + 55.0 / 96.0;
            w[3] = z * (z * (z * (5.0 - z) / 6.0 - 1.25) + 5.0 / 24.0) + 55.0 / 96.0;
            y = 0.5 - x;
            let t = y * y;
            w[0] = t * t / 24.0;
        }
        5 => {
            let t = y * y;
            w[2] = t * (t * (0.25 - y / 12.0) - 0.5) + 0.55;
            let t = z * z;
            w[3] = t * (t * (0.25 - z / 12.0) - 0.5) + 0.55;
            y += 1.0;
            w[1] = y * (y * (y * (y * (y / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425;
            z += 1.0;
            w[4] = z * (z * (z * (z * (z / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425;
            y = 1.0 - x;
            let t = y * y;
            w[0] = y * t * t / 120.0;
        }
        _ => {}
    }
    w[order] = 1.0;
    for i in 0..order {
        w[order] -= w[i];
    }
}

/// `get_filter_poles` from `ni_splines.c`.
#[expect(clippy::excessive_precision, reason = "scipy's literals, verbatim")]
fn filter_poles(order: usize) -> &'static [f64] {
    match order {
        2 => &[-0.171_572_875_253_809_902_396_622_551_580_603_843],
        3 => &[-0.267_949_192_431_122_706_472_553_658_494_127_633],
        4 => &[
            -0.361_341_225_900_220_177_092_212_841_325_675_255,
            -0.013_725_429_297_339_121_360_331_226_939_128_204,
        ],
        5 => &[
            -0.430_575_347_099_973_791_851_434_783_493_520_110,
            -0.043_096_288_203_264_653_822_712_376_822_550_182,
        ],
        _ => &[],
    }
}

/// `apply_filter(.., NI_EXTEND_MIRROR)` from `ni_splines.c`: in-place B-spline prefilter of
/// `w` independent lines of length `n >= 2`, stored row-major as `c[i * w + l]` (element `i`
/// of line `l`). Each line sees exactly scipy's sequence of operations.
fn spline_prefilter(c: &mut [f64], n: usize, w: usize, poles: &[f64]) {
    if n < 2 || w == 0 {
        return;
    }
    let mut gain = 1.0;
    for &z in poles {
        gain *= (1.0 - z) * (1.0 - 1.0 / z);
    }
    for v in c.iter_mut() {
        *v *= gain;
    }
    for &z in poles {
        // _init_causal_mirror
        let z_n_1 = z.powf((n - 1) as f64);
        {
            let (first, rest) = c.split_at_mut(w);
            let last = &rest[(n - 2) * w..(n - 1) * w];
            for (c0, &cl) in first.iter_mut().zip(last) {
                *c0 += z_n_1 * cl;
            }
            let mut z_i = z;
            for i in 1..n - 1 {
                let ci = &rest[(i - 1) * w..i * w];
                let cm = &rest[(n - 2 - i) * w..(n - 1 - i) * w];
                for ((c0, &a), &b) in first.iter_mut().zip(ci).zip(cm) {
                    *c0 += z_i * (a + z_n_1 * b);
                }
                z_i *= z;
            }
            let denom = 1.0 - z_n_1 * z_n_1;
            for c0 in first.iter_mut() {
                *c0 /= denom;
            }
        }
        for i in 1..n {
            let (done, rest) = c.split_at_mut(i * w);
            let prev = &done[(i - 1) * w..];
            for (ci, &cp) in rest[..w].iter_mut().zip(prev) {
                *ci += z * cp;
            }
        }
        // _init_anticausal_mirror
        {
            let (head, last) = c.split_at_mut((n - 1) * w);
            let before = &head[(n - 2) * w..];
            for (cl, &cb) in last[..w].iter_mut().zip(before) {
                *cl = (z * cb + *cl) * z / (z * z - 1.0);
            }
        }
        for i in (0..n - 1).rev() {
            let (head, tail) = c.split_at_mut((i + 1) * w);
            let ci = &mut head[i * w..];
            for (cv, &cn) in ci.iter_mut().zip(&tail[..w]) {
                *cv = z * (cn - *cv);
            }
        }
    }
}

/// Interpolation taps of one output sample: whole-volume input indices and weights.
#[derive(Debug, Clone, Copy)]
struct Tap {
    idx: [usize; MAX_ORDER + 1],
    w: [f64; MAX_ORDER + 1],
}

/// The taps of output index `k` on an axis, as `NI_ZoomShift` computes them with
/// `grid_mode=True`, `mode=NI_EXTEND_MIRROR`, no shift and no prepadding.
fn tap(axis: &AxisPlan, order: usize, k: usize) -> Tap {
    let len = axis.in_len;
    let mut cc = k as f64;
    cc += 0.5;
    cc *= factor(axis);
    cc -= 0.5;
    let cc = map_mirror(cc, len);
    let base = if order & 1 == 1 {
        cc.floor()
    } else {
        (cc + 0.5).floor()
    };
    let start = base as i64 - (order / 2) as i64;
    let mut t = Tap {
        idx: [0; MAX_ORDER + 1],
        w: [0.0; MAX_ORDER + 1],
    };
    for (j, idx) in t.idx.iter_mut().enumerate().take(order + 1) {
        let mapped = map_mirror((start + j as i64) as f64, len) as usize;
        *idx = mapped.min(len.saturating_sub(1));
    }
    if order == 0 {
        t.w[0] = 1.0;
    } else {
        spline_weights(cc, order, &mut t.w);
    }
    t
}

/// Smallest and largest input index (inclusive) read by the taps of `out_range`.
fn tap_span(axis: &AxisPlan, order: usize, out_range: Range<usize>) -> Option<(usize, usize)> {
    let mut span: Option<(usize, usize)> = None;
    for k in out_range {
        let t = tap(axis, order, k);
        for &i in &t.idx[..=order] {
            span = Some(match span {
                None => (i, i),
                Some((lo, hi)) => (lo.min(i), hi.max(i)),
            });
        }
    }
    span
}

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
    let Some((lo, hi)) = tap_span(axis, order, out_range) else {
        return 0..0;
    };
    let halo = PREFILTER_HALO[order].saturating_add(gaussian_params(axis).map_or(0, |(_, r)| r));
    lo.saturating_sub(halo)..hi.saturating_add(halo).saturating_add(1).min(axis.in_len)
}

/// Lines processed together by the separable passes: element `i` of every line of a group
/// sits in one row of a `n x LINE_GROUP` buffer, so the per-element loops run over contiguous
/// memory while each line keeps scipy's order of operations.
const LINE_GROUP: usize = 64;

/// `(outer, len, inner)`: a standard-layout `shape` seen as `outer` blocks of `len` rows of
/// `inner` contiguous elements along `axis`.
fn split_shape(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Runs `body` on the lines along `axis` of a standard-layout array of `shape`, in groups of
/// up to [`LINE_GROUP`]: `body(group, inner)` gets, per line of the group, the flat offset of
/// its element 0 in the input and in an output whose `axis` has length `out_len`; element `i`
/// of a line is `i * inner` further on in both.
fn for_line_groups(
    shape: &[usize],
    axis: usize,
    out_len: usize,
    mut body: impl FnMut(&[(usize, usize)], usize),
) {
    let (outer, n, inner) = split_shape(shape, axis);
    let lines = outer * inner;
    let mut group = Vec::with_capacity(LINE_GROUP);
    let mut first = 0;
    while first < lines {
        group.clear();
        for line in first..(first + LINE_GROUP).min(lines) {
            let (o, q) = (line / inner, line % inner);
            group.push((o * n * inner + q, o * out_len * inner + q));
        }
        body(&group, inner);
        first += group.len();
    }
}

/// Whether the lines of a group are adjacent in memory (same block, consecutive columns).
fn contiguous(group: &[(usize, usize)]) -> bool {
    match (group.first(), group.last()) {
        (Some(f), Some(l)) => l.0 - f.0 == group.len() - 1 && l.1 - f.1 == group.len() - 1,
        _ => false,
    }
}

/// Copies element `i` of every line of `group` into `row`, as f64.
fn gather<T: Copy + Into<f64>>(
    src: &[T],
    group: &[(usize, usize)],
    dense: bool,
    offset: usize,
    row: &mut [f64],
) {
    if dense {
        let start = group[0].0 + offset;
        let len = row.len();
        for (b, &v) in row.iter_mut().zip(&src[start..start + len]) {
            *b = v.into();
        }
    } else {
        for (b, &(base, _)) in row.iter_mut().zip(group) {
            *b = src[base + offset].into();
        }
    }
}

/// Stores `row` (one value per line of `group`) at output element `offset` of each line.
fn scatter<U>(
    dst: &mut [U],
    group: &[(usize, usize)],
    dense: bool,
    offset: usize,
    row: &[f64],
    convert: impl Fn(f64) -> U,
) {
    if dense {
        let start = group[0].1 + offset;
        let len = row.len();
        for (d, &a) in dst[start..start + len].iter_mut().zip(row) {
            *d = convert(a);
        }
    } else {
        for (&a, &(_, out)) in row.iter().zip(group) {
            dst[out + offset] = convert(a);
        }
    }
}

/// One `gaussian_filter1d` pass along `axis` (when `kernel` is given) over a standard-layout
/// f32 array, keeping only the positions `keep` (sorted) along that axis; f64 accumulation in
/// the order of `NI_Correlate1D`'s symmetric branch (centre, then pairs from the outermost
/// inwards), rounded to f32. Mirror boundaries as `NI_ExtendLine`.
fn gaussian_pass(
    src: &[f32],
    shape: &[usize],
    axis: usize,
    kernel: Option<&[f64]>,
    keep: &[usize],
) -> Vec<f32> {
    let n = shape[axis];
    let kernel = kernel.unwrap_or(&[1.0]);
    let r = kernel.len() / 2;
    // Source row of each position of the mirror-extended line.
    let ext_row: Vec<usize> = (0..n + 2 * r)
        .map(|i| extend_mirror(i as i64 - r as i64, n))
        .collect();
    let (outer, _, inner) = split_shape(shape, axis);
    let mut dst = vec![0.0_f32; outer * keep.len() * inner];
    let mut buf = vec![0.0_f64; n * LINE_GROUP];
    let mut acc = vec![0.0_f64; LINE_GROUP];
    for_line_groups(shape, axis, keep.len(), |group, step| {
        let w = group.len();
        let dense = contiguous(group);
        for i in 0..n {
            gather(src, group, dense, i * step, &mut buf[i * w..(i + 1) * w]);
        }
        let row = |e: usize| &buf[ext_row[e] * w..(ext_row[e] + 1) * w];
        for (j, &p) in keep.iter().enumerate() {
            let c = p + r;
            for (a, &x) in acc[..w].iter_mut().zip(row(c)) {
                *a = x * kernel[r];
            }
            for d in (1..=r).rev() {
                let k = kernel[r - d];
                for ((a, &x), &y) in acc[..w].iter_mut().zip(row(c - d)).zip(row(c + d)) {
                    *a += (x + y) * k;
                }
            }
            scatter(&mut dst, group, dense, j * step, &acc[..w], |a| a as f32);
        }
    });
    dst
}

/// B-spline prefilter (orders >= 2, all lines of the window along `axis`) followed by
/// interpolation at `taps` (window-relative), over a standard-layout array; f64 out, with
/// `axis` shortened to `taps.len()`.
fn spline_pass<T: Copy + Into<f64>>(
    src: &[T],
    shape: &[usize],
    axis: usize,
    poles: &[f64],
    order: usize,
    taps: &[Tap],
) -> Vec<f64> {
    let n = shape[axis];
    let (outer, _, inner) = split_shape(shape, axis);
    let mut dst = vec![0.0_f64; outer * taps.len() * inner];
    let mut buf = vec![0.0_f64; n * LINE_GROUP];
    let mut acc = vec![0.0_f64; LINE_GROUP];
    for_line_groups(shape, axis, taps.len(), |group, step| {
        let w = group.len();
        let dense = contiguous(group);
        for i in 0..n {
            gather(src, group, dense, i * step, &mut buf[i * w..(i + 1) * w]);
        }
        spline_prefilter(&mut buf[..n * w], n, w, poles);
        for (j, t) in taps.iter().enumerate() {
            acc[..w].fill(0.0);
            for (&i, &wt) in t.idx[..=order].iter().zip(&t.w[..=order]) {
                for (a, &x) in acc[..w].iter_mut().zip(&buf[i * w..(i + 1) * w]) {
                    *a += x * wt;
                }
            }
            scatter(&mut dst, group, dense, j * step, &acc[..w], |a| a);
        }
    });
    dst
}

/// Interpolates a standard-layout `data` at every output sample, summing the
/// `(order + 1)^ndim` taps exactly as `NI_ZoomShift` does (row-major over the taps, each
/// coefficient multiplied by the axis weights in axis order, accumulated in one f64); returns
/// the clipped f32 values in row-major order. Used for orders 0 and 1.
fn interpolate_tensor(
    values: &[f32],
    shape: &[usize],
    taps: &[Vec<Tap>],
    order: usize,
    clip: (f32, f32),
) -> Vec<f32> {
    let ndim = taps.len();
    let mut strides = vec![1_usize; ndim];
    for a in (0..ndim.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    let per_axis = order + 1;
    let filter_size = per_axis.pow(ndim as u32);
    // Tap coordinates in scipy's order (last axis fastest), as indices `a * per_axis + f`
    // into the per-sample tables below.
    let mut fcoords = vec![0_usize; filter_size * ndim];
    for h in 0..filter_size {
        let mut rest = h;
        for a in (0..ndim).rev() {
            fcoords[h * ndim + a] = a * per_axis + rest % per_axis;
            rest /= per_axis;
        }
    }
    // Flat offsets and weights of the taps of the current output sample, per axis.
    let mut offsets = vec![0_usize; ndim * per_axis];
    let mut weights = vec![0.0_f64; ndim * per_axis];
    let set_axis = |a: usize, k: usize, offsets: &mut [usize], weights: &mut [f64]| {
        let t = &taps[a][k];
        for f in 0..per_axis {
            offsets[a * per_axis + f] = t.idx[f] * strides[a];
            weights[a * per_axis + f] = t.w[f];
        }
    };
    for a in 0..ndim {
        set_axis(a, 0, &mut offsets, &mut weights);
    }
    let total: usize = taps.iter().map(Vec::len).product();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0_usize; ndim];
    for _ in 0..total {
        let mut t = 0.0_f64;
        for f in fcoords.chunks_exact(ndim) {
            let offset: usize = f.iter().map(|&i| offsets[i]).sum();
            let mut coeff = f64::from(values[offset]);
            if order > 0 {
                for &i in f {
                    coeff *= weights[i];
                }
            }
            t += coeff;
        }
        out.push(clip_value(t as f32, clip));
        for a in (0..ndim).rev() {
            index[a] += 1;
            if index[a] < taps[a].len() {
                set_axis(a, index[a], &mut offsets, &mut weights);
                break;
            }
            index[a] = 0;
            set_axis(a, 0, &mut offsets, &mut weights);
        }
    }
    out
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
        if let Some((lo, hi)) = tap_span(axis, order, or.clone())
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

    // Window-relative taps, per axis.
    let mut taps: Vec<Vec<Tap>> = axes
        .iter()
        .zip(window_ranges)
        .zip(out_ranges)
        .map(|((axis, wr), or)| {
            or.clone()
                .map(|k| {
                    let mut t = tap(axis, order, k);
                    for i in &mut t.idx[..=order] {
                        *i -= wr.start;
                    }
                    t
                })
                .collect()
        })
        .collect();

    // Gaussian passes in axis order, each reading and writing f32. Without a prefilter
    // (orders 0 and 1) only the tapped positions are kept (and taps are renumbered); a kept
    // value is computed exactly as in the full pass, from full lines along the filtered axis.
    let window = window.as_standard_layout();
    let input = window
        .as_slice()
        .ok_or_else(|| "internal error: window is not contiguous".to_string())?;
    let mut shape = window.shape().to_vec();
    let mut filtered: Option<Vec<f32>> = None;
    for (a, axis) in axes.iter().enumerate() {
        let kernel = gaussian_params(axis).map(|(sigma, radius)| gaussian_kernel(sigma, radius));
        let len = shape[a];
        let keep: Vec<usize> = if order <= 1 {
            let mut used: Vec<usize> = taps[a]
                .iter()
                .flat_map(|t| t.idx[..=order].iter().copied())
                .collect();
            used.sort_unstable();
            used.dedup();
            used
        } else {
            (0..len).collect()
        };
        if kernel.is_none() && keep.len() == len {
            continue;
        }
        if keep.len() != len {
            let mut position = vec![0_usize; len];
            for (j, &i) in keep.iter().enumerate() {
                position[i] = j;
            }
            for t in &mut taps[a] {
                for i in &mut t.idx[..=order] {
                    *i = position[*i];
                }
            }
        }
        let next = gaussian_pass(
            filtered.as_deref().unwrap_or(input),
            &shape,
            a,
            kernel.as_deref(),
            &keep,
        );
        shape[a] = keep.len();
        filtered = Some(next);
    }
    let data = filtered.as_deref().unwrap_or(input);

    let values: Vec<f32> = if order <= 1 {
        // No prefilter: sum the taps in scipy's own order, so that ties in the final f32
        // rounding (frequent here, as f32 data times dyadic weights is exact in f64) break the
        // same way.
        interpolate_tensor(data, &shape, &taps, order, clip)
    } else {
        // Prefilter and interpolate axis by axis: the same linear operator as scipy's full
        // prefilter followed by the tensor-product sum, rounded differently only in f64.
        let poles = filter_poles(order);
        let mut current = spline_pass(data, &shape, 0, poles, order, &taps[0]);
        shape[0] = taps[0].len();
        for (a, axis_taps) in taps.iter().enumerate().skip(1) {
            current = spline_pass(&current, &shape, a, poles, order, axis_taps);
            shape[a] = axis_taps.len();
        }
        current
            .into_iter()
            .map(|v| clip_value(v as f32, clip))
            .collect()
    };
    ArrayD::from_shape_vec(IxDyn(&out_shape), values).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference case: input from [`lcg_input`], expected output as f32 bit patterns (hex)
    /// from scipy 1.17.1 / skimage 0.26.0 (`scipy.ndimage.gaussian_filter` + `zoom` + clip,
    /// bit-identical to `skimage.transform.rescale` on these inputs).
    struct Case {
        name: &'static str,
        shape: &'static [usize],
        out: &'static [usize],
        order: usize,
        seed: u32,
        modulus: u32,
        mul: f32,
        expected: &'static str,
    }

    /// Deterministic test input: `v = (s >> 8) % modulus` with `s = s * 1664525 + 1013904223`
    /// (mod 2^32), as f32, times `mul` in f32 when `mul != 1`.
    fn lcg_input(shape: &[usize], seed: u32, modulus: u32, mul: f32) -> ArrayD<f32> {
        let mut s = seed;
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = ((s >> 8) % modulus) as f32;
            if mul == 1.0 { v } else { v * mul }
        })
    }

    fn decode(hex: &str) -> Vec<f32> {
        let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(8)
            .map(|c| {
                let s = std::str::from_utf8(c).unwrap();
                f32::from_bits(u32::from_str_radix(s, 16).unwrap())
            })
            .collect()
    }

    fn min_max(a: &ArrayD<f32>) -> (f32, f32) {
        a.iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }

    fn plans(shape: &[usize], out: &[usize]) -> Vec<AxisPlan> {
        shape
            .iter()
            .zip(out)
            .map(|(&in_len, &out_len)| AxisPlan { in_len, out_len })
            .collect()
    }

    fn whole(input: &ArrayD<f32>, axes: &[AxisPlan], order: usize) -> ArrayD<f32> {
        let wr: Vec<Range<usize>> = axes.iter().map(|a| 0..a.in_len).collect();
        let or: Vec<Range<usize>> = axes.iter().map(|a| 0..a.out_len).collect();
        resize_window(input.view(), &wr, axes, order, &or, min_max(input)).unwrap()
    }

    /// Distance in representable f32 values (same-sign finite values).
    fn ulps(a: f32, b: f32) -> u32 {
        let key = |v: f32| {
            let bits = v.to_bits() as i64;
            if bits < 0x8000_0000 {
                bits
            } else {
                0x8000_0000 - bits
            }
        };
        (key(a) - key(b)).unsigned_abs() as u32
    }

    #[test]
    fn matches_scipy_reference() {
        let mut worst = 0;
        for case in CASES {
            let input = lcg_input(case.shape, case.seed, case.modulus, case.mul);
            let axes = plans(case.shape, case.out);
            let got = whole(&input, &axes, case.order);
            let want = decode(case.expected);
            assert_eq!(got.shape(), case.out, "{}", case.name);
            assert_eq!(got.len(), want.len(), "{}", case.name);
            let (mut max_ulp, mut max_rel) = (0_u32, 0.0_f64);
            for (&g, &w) in got.iter().zip(&want) {
                max_ulp = max_ulp.max(ulps(g, w));
                let rel = (f64::from(g) - f64::from(w)).abs() / f64::from(w.abs()).max(1e-30);
                max_rel = max_rel.max(rel);
            }
            println!(
                "{:>16}: order {} {:?} -> {:?}: max {max_ulp} ulp, max rel {max_rel:e}",
                case.name, case.order, case.shape, case.out
            );
            assert!(max_rel <= 1e-5, "{}: relative error {max_rel}", case.name);
            worst = worst.max(max_ulp);
        }
        println!("worst over all cases: {worst} ulp");
        assert!(worst <= 1, "worst {worst} ulp");
    }

    /// Tiny deterministic generator for the tiling test.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % n
        }
    }

    /// Splits `0..len` into consecutive pieces of random length in `1..=max_piece`.
    fn split(rng: &mut Lcg, len: usize, max_piece: usize) -> Vec<Range<usize>> {
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < len {
            let end = (start + 1 + rng.below(max_piece)).min(len);
            pieces.push(start..end);
            start = end;
        }
        pieces
    }

    /// Computes the whole output tile by tile (each tile from its own `input_window`).
    fn tiled(
        input: &ArrayD<f32>,
        axes: &[AxisPlan],
        order: usize,
        tiles: &[Vec<Range<usize>>],
    ) -> ArrayD<f32> {
        let out_shape: Vec<usize> = axes.iter().map(|a| a.out_len).collect();
        let clip = min_max(input);
        let mut out = ArrayD::<f32>::from_elem(IxDyn(&out_shape), f32::NAN);
        let mut index = vec![0_usize; axes.len()];
        loop {
            let or: Vec<Range<usize>> = index
                .iter()
                .enumerate()
                .map(|(a, &i)| tiles[a][i].clone())
                .collect();
            let wr: Vec<Range<usize>> = axes
                .iter()
                .zip(&or)
                .map(|(axis, r)| input_window(axis, order, r.clone()))
                .collect();
            let mut window = input.view();
            let mut target = out.view_mut();
            for (a, (w, o)) in wr.iter().zip(&or).enumerate() {
                window.slice_axis_inplace(Axis(a), Slice::from(w.clone()));
                target.slice_axis_inplace(Axis(a), Slice::from(o.clone()));
            }
            let block = resize_window(window, &wr, axes, order, &or, clip).unwrap();
            target.assign(&block);
            // next tile (odometer)
            let mut a = axes.len();
            loop {
                if a == 0 {
                    return out;
                }
                a -= 1;
                index[a] += 1;
                if index[a] < tiles[a].len() {
                    break;
                }
                index[a] = 0;
            }
        }
    }

    #[test]
    fn tiles_match_whole() {
        let mut rng = Lcg(0x5eed);
        let (mut trials, mut max_ulp, mut differing) = (0, 0_u32, 0_usize);
        for trial in 0..90 {
            let ndim = 1 + trial % 3;
            let order = (trial / 3) % (MAX_ORDER + 1);
            // One long axis so that interior cuts lie beyond every halo; short others.
            let long = rng.below(ndim);
            let mut shape = Vec::new();
            let mut out = Vec::new();
            for a in 0..ndim {
                let (in_len, out_len) = if a == long {
                    let cap = [300, 150, 120][ndim - 1];
                    (1 + rng.below(cap), 1 + rng.below(cap))
                } else {
                    (1 + rng.below(9), 1 + rng.below(9))
                };
                shape.push(in_len);
                out.push(out_len);
            }
            let modulus = [256, 1000, 65536][rng.below(3)];
            let input = lcg_input(&shape, 1000 + trial as u32, modulus, 1.0);
            let axes = plans(&shape, &out);
            let full = whole(&input, &axes, order);
            let tiles: Vec<Vec<Range<usize>>> = out
                .iter()
                .enumerate()
                .map(|(a, &len)| split(&mut rng, len, if a == long { 23 } else { 3 }))
                .collect();
            let parts = tiled(&input, &axes, order, &tiles);
            for (&p, &f) in parts.iter().zip(full.iter()) {
                let d = ulps(p, f);
                assert!(
                    d <= 1,
                    "trial {trial}: {shape:?} -> {out:?} order {order}: {p} vs {f}"
                );
                max_ulp = max_ulp.max(d);
                differing += usize::from(d != 0);
            }
            trials += 1;
        }
        println!("{trials} tiling trials: max {max_ulp} ulp, {differing} values not bit-identical");
    }

    #[test]
    fn halo_bounds_prefilter_truncation() {
        for (order, &h) in PREFILTER_HALO.iter().enumerate().skip(2) {
            let z = filter_poles(order)
                .iter()
                .fold(0.0_f64, |m, p| m.max(p.abs()));
            let bound = (-60.0_f64).exp2();
            assert!(z.powf(h as f64) <= bound, "order {order}");
            assert!(
                z.powf((h - 1) as f64) > bound,
                "order {order} halo not minimal"
            );
        }
    }

    #[test]
    fn input_window_covers_taps_and_halos() {
        let axis = AxisPlan {
            in_len: 100,
            out_len: 50,
        };
        // factor 2: sigma 0.5, radius 2; output 20 samples input 40.5 -> taps 40..=41 (order 1)
        assert_eq!(input_window(&axis, 1, 20..21), 38..44);
        assert_eq!(input_window(&axis, 3, 20..21), 39 - 34..42 + 34 + 1);
        assert_eq!(input_window(&axis, 0, 0..50), 0..100);
        assert_eq!(input_window(&axis, 5, 0..1), 0..3 + 52 + 1);
        assert_eq!(input_window(&axis, 1, 7..7), 0..0);
        assert_eq!(input_window(&axis, 1, 60..70), 0..0);
        let single = AxisPlan {
            in_len: 1,
            out_len: 4,
        };
        assert_eq!(input_window(&single, 5, 0..4), 0..1);
    }

    #[test]
    fn rejects_bad_arguments() {
        let input = lcg_input(&[4, 5], 1, 100, 1.0);
        let axes = plans(&[4, 5], &[2, 3]);
        let wr = [0..4, 0..5];
        let or = [0..2, 0..3];
        let ok = resize_window(input.view(), &wr, &axes, 1, &or, (0.0, 99.0));
        assert!(ok.is_ok());
        assert!(resize_window(input.view(), &wr, &axes, 6, &or, (0.0, 99.0)).is_err());
        assert!(resize_window(input.view(), &wr, &axes[..1], 1, &or, (0.0, 99.0)).is_err());
        assert!(resize_window(input.view(), &wr, &axes, 1, &[0..3, 0..3], (0.0, 99.0)).is_err());
        assert!(resize_window(input.view(), &[0..4, 1..6], &axes, 1, &or, (0.0, 99.0)).is_err());
        // numpy.clip semantics rather than errors for odd clip ranges.
        let nan = resize_window(input.view(), &wr, &axes, 1, &or, (f32::NAN, 99.0)).unwrap();
        assert!(nan.iter().all(|v| v.is_nan()));
        let inverted = resize_window(input.view(), &wr, &axes, 1, &or, (5.0, 1.0)).unwrap();
        assert!(inverted.iter().all(|&v| v == 1.0));
        let zero = [
            AxisPlan {
                in_len: 4,
                out_len: 0,
            },
            axes[1],
        ];
        assert!(resize_window(input.view(), &wr, &zero, 1, &[0..0, 0..3], (0.0, 99.0)).is_err());
        // A window that misses taps is rejected rather than read out of bounds.
        let part = input.slice_axis(Axis(0), Slice::from(0..2)).into_owned();
        assert!(resize_window(part.view(), &[0..2, 0..5], &axes, 1, &or, (0.0, 99.0)).is_err());
        // Empty output ranges give an empty block.
        let empty = resize_window(input.view(), &wr, &axes, 1, &[1..1, 0..3], (0.0, 99.0)).unwrap();
        assert_eq!(empty.shape(), &[0, 3]);
        let none = ArrayD::<f32>::zeros(IxDyn(&[0, 5]));
        let w0 = input_window(&axes[0], 1, 1..1);
        assert_eq!(w0, 0..0);
        let empty = resize_window(
            none.view(),
            &[w0, 0..5],
            &axes,
            1,
            &[1..1, 0..3],
            (0.0, 99.0),
        );
        assert_eq!(empty.map(|e| e.shape().to_vec()), Ok(vec![0, 3]));
        assert!(
            resize_window(
                ArrayD::<f32>::zeros(IxDyn(&[])).view(),
                &[],
                &[],
                1,
                &[],
                (0.0, 1.0)
            )
            .is_err()
        );
    }

    #[test]
    fn clip_matches_numpy() {
        // np.clip(np.float32([-0.0, 0.0, 1.0, nan, 5.0]), 0, 1) -> [-0., 0., 1., nan, 1.]
        let got: Vec<f32> = [-0.0, 0.0, 1.0, f32::NAN, 5.0]
            .iter()
            .map(|&v| clip_value(v, (0.0, 1.0)))
            .collect();
        assert_eq!(got[0].to_bits(), (-0.0_f32).to_bits());
        assert_eq!(got[1].to_bits(), 0.0_f32.to_bits());
        assert_eq!(got[2], 1.0);
        assert!(got[3].is_nan());
        assert_eq!(got[4], 1.0);
        assert_eq!(clip_value(0.0, (3.0, 1.0)), 1.0);
        assert!(clip_value(0.5, (0.0, f32::NAN)).is_nan());
    }

    #[test]
    fn kernel_sum_and_weights_sum_to_one() {
        let k = gaussian_kernel(1.5, 6);
        assert_eq!(k.len(), 13);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        for order in 1..=MAX_ORDER {
            let mut w = [0.0; MAX_ORDER + 1];
            spline_weights(0.3, order, &mut w);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
    }

    // Generated by gen.py (numpy 2.4.6, scipy 1.17.1, skimage 0.26.0 on x86_64).
    const CASES: &[Case] = &[
        Case {
            name: "o1_up_x2_yz",
            shape: &[4, 6, 5],
            out: &[4, 12, 10],
            order: 1,
            seed: 1,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 43558000435580004395400043d1f00044106800443408004453d8004464cc004466e4004466e400\
                 43558000435580004395400043d1f00044106800443408004453d8004464cc004466e4004466e400\
                 43bc400043bc400043b5c00043b9d00043c8700043fcf000442ba80044450400444a8c00444a8c00\
                 4403cc004403cc0043ce080043a4e000438c200043af6000440750004429b400443edc00443edc00\
                 442664004426640043de1800439320004357c000437ec00043cda0004412dc004443d4004443d400\
                 4436c4004436c40043e29800438490004326e000433120004393f00043e80000442a6000442a6000\
                 4434ec004434ec0043db8800437260004305a00042ebc00043432000439a400043e5000043e50000\
                 443dd000443dd0004404500043b228004370700043637000439ea80043caf00043f6900043f69000\
                 44517000445170004434f0004417bc0043f3a80043fce80044259c00443d08004444b8004444b800\
                 4445340044453400442e1c0044204c00441bc4004427140044423c0044491800443ba800443ba800\
                 44191c0044191c0043dfa80043e588004421ec004432bc00442534004409a80043c0300043c03000\
                 44191c0044191c0043dfa80043e588004421ec004432bc00442534004409a80043c0300043c03000\
                 43f9b00043f9b00043915000433240004322400043333000436510004390380043b2a80043b2a800\
                 43f9b00043f9b00043915000433240004322400043333000436510004390380043b2a80043b2a800\
                 440c2800440c280043a9b00043614000435a400043a208004407ac004415140043f2780043f27800\
                 43f6680043f6680043c7380043b2700043b8100043f320004431d000443df800441e0800441e0800\
                 4393f8004393f80043e9e800440f48004418f800442670004437b0004442c8004447b8004447b800\
                 43aed80043aed800440e6400442a3c00442af4004423d0004414d0004423a40044504c0044504c00\
                 4423840044238400442fec00442a14004411fc0043e360004392600043c118004437c4004437c400\
                 442f3800442f3800443fa800442f3c0043fbe80043b7a8004391b80043cd18004434e4004434e400\
                 43f5100043f51000443d98004439b40043ddb80043c478004413d4004435a4004447ac004447ac00\
                 43c5c00043c5c000441a40004417fc0043b8280043cf5800443ac4004453d0004432d0004432d000\
                 43d0800043d0800043ab400043942800438b380043d84800443dac004441100043eca00043eca000\
                 43d0800043d0800043ab400043942800438b380043d84800443dac004441100043eca00043eca000\
                 43c5580043c55800433c9000432ec00043b0a00043e5d00043f6f000440e5c00442b9400442b9400\
                 43c5580043c55800433c9000432ec00043b0a00043e5d00043f6f000440e5c00442b9400442b9400\
                 4408240044082400439998004367c000439f200043bcb00043cc900043f52800441b3c00441b3c00\
                 440cf000440cf00043ce200043a8200043a7e00043a8080043a8980043ca40004406800044068000\
                 43e2200043e2200043fbe00043f4200043cae00043a7d800438b0800439c000043dac00043dac000\
                 43e4180043e41800440f04004415e8004406b80043e4f80043b26800439fe80043ad780043ad7800\
                 440fe400440fe400441a4c00442798004437c800442fb400440f5c0043d5f8004385280043852800\
                 4421bc004421bc004406340044103000443fb0004446b40044253c0043fa0000439c0000439c0000\
                 442794004427940043a57800439f6000441e700044377c00441ad4004406000043f2000043f20000\
                 4418300044183000438b20004376c00044009000441c4c004410e400440d14004410dc004410dc00\
                 43e7200043e7200043bd600043b4600043cc200043ea480044076c0044123c004415940044159400\
                 43e7200043e7200043bd600043b4600043cc200043ea480044076c0044123c004415940044159400\
                 43b7780043b77800441f7400443a4c00442c440043fb48004339b00042ffc00043a4900043a49000\
                 43b7780043b77800441f7400443a4c00442c440043fb48004339b00042ffc00043a4900043a49000\
                 441ed400441ed400442e3c00442e6400441f4c0043ed1800435090004320a00043a5300043a53000\
                 441d8000441d8000441680004416e800441eb8004409b40043afb8004395b80043c5680043c56800\
                 43af800043af800043b0800043e7b000442a880044371c00441994004408140044029c0044029c00\
                 438510004385100043a2300043e68000442900004438b40044225c00440c200043ec000043ec0000\
                 43bbb00043bbb0004401080044152000441a2000440e7c0043e4680043ae00004373800043738000\
                 4401ec004401ec00442c240044338000441800004402740043e5b80043a970004320200043202000\
                 442ec400442ec40044526c00444e60004422a00044149c004424540044054800435de000435de000\
                 44318c0044318c00445c0400445a6400442cac0044173c00441a14004404b40043ae380043ae3800\
                 440a4400440a44004448ec0044578c0044362400440a540043a8380043a5f8004406f4004406f400\
                 440a4400440a44004448ec0044578c0044362400440a540043a8380043a5f8004406f4004406f400",
        },
        Case {
            name: "o1_down_x2",
            shape: &[8, 10, 12],
            out: &[4, 5, 6],
            order: 1,
            seed: 2,
            modulus: 65536,
            mul: 1.0_f32,
            expected: "\
                 46eeb7ca4725b95e470fcc2046e97ace470e39c7471c3a2046fe49a1471225d4470753734703ac91\
                 4716e64946ede8db472f1170470645104709414c4719250846f9d78646dd52f747131e6b4710ce2f\
                 46a0d5e446da92a946f6ab0546efad38470567c346f7bd2a46e604f7470057a646dcfb5646f9aec1\
                 46c139d24717a6ca47030ad446c476fd46f05c924701da0346babc4946e1930446fbaa6246cfa346\
                 46ef94c64714beb146eb3bbf4706117646ff67c046da9168472d4f79470c7e3846f645f546cdba21\
                 46ce325146fcc8cd470a541046ebdd67471d670047129e6b46d85a6b46d72a3e470d9d5146d8cc52\
                 47074299470b9af546cece64471008b4471ce9a44724bf1f46c9b33946d87c1b4702460046e0adff\
                 46ff52294717d8e24702723f470eca2d470fcf2f470be11c4724001047235bca46e65ce246e74532\
                 4706a54e47180f23472441a3470f31bb4716b1914703f33146f7bfe546cefbc9470700f247020e78\
                 4717af8146ff614c471ac7c946f77e134707c93e470674ac46d6121047035fb0471d97c046e24daf\
                 46fd1ec246eb12d346d4314d46d0e5824704a2b546df80b346bffda54708c1ee470be92f470ac0ac\
                 470130384703503e46e7c50e46f3f7bb470b6536472ce1bf470b8c5646eb9fc346faca7a46d5878f",
        },
        Case {
            name: "o1_mixed",
            shape: &[6, 5, 7],
            out: &[3, 10, 10],
            order: 1,
            seed: 3,
            modulus: 1000,
            mul: 0.001_f32,
            expected: "\
                 3edf0e523f0d10bc3f2416d93f07836a3ebab92f3ec170a23f0cfbab3edf9b663ec341b13ebc953c\
                 3edf0e523f0d10bc3f2416d93f07836a3ebab92f3ec170a23f0cfbab3edf9b663ec341b13ebc953c\
                 3eedf52e3f05bfb13f0ae81b3ed5a5983ee853913ef560743efa75613f19fcba3f17e1233f0ce058\
                 3f0013f73efdaed93eeb657a3ebffbd93eed02183ef9940d3ee6b7923f1ccb893f21bc2b3f18f8c0\
                 3f0ad34b3ef0afde3ec8ed7d3ece09963ec8c4c63ece0b6d3edebde93ef0743b3efe63e53f0293d8\
                 3f1747a83f0287f03ecc56653eb03a0e3eae70cd3ebf513e3edcbc2d3ec4e48b3edc3a6f3ef88a37\
                 3f25710f3f1d67713ef5a0303e4d1a7e3e9e062f3ecd65823ee0b25e3eb6e8023edcfbf43f060c8c\
                 3f2abd563f22adc13f01ee4b3e7e83823ebb54953ed3a8093ebc02a43ec61fd93efa8e5f3f12f9c5\
                 3f272c7e3f125ae33ef70b953efa57933f032e003ed218d23e5d59ff3ef28c0f3f1a78d93f230cc5\
                 3f272c7e3f125ae33ef70b953efa57933f032e003ed218d23e5d59ff3ef28c0f3f1a78d93f230cc5\
                 3f281dc23f148dd63f01dd6c3f0b28043ef4c7b63ee9d5003ef28f453ea15bc63ec67bd93f00a18f\
                 3f281dc23f148dd63f01dd6c3f0b28043ef4c7b63ee9d5003ef28f453ea15bc63ec67bd93f00a18f\
                 3f36d2083f371bf73f223c3e3ecdc1d73f1d6cab3f2f89a23f1448953eed91463eeb0f173efb8f26\
                 3f31502c3f391d083f28616e3ec1ea7c3f2a57ab3f3ffbb43f1899a43f0962003ef46fe43ee323e3\
                 3f17982f3f1a91073f144cfb3ef2c9f63f2124da3f2640b63f063acf3f0879f93ee29e403eb80155\
                 3ef7d1013ef679a93f0052f23f10ada23f1d0a7d3f107a1d3eddb7f43ef732473ee785593ed17fb9\
                 3ebc82423eb640de3ed8e6a43f26cf323f1e08943efd4fcf3ea4fa483ec57efd3f0192993f17cf87\
                 3e9981713e9c6ee33ec82d653f1cb83d3f0c897a3ee3e1383eaba16e3ec8d1173f01c8463f17427f\
                 3e8ece903ea903b83ece7a263ee4d1873ed11a5d3ed4a8733ef1ad643f00944b3ee8c7673ece3189\
                 3e8ece903ea903b83ece7a263ee4d1873ed11a5d3ed4a8733ef1ad643f00944b3ee8c7673ece3189\
                 3edffff03ed000383ec7ca1c3ee331b93ef0c85f3f0168813f0baf713f028b103eea5fde3ed86f60\
                 3edffff03ed000383ec7ca1c3ee331b93ef0c85f3f0168813f0baf713f028b103eea5fde3ed86f60\
                 3eca5cc93ed3c5ef3ed829ca3ec6cfc73f01a4893f015ac83ec5ae5e3ede41123ed8c6c43ecc1b39\
                 3ecc626f3eda3e6a3ee95f333ee812d93f03fb5d3eefbeea3ea7e2453eef3f063efe71ba3ef54c85\
                 3ee610e23ee369ab3efb6a573f237d783efed1583ec9ed133ebdfa993f1c07fe3f2db05f3f2a01a2\
                 3f1196e13f0682f53f0913fa3f3328cb3edb91cb3e9d61453ec342cf3f1def923f2eb4ec3f2a783c\
                 3f41dc893f2b89933f16cc053f230b663e9e38133e5437023eb7bae93efaac7b3f0246843ef81422\
                 3f4f44ed3f3fc2123f2aa2753f2059593eadae663e91ed703ef03c663ef47cfd3edbd0c63ec488c6\
                 3f39d00e3f432c713f44974a3f2b12a53f04fa633f0a6b883f3663a33f14a8553ee335123eba4e63\
                 3f39d00e3f432c713f44974a3f2b12a53f04fa633f0a6b883f3663a33f14a8553ee335123eba4e63",
        },
        Case {
            name: "o0_mixed",
            shape: &[6, 5, 7],
            out: &[3, 10, 10],
            order: 0,
            seed: 4,
            modulus: 256,
            mul: 1.0_f32,
            expected: "\
                 43194dc942793e1342793e134207d179435f64ff435f64ff428a779542eac90142eac9014238e8cb\
                 43194dc942793e1342793e134207d179435f64ff435f64ff428a779542eac90142eac9014238e8cb\
                 4222e32d428dcc30428dcc3042c7c8b6433ca781433ca781426ad8f841c2cf4441c2cf44433c81f7\
                 4222e32d428dcc30428dcc3042c7c8b6433ca781433ca781426ad8f841c2cf4441c2cf44433c81f7\
                 4339ddf5430517a8430517a842b371d04346cab14346cab1431215d0435358f1435358f1434ebc44\
                 4339ddf5430517a8430517a842b371d04346cab14346cab1431215d0435358f1435358f1434ebc44\
                 436d036d43339ecb43339ecb42cc57fa42ab428042ab4280433f6f4042b9e7dc42b9e7dc425a0911\
                 436d036d43339ecb43339ecb42cc57fa42ab428042ab4280433f6f4042b9e7dc42b9e7dc425a0911\
                 42e7e7e7428504a7428504a7433cb67c4333d0ec4333d0ec4323438e42a1a4af42a1a4af429fac59\
                 42e7e7e7428504a7428504a7433cb67c4333d0ec4333d0ec4323438e42a1a4af42a1a4af429fac59\
                 433ff4f24330ee874330ee874346e812434988594349885942bf9a42430dde01430dde014313389b\
                 433ff4f24330ee874330ee874346e812434988594349885942bf9a42430dde01430dde014313389b\
                 430dc44642b7a05542b7a055434873ce4357fc494357fc4942bad04a432ae906432ae90643177439\
                 430dc44642b7a05542b7a055434873ce4357fc494357fc4942bad04a432ae906432ae90643177439\
                 4253dbb442de7a7842de7a7842cca50442fcf5b342fcf5b342137e9642d77de542d77de54334d5f5\
                 4253dbb442de7a7842de7a7842cca50442fcf5b342fcf5b342137e9642d77de542d77de54334d5f5\
                 4253a33642b28a9642b28a96427c666042ca62e642ca62e6433d074743281cdc43281cdc4340cc06\
                 4253a33642b28a9642b28a96427c666042ca62e642ca62e6433d074743281cdc43281cdc4340cc06\
                 41e5038f42d60faf42d60faf42223e3741e9655c41e9655c418f20fe43404f3743404f37430bcdad\
                 41e5038f42d60faf42d60faf42223e3741e9655c41e9655c418f20fe43404f3743404f37430bcdad\
                 427c3db7432f0805432f080542cbd885430d749e430d749e433db2e542991014429910144373e573\
                 427c3db7432f0805432f080542cbd885430d749e430d749e433db2e542991014429910144373e573\
                 42c64ded42cd2a7c42cd2a7c41e8525a429c26d5429c26d5433fc9d14280ea384280ea3842936e02\
                 42c64ded42cd2a7c42cd2a7c41e8525a429c26d5429c26d5433fc9d14280ea384280ea3842936e02\
                 43008c8a42a1c83b42a1c83b42b8b2c042c43e2d42c43e2d428a201b42272c8242272c824366b412\
                 43008c8a42a1c83b42a1c83b42b8b2c042c43e2d42c43e2d428a201b42272c8242272c824366b412\
                 432133194222bb474222bb474354d47543256605432566054339cc104319f8db4319f8db433fa8f1\
                 432133194222bb474222bb474354d47543256605432566054339cc104319f8db4319f8db433fa8f1\
                 43582d3e437a2710437a2710435dfeb142c18f7242c18f72424febb342bea36f42bea36f42eb6d55\
                 43582d3e437a2710437a2710435dfeb142c18f7242c18f72424febb342bea36f42bea36f42eb6d55",
        },
        Case {
            name: "o2_mixed",
            shape: &[6, 5, 7],
            out: &[9, 2, 7],
            order: 2,
            seed: 5,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 43a0998c43f0dd7242e477844397e6f2440ad08d43f64a3f442d8c74436c69d94415e3af438dd9bf\
                 4394a6e543e14df34448150e4415d21b43bbccf44397268a439fd2ec43a771ef4423f4e643dd4a96\
                 441c8bc743c3973943d5c05543df255b43a09a3c43d9a7a944540bfc4406b61c440788fb4357eaa6\
                 4415a01a43b60d95442808bf43c2ddbc43f7dea5440f7fb64300365c44269b8743bb407743e9ec93\
                 444a1b7543ae68f744283f3844451f0543b410c9439c9c624386513f43fd9aa544002ddf43a83496\
                 4367212b43ec8e8a43c4bcb1441a8e6443fb66704346532d44007ecb4409b9204409775243eb110f\
                 43af963e4422d1244429a6b344057a5d4408c04544154e2143c4807444230f52440604d143d68cdb\
                 43b8c4d0433c1b04444101884414ad9d441bb6584431a8ae442d7427444331444440ef7c4422fba5\
                 43cfca04440936b1443f37a544110c3243fddf3043ebe58f440c890e43e0266844248cfe441cf5b9\
                 43c3e60c441ac75b442cedf8438bd4b943ef23ff43bf26e2445de3ef4393955343e43a0843e28917\
                 43e2663c43a3ccb14413f13944117d36440f113243ebcb9b4425202943c1591143ddca0243f5015f\
                 440be03a4407bbb343c5545043b9090843dff36a4395f241440b19674410727a4437c38643da416b\
                 442703694403dbad43cdfa5644113fb743b6b9e744394ef9",
        },
        Case {
            name: "o3_up",
            shape: &[3, 4, 3],
            out: &[6, 6, 6],
            order: 3,
            seed: 6,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 43cdfdb043cdfdb0435c049b4371de9e43e9307243e93072438c55c8438c55c8439d11e243aea07c\
                 43b80a7a43b80a7a43797b7443797b74440de435440a627c43569071435690714445a4e64445a4e6\
                 442c8a1c4404765343c3c12d43c3c12d446c0d80446c0d80442eec4944147bf3442a3cac442a3cac\
                 445ed3c1445ed3c1442c9608442075f94440a4a04440a4a043cdfdb043cdfdb0435c049b4371de9e\
                 43e9307243e93072438c55c8438c55c8439d11e243aea07c43b80a7a43b80a7a43797b7443797b74\
                 440de435440a627c43569071435690714445a4e64445a4e6442c8a1c4404765343c3c12d43c3c12d\
                 446c0d80446c0d80442eec4944147bf3442a3cac442a3cac445ed3c1445ed3c1442c9608442075f9\
                 4440a4a04440a4a0433013994330139943c068d143c9e139435f3a0e435f3a0e42f307b942f307b9\
                 43e3d27543f0e45e433a963d433a963d4348b73d4348b73d43ff34654407c75a438d10d9438d10d9\
                 44236bd644236bd643a1ddf8439bb540441bc153441bc153445849b0445849b043adb345435f0e71\
                 440ae749440ae7494458acf84458acf843ca8427436d937443e0ebe643e0ebe643b24ad443b24ad4\
                 44261d57442161b3439aba69439aba6943a2945c43a2945c4412fa46440a995e4371baf74371baf7\
                 43bf16a943bf16a943c7b3a743b94403439b26df439b26df441f302b441f302b439c626a43a7c215\
                 442d5845442d5845441f1248441f124843511d3b4311d2ab43ef5d8c43ef5d8c44111e3f44111e3f\
                 4328906e4286000043916cd243916cd24457553c4457553c446509174452edc4442a423e442a423e\
                 4444e7474444e7474420d97f440480c443fcad4c43fcad4c442f4d1d442f4d1d43919db842f7d50b\
                 438e58eb438e58eb443b1b43443b1b434425b721441375f5440daa0d440daa0d43bb3d9f43bb3d9f\
                 43b1b93c43c8d65b43f4c77a43f4c77a4332c7484332c74842cb60e143346cf343bb640f43bb640f\
                 4457553c4457553c446509174452edc4442a423e442a423e4444e7474444e7474420d97f440480c4\
                 43fcad4c43fcad4c442f4d1d442f4d1d43919db842f7d50b438e58eb438e58eb443b1b43443b1b43\
                 4425b721441375f5440daa0d440daa0d43bb3d9f43bb3d9f43b1b93c43c8d65b43f4c77a43f4c77a\
                 4332c7484332c74842cb60e143346cf343bb640f43bb640f",
        },
        Case {
            name: "o3_down",
            shape: &[9, 12, 10],
            out: &[3, 3, 5],
            order: 3,
            seed: 7,
            modulus: 65536,
            mul: 1.0_f32,
            expected: "\
                 46cd83ac470849a647071a0e46f502794704a62646d9a6a446da574747046ec64702f36046fbfbc9\
                 46d6160946e4e40b470988a04711317746e26224471358dc46c59fbd47081e5647003afe470d6d40\
                 471f3df546eed16747033c1c46f954c646de5b494713e04846fa13a7470d107946e6a79146d60b01\
                 46eb11bd470c0c0a46fc0b6e47183e5f46ea5de34708e6b646eb1ec947006c3146e17f4e46e750c5\
                 46f9d1fc470ea2b04709f8fc46c73a1546e84179",
        },
        Case {
            name: "o3_mixed",
            shape: &[5, 7, 6],
            out: &[3, 10, 3],
            order: 3,
            seed: 8,
            modulus: 1000,
            mul: 0.001_f32,
            expected: "\
                 3f0b1fb03e4e49843f18881f3f11ce773e9ba9163f46306f3f2930c83f057a6d3f53cb533f30f0d3\
                 3f18c5f83ebedd0f3f01a82a3f199f073eafaa333eb6415f3f22d9523ee37fcc3eefa45f3f12354a\
                 3ed306fe3f3bcdc73e8d45cc3ec7372e3f074c1b3eab94de3ec551293eaaa8ca3eec0a5d3ec59287\
                 3f1dffe93d60a93f3eaac37a3ec176e73e6f86563f1cdb823e8206613ec461a93f539a8a3f2fb43f\
                 3df367703ea4fdd93ef58f0d3e2955e23e570db43ef08aae3eaa11b43ed4437a3f472cd73ee3ba46\
                 3f04ad523f1efa8d3f14e7423ed08d2e3f3412273f16a8d73f205b2e3f566d993f0e74d83f4ce874\
                 3f1a12713f00dcfc3ef540d83f05257b3ee4cd523ed132c03ebca71c3f01427b3eb699bc3ecae063\
                 3f4411533f05f7c83f0a23803f3523f03f295e5e3ee26b7f3f05e6373f1826c83e701b213efdbb12\
                 3edabef93ec2cd1f3f1ce2593ed69fad3f183df83ee9294e3f0393ec3f26b6513ea58dd53f0e38ff",
        },
        Case {
            name: "o4_mixed",
            shape: &[7, 5, 6],
            out: &[4, 10, 4],
            order: 4,
            seed: 9,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 4317ec0743e7b5914331206143b4f8444317ec0743e7b5914331206143b4f844438258414411e4f2\
                 434d771043b632de439f11c4442c2c11435bf82143b4aaae43a71c82443a4ee8436d7d7643ba1b50\
                 43ecabb3444e3e4b43a24cae43d6b5bb44295c8f445bd58543ea208243f990e6442e5658444051aa\
                 44104ff943faf9d6440cf66244112f944419fe3a43e309fb440cf66244112f944419fe3a43e309fb\
                 43e0da76442db42244496ad04316012d43e0da76442db42244496ad04316012d442237c1435bbce8\
                 445dc6dc432e7dd4441b434f42ec687444434bdd4332f5a9439a3a6b43f56c0543f7854a433faef0\
                 42acf970441c41c943a145ec439786be43239c2f43c5866d43a5e34f4400f59243dc949243ad5113\
                 43a49d124436f93d442cf2ec4409baa24384522544578123442cf2ec4409baa24384522544578123\
                 44098db143c312714471626c42f29ccc44098db143c312714471626c42f29ccc43bf1ded436b0756\
                 4441905942fbc0c643bf84c842beb4444412d81b43cf1180441c5129422a758a440474204451e7a8\
                 445472e142054b1a4411ae8d44602bc14457e2504301bbc1441d8ee5441c6dcb4426da8643e22466\
                 44081892440ffdd443ddb4d4444bf54e43c4ffd74445291743ddb4d4444bf54e43c4ffd744452917\
                 440ec3ce4448362143e6c7d243c8c475440ec3ce4448362143e6c7d243c8c4754376ace2443a7df1\
                 4407acea440c887b43b026f044250cfc43ff645143f97db1444b205c44119e8243b3211c43713b34\
                 443d86df440a838d438f4be6435f62f8435b78284413581443c419d343e7597442d88b944426e917\
                 4415a0af4408e0a243eabb8f44382d06443f6cd043d4684343eabb8f44382d06443f6cd043d46843",
        },
        Case {
            name: "o5_up",
            shape: &[3, 4, 3],
            out: &[6, 6, 6],
            order: 5,
            seed: 10,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 440bbac0440bbac0443b55374460dc7d4466aacc4466aacc43c6a72f43c6a72f44314b93445b7568\
                 44497ee044497ee0435cb343435cb34343eaf9ca440b126543d6f41443d6f414441f0073441f0073\
                 43577b37421d16f9435105e8435105e8444b9839444b9839439aa34142796bd643580c9c43580c9c\
                 4443acaa4443acaa43c382974326e36f436f96a7436f96a7440bbac0440bbac0443b55374460dc7d\
                 4466aacc4466aacc43c6a72f43c6a72f44314b93445b756844497ee044497ee0435cb343435cb343\
                 43eaf9ca440b126543d6f41443d6f414441f0073441f007343577b37421d16f9435105e8435105e8\
                 444b9839444b9839439aa34142796bd643580c9c43580c9c4443acaa4443acaa43c382974326e36f\
                 436f96a7436f96a743bf225243bf225243a1d0d943e26030442dc96f442dc96f43e9faa143e9faa1\
                 43cc1a4143dea045440b6eab440b6eab4415486c4415486c43e5fbe7438f4fb54331162b4331162b\
                 43c889a843c889a843134c1942117f5b43044a5e43044a5e433673ea433673ea40aeec5742c6a53d\
                 43ccf0fc43ccf0fc430cd70b430cd70b41996f4b432ced3f44005958440059584362d91d4362d91d\
                 41a69f144305804a43f9efff43f9efff43f0464543f04645435f2a9143558d1143e49ff443e49ff4\
                 4450c7e04450c7e0441339e843b885d443972ef443972ef443a9aa5a43a9aa5a43a00f264390e253\
                 4384e4c44384e4c442a1795742a1795741af4be0433d8e2b43f37b8843f37b8842dc010842dc0108\
                 400000004330027244117f3c44117f3c43364f1443364f144179615142fbb1eb43e0beca43e0beca\
                 43d5e87543d5e87543826673439e3118440ca03a440ca03a4447593644475936444398c8443d00c2\
                 44375eda44375eda43f331d943f331d9441e9063442352764405208744052087440df9d9440df9d9\
                 43ae9025438c808b43c96a9f43c96a9f4430fe384430fe38439587ba432e5bcc43cae63a43cae63a\
                 43364f1443364f144179615142fbb1eb43e0beca43e0beca43d5e87543d5e87543826673439e3118\
                 440ca03a440ca03a4447593644475936444398c8443d00c244375eda44375eda43f331d943f331d9\
                 441e9063442352764405208744052087440df9d9440df9d943ae9025438c808b43c96a9f43c96a9f\
                 4430fe384430fe38439587ba432e5bcc43cae63a43cae63a",
        },
        Case {
            name: "o5_down",
            shape: &[10, 9, 12],
            out: &[3, 4, 3],
            order: 5,
            seed: 11,
            modulus: 65536,
            mul: 1.0_f32,
            expected: "\
                 470810e046ee24b146ee64b246d74e4f4700cf194703acb74716e90b46ec806b46ed866a47048299\
                 470760d446e166b14708730146c9803a46fc2095470e8c894700c9dd47046f3446d7485146e3b05b\
                 46f4847746f065e646f13d3a46e1f52a4704ff0e46f1fc8c46ff622f46fe361646e575b647106515\
                 46e5166d46ed21684701539446c6ea7646e6cce046e1d0a3",
        },
        Case {
            name: "o5_mixed",
            shape: &[6, 8, 5],
            out: &[3, 12, 5],
            order: 5,
            seed: 12,
            modulus: 1000,
            mul: 0.001_f32,
            expected: "\
                 3f2957363f2327923ef96bae3eec4bf53f07c1133f07ae7a3f16ef773f0287ac3efbb5393f144e1c\
                 3ea0a8843ee59dd93f267a423f2131503f1fa7393ee0acfd3ece5e9e3f47a6e83f27746a3efcbacb\
                 3eb9c1fc3ee276d33f2092f53eb11ea43eed815f3e629bd63ec24c503ece923a3e6427843ed6ae30\
                 3e947c1a3e8d9d8c3eb922863edeaf893e8148083e8947333ed231e83eace99f3eae0ffb3e9e8f36\
                 3f0590263f0742103eaadd4c3eb14f6b3f135a4d3f68b6be3ecc16713ef7c5303f34d0173f43d0ea\
                 3ef63f1e3ea311933f3411f33f1ca90b3f52b5ed3e6111083ea4908a3f4433613ef8f6cf3f53e807\
                 3f1dca223f0bee153ed7ffca3f485eab3ee4dcb73f36a5443f0b0cc33f0ffee23f1bf7863effdc2f\
                 3f4ccdda3f191f083f467b4b3e646f3d3f3205b83f1c16773f281d0f3ef66f513e9b8d6a3f471781\
                 3f43f0f03ee9a1ef3e693fc33f03ba523f1547513f5699043e85e6a43ea7d9e23eff192e3ef9b08d\
                 3ee3a7093ee119053f1a4dd83ea466643f3e69463eaf39163f40dbba3f4dd55c3e538e133f78eefe\
                 3edda2d23f3847cb3f0f88ee3e950f523f6a6c0c3eb86a773ef934803e4547473ed21e573f268b18\
                 3ef8343d3f24c2ab3ef161de3ea1252e3ebc9e793f11975c3f42968e3f287d683e81b4ed3e96c0fe\
                 3e9893f63ee0d0053f0c28413ea591013f50bd483eddcd793f025e493ee63cb53e7db1723f2724ea\
                 3f38e0f83f31afee3e7ce38f3e966e4d3ec723ce3f258c983f44a91a3ed705333f2c77183f0f65a0\
                 3f0479973f4a6a923f43933f3f0c92113f03ab2f3f110c643f2d83e23f2340b83e92f6163edeb9ea\
                 3f2b83503f07a7a93e6d2a723f05d37b3f1764f23f315f2b3f281fa03ed2cead3f2f00ec3ee8e3f4\
                 3f22f3343f27072c3f12ce043ee4f41e3eee34253f1040403ec0267b3eac05113e8d32e23f520895\
                 3f014a1d3ee5bee83f2753ad3f0cbd033f2803b13efb236e3f0b6d3c3f5d44653f303f843f006128",
        },
        Case {
            name: "len1_1d_o3",
            shape: &[1],
            out: &[3],
            order: 3,
            seed: 13,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 42b4000042b4000042b40000",
        },
        Case {
            name: "len1_3d_o3",
            shape: &[1, 5, 4],
            out: &[2, 3, 6],
            order: 3,
            seed: 14,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 4401c3dc443307a9446e80004408cd824353676043207df042fb75a94310138643c96ec0444f29bb\
                 442d0b754407b5ab43ca8e8443c17a8e43d9bd72440b01cd439deec5432f3ca54401c3dc443307a9\
                 446e80004408cd824353676043207df042fb75a94310138643c96ec0444f29bb442d0b754407b5ab\
                 43ca8e8443c17a8e43d9bd72440b01cd439deec5432f3ca5",
        },
        Case {
            name: "len1_down_o1",
            shape: &[1, 6],
            out: &[1, 3],
            order: 1,
            seed: 15,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 43d6ab4a43ce351043b2695e",
        },
        Case {
            name: "len2_2d_o3",
            shape: &[2, 7],
            out: &[5, 4],
            order: 3,
            seed: 16,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 44138d764380cfa8440bee7744465f3f44108b2542e9765344015e68444f198d4418192043eb3a9e\
                 441be35144393005441fa71a444e0bd34436683b4423467c441ca4c9442ad2ca442bd82c442c00ca",
        },
        Case {
            name: "len2_3d_o5",
            shape: &[2, 3, 2],
            out: &[6, 3, 1],
            order: 5,
            seed: 17,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 43986b7543b2e2814403ff794321000043a1400043f9c00043986b7543b2e2814403ff7944138a46\
                 43d5dd7f441220874437800043e780004419400044138a4643d5dd7f44122087",
        },
        Case {
            name: "len2_1d_o1_down",
            shape: &[2],
            out: &[1],
            order: 1,
            seed: 18,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 4445a000",
        },
        Case {
            name: "o1_1d_down3",
            shape: &[20],
            out: &[6],
            order: 1,
            seed: 19,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 439e035544048a1b440690da43abe78944097c4143ed2956",
        },
        Case {
            name: "o4_1d_up",
            shape: &[9],
            out: &[21],
            order: 4,
            seed: 20,
            modulus: 1000,
            mul: 1.0_f32,
            expected: "\
                 4409794944137c7d43d2b249438b000043a3948d43d9809043c85696439b59e243d9d143443e550d\
                 44630000441fe3494347fce24248000042480000428a76a342480000424800004363d06f43c8ef42\
                 43b4afc2",
        },
        Case {
            name: "o3_identity",
            shape: &[3, 4, 5],
            out: &[3, 4, 5],
            order: 3,
            seed: 21,
            modulus: 1000,
            mul: 0.001_f32,
            expected: "\
                 3dd916883d0f5c293f39999a3ec9ba5f3e0f5c293ec418943ee5e3553ea8f5c33cc49ba63d8b4396\
                 3f7e35403e072b023d6560423e9e35403f4666673e9e35403f2a7efa3ee0c49c3de76c8c3f408313\
                 3e45a1cb3edf3b653f03d70b3ecd4fe03f245a1d3f61cac13ecc49bb3e91eb863f29fbe83f624dd4\
                 3da9fbe83f6d4fe03cfdf3b73f4a7efa3e676c8c3f4d91693deb851f3ef439593f2e56053f5a5e36\
                 3ef9db243efbe76d3f5168733f59999a3e9d2f1b3f40418a3f0e147b3ea1cac13e3333343ec20c4a\
                 3e9b22d13d072b023f3439593f1e35403f09ba5f3eb2b0213f32f1ab3f0dd2f23f30624e3d2c0832",
        },
        Case {
            name: "o3_2d_down4",
            shape: &[16, 13],
            out: &[4, 6],
            order: 3,
            seed: 22,
            modulus: 65536,
            mul: 1.0_f32,
            expected: "\
                 46f13bb54724968a470374da470578f847083ccf46e022f247110c0c472396ae4712f1b546e3a893\
                 46da282b470611bc46f1ca3b471fe09846e98d21470a023146d3f9284729d42846965e174711df87\
                 46e00b10470dd2ee47141b9047275bb6",
        },
    ];
}
