//! Step 1 of the resize pipeline: Gaussian anti-aliasing as `scipy.ndimage.gaussian_filter1d`
//! computes it (`mode="mirror"`, `truncate=4.0`), axis by axis over f32.

use super::lines::split_shape;
use super::spline::{self, Tap};
use super::{AxisPlan, factor};

/// `truncate` of the Gaussian filter: the kernel radius is `int(truncate * sigma + 0.5)`.
const TRUNCATE: f64 = 4.0;

/// Sigmas at or below this are skipped, as `scipy.ndimage.gaussian_filter` does.
const SIGMA_EPS: f64 = 1e-15;

/// The anti-aliasing sigma and kernel radius of an axis, or `None` when it is not filtered.
pub(super) fn gaussian_params(axis: &AxisPlan) -> Option<(f64, usize)> {
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

/// Output elements filtered together, each accumulator in a register.
const LANES: usize = 8;

/// One `gaussian_filter1d` pass along `axis` (when `kernel` is given) over a standard-layout
/// f32 array, keeping only the positions `keep` (sorted) along that axis; f64 accumulation in
/// the order of `NI_Correlate1D`'s symmetric branch (centre, then pairs from the outermost
/// inwards), rounded to f32. Mirror boundaries as `NI_ExtendLine`.
///
/// Every output element sees exactly that sequence of operations; the loops run over
/// contiguous memory: along the rows of a plane for the outer axes, along a
/// mirror-extended copy of each line for the last one.
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
    if dst.is_empty() {
        return dst;
    }
    if inner == 1 {
        let mut line = vec![0.0_f64; n + 2 * r];
        for (src_line, out) in src.chunks_exact(n).zip(dst.chunks_exact_mut(keep.len())) {
            // The line itself, then the mirrored samples on either side.
            for (e, &x) in line[r..r + n].iter_mut().zip(src_line) {
                *e = f64::from(x);
            }
            for i in (0..r).chain(r + n..n + 2 * r) {
                line[i] = f64::from(src_line[ext_row[i]]);
            }
            if keep.len() == n {
                // Sorted, distinct and `n` of them: every position, in order.
                let taps: Vec<&[f64]> = (0..=2 * r).map(|t| &line[t..t + n]).collect();
                filter_rows(&taps, kernel, out);
            } else {
                filter_kept(&line, kernel, keep, out);
            }
        }
        return dst;
    }
    let mut taps: Vec<&[f32]> = Vec::with_capacity(2 * r + 1);
    for (plane, out) in src
        .chunks_exact(n * inner)
        .zip(dst.chunks_exact_mut(keep.len() * inner))
    {
        for (&p, out_row) in keep.iter().zip(out.chunks_exact_mut(inner)) {
            taps.clear();
            taps.extend(
                ext_row[p..=p + 2 * r]
                    .iter()
                    .map(|&e| &plane[e * inner..(e + 1) * inner]),
            );
            filter_rows(&taps, kernel, out_row);
        }
    }
    dst
}

/// `out[e]` = the filtered value of column `e` of the `2r + 1` rows `taps` (`taps[r]` the
/// centre), in [`gaussian_pass`]'s order of operations; [`LANES`] columns at a time.
fn filter_rows<T: Copy + Into<f64>>(taps: &[&[T]], kernel: &[f64], out: &mut [f32]) {
    let r = kernel.len() / 2;
    let full = out.len() - out.len() % LANES;
    for (b, o) in out[..full].chunks_exact_mut(LANES).enumerate() {
        let cols = b * LANES..(b + 1) * LANES;
        let mut a = [0.0_f64; LANES];
        for (a, &x) in a.iter_mut().zip(&taps[r][cols.clone()]) {
            *a = x.into() * kernel[r];
        }
        for d in (1..=r).rev() {
            let k = kernel[r - d];
            let pairs = taps[r - d][cols.clone()]
                .iter()
                .zip(&taps[r + d][cols.clone()]);
            for (a, (&x, &y)) in a.iter_mut().zip(pairs) {
                *a += (x.into() + y.into()) * k;
            }
        }
        for (o, &a) in o.iter_mut().zip(&a) {
            *o = a as f32;
        }
    }
    for (e, o) in out.iter_mut().enumerate().skip(full) {
        let mut t = taps[r][e].into() * kernel[r];
        for d in (1..=r).rev() {
            t += (taps[r - d][e].into() + taps[r + d][e].into()) * kernel[r - d];
        }
        *o = t as f32;
    }
}

/// The kept positions `keep` of one mirror-extended line (`line[i + r]` is sample `i`),
/// filtered into `out`.
fn filter_kept(line: &[f64], kernel: &[f64], keep: &[usize], out: &mut [f32]) {
    let r = kernel.len() / 2;
    for (o, &p) in out.iter_mut().zip(keep) {
        let c = p + r;
        let mut t = line[c] * kernel[r];
        for d in (1..=r).rev() {
            t += (line[c - d] + line[c + d]) * kernel[r - d];
        }
        *o = t as f32;
    }
}

/// The anti-aliasing step over a standard-layout window of `shape`: one [`gaussian_pass`] per
/// axis in axis order, each reading and writing f32. Without a prefilter (orders 0 and 1)
/// only the tapped positions are kept (`taps` are renumbered and `shape` shrinks to match); a
/// kept value is computed exactly as in the full pass, from full lines along the filtered
/// axis. `None` when no axis needs a pass: the input is then used as it is.
pub(super) fn anti_alias(
    input: &[f32],
    shape: &mut [usize],
    axes: &[AxisPlan],
    order: usize,
    taps: &mut [Vec<Tap>],
) -> Option<Vec<f32>> {
    let mut filtered: Option<Vec<f32>> = None;
    for (a, (axis, axis_taps)) in axes.iter().zip(taps).enumerate() {
        let kernel = gaussian_params(axis).map(|(sigma, radius)| gaussian_kernel(sigma, radius));
        let len = shape[a];
        let keep: Vec<usize> = if order <= 1 {
            spline::keep_tapped(axis_taps, order, len)
        } else {
            (0..len).collect()
        };
        if kernel.is_none() && keep.len() == len {
            continue;
        }
        let next = gaussian_pass(
            filtered.as_deref().unwrap_or(input),
            shape,
            a,
            kernel.as_deref(),
            &keep,
        );
        shape[a] = keep.len();
        filtered = Some(next);
    }
    filtered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sums_to_one() {
        let k = gaussian_kernel(1.5, 6);
        assert_eq!(k.len(), 13);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }
}
