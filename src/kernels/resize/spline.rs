//! Step 2 of the resize pipeline: `scipy.ndimage.zoom`'s B-spline prefilter, interpolation
//! taps and weights (`ni_splines.c`, `ni_interpolation.c`), operation for operation.

use std::ops::Range;

use super::lines::{LINE_GROUP, contiguous, for_line_groups, gather, scatter, split_shape};
use super::{AxisPlan, MAX_ORDER, clip_value, factor};

/// Extra input samples kept on each side of the interpolation taps, per spline order, so that
/// the recursive B-spline prefilter (which has infinite support) sees enough of the true signal
/// at an interior cut. A wrong sample at distance `d` from a tap perturbs the coefficient there
/// by about `|z|^d` times the sample, `z` being the pole of largest modulus
/// (`get_filter_poles`: order 2: 0.1716, 3: 0.2679, 4: 0.3613, 5: 0.4306). The halo `H` is the
/// smallest with `|z|^H <= 2^-60` (order 2: 23.6, 3: 31.6, 4: 40.9, 5: 49.4, rounded up), i.e.
/// far below one f64 ulp of the data range, hence far below f32 resolution even for values
/// near zero in data with a range of 2^32. Orders 0 and 1 have no prefilter.
pub const PREFILTER_HALO: [usize; MAX_ORDER + 1] = [0, 0, 24, 32, 41, 50];

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
pub(super) struct Tap {
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
pub(super) fn tap_span(
    axis: &AxisPlan,
    order: usize,
    out_range: Range<usize>,
) -> Option<(usize, usize)> {
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
///
/// Each output row (last axis) is one vector of accumulators: the taps of the leading axes
/// are walked in scipy's order and, for each, the last axis's taps are added to every sample
/// of the row, so every sample still sees its own sequence of operations.
fn interpolate_tensor(
    values: &[f32],
    shape: &[usize],
    taps: &[Vec<Tap>],
    order: usize,
    clip: (f32, f32),
) -> Vec<f32> {
    let Some((last_taps, lead_taps)) = taps.split_last() else {
        return Vec::new();
    };
    let ndim = taps.len();
    let mut strides = vec![1_usize; ndim];
    for a in (0..ndim.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    let per_axis = order + 1;
    // Per tap of the last axis: every output sample's input position and weight.
    let last_idx: Vec<Vec<usize>> = (0..per_axis)
        .map(|f| last_taps.iter().map(|t| t.idx[f]).collect())
        .collect();
    let last_w: Vec<Vec<f64>> = (0..per_axis)
        .map(|f| last_taps.iter().map(|t| t.w[f]).collect())
        .collect();
    let lead_taps_n = per_axis.pow((ndim - 1) as u32);
    let rows: usize = lead_taps.iter().map(Vec::len).product();
    let mut out = Vec::with_capacity(rows * last_taps.len());
    let mut acc = vec![0.0_f64; last_taps.len()];
    let mut index = vec![0_usize; ndim - 1];
    let mut weights = vec![0.0_f64; ndim - 1];
    for _ in 0..rows {
        acc.fill(0.0);
        for h in 0..lead_taps_n {
            // Leading-axis tap `h` (last leading axis fastest): its offset and weights.
            let (mut rest, mut base) = (h, 0);
            for a in (0..ndim - 1).rev() {
                let t = &lead_taps[a][index[a]];
                let f = rest % per_axis;
                rest /= per_axis;
                base += t.idx[f] * strides[a];
                weights[a] = t.w[f];
            }
            for (idx, w) in last_idx.iter().zip(&last_w) {
                let weights = (order > 0).then_some((weights.as_slice(), w.as_slice()));
                add_taps(&mut acc, values, base, idx, weights);
            }
        }
        out.extend(acc.iter().map(|&t| clip_value(t as f32, clip)));
        for a in (0..ndim - 1).rev() {
            index[a] += 1;
            if index[a] < lead_taps[a].len() {
                break;
            }
            index[a] = 0;
        }
    }
    out
}

/// `acc[k] += values[base + idx[k]] * lead[0] * .. * w[k]` (in that order), or without the
/// products when `weights` is `None` (order 0).
fn add_taps(
    acc: &mut [f64],
    values: &[f32],
    base: usize,
    idx: &[usize],
    weights: Option<(&[f64], &[f64])>,
) {
    let at = |i: usize| f64::from(values[base + i]);
    match weights {
        None => {
            for (a, &i) in acc.iter_mut().zip(idx) {
                *a += at(i);
            }
        }
        Some((&[], w)) => {
            for ((a, &i), &wk) in acc.iter_mut().zip(idx).zip(w) {
                *a += at(i) * wk;
            }
        }
        Some((&[w0], w)) => {
            for ((a, &i), &wk) in acc.iter_mut().zip(idx).zip(w) {
                *a += at(i) * w0 * wk;
            }
        }
        Some((&[w0, w1], w)) => {
            for ((a, &i), &wk) in acc.iter_mut().zip(idx).zip(w) {
                *a += at(i) * w0 * w1 * wk;
            }
        }
        Some((lead, w)) => {
            for ((a, &i), &wk) in acc.iter_mut().zip(idx).zip(w) {
                let mut coeff = at(i);
                for &wl in lead {
                    coeff *= wl;
                }
                *a += coeff * wk;
            }
        }
    }
}

/// The taps of every output index in `out_ranges`, per axis, relative to the start of the
/// window given by `window_ranges`.
pub(super) fn window_taps(
    axes: &[AxisPlan],
    window_ranges: &[Range<usize>],
    out_ranges: &[Range<usize>],
    order: usize,
) -> Vec<Vec<Tap>> {
    axes.iter()
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
        .collect()
}

/// The positions (sorted, distinct) that `taps` read on an axis of `len` samples; the taps
/// are renumbered to index into that list.
pub(super) fn keep_tapped(taps: &mut [Tap], order: usize, len: usize) -> Vec<usize> {
    let mut used: Vec<usize> = taps
        .iter()
        .flat_map(|t| t.idx[..=order].iter().copied())
        .collect();
    used.sort_unstable();
    used.dedup();
    if used.len() != len {
        let mut position = vec![0_usize; len];
        for (j, &i) in used.iter().enumerate() {
            position[i] = j;
        }
        for t in taps.iter_mut() {
            for i in &mut t.idx[..=order] {
                *i = position[*i];
            }
        }
    }
    used
}

/// The interpolation step after anti-aliasing: `data` (standard layout, `shape`) sampled at
/// `taps` and clipped, as f32 in row-major order.
///
/// Orders 0 and 1 have no prefilter: the taps are summed in scipy's own order, so that ties
/// in the final f32 rounding (frequent here, as f32 data times dyadic weights is exact in
/// f64) break the same way. Higher orders prefilter and interpolate axis by axis: the same
/// linear operator as scipy's full prefilter followed by the tensor-product sum, rounded
/// differently only in f64.
pub(super) fn zoom(
    data: &[f32],
    shape: &[usize],
    taps: &[Vec<Tap>],
    order: usize,
    clip: (f32, f32),
) -> Vec<f32> {
    if order <= 1 {
        return interpolate_tensor(data, shape, taps, order, clip);
    }
    let poles = filter_poles(order);
    let mut shape = shape.to_vec();
    let mut current: Option<Vec<f64>> = None;
    for (a, axis_taps) in taps.iter().enumerate() {
        let next = match &current {
            None => spline_pass(data, &shape, a, poles, order, axis_taps),
            Some(values) => spline_pass(values, &shape, a, poles, order, axis_taps),
        };
        shape[a] = axis_taps.len();
        current = Some(next);
    }
    current
        .unwrap_or_default()
        .into_iter()
        .map(|v| clip_value(v as f32, clip))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn weights_sum_to_one() {
        for order in 1..=MAX_ORDER {
            let mut w = [0.0; MAX_ORDER + 1];
            spline_weights(0.3, order, &mut w);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
    }
}
