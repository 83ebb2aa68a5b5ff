//! End-to-end tests of the resize pipeline: scipy's reference outputs (from
//! `tests/fixtures/kernels/resize_scipy.json`), tiling, windows and argument checks.

use std::ops::Range;

use ndarray::{ArrayD, Axis, IxDyn, Slice};
use serde::Deserialize;

use super::*;

/// A reference case: input from [`lcg_input`], expected output as f32 bit patterns (hex)
/// from scipy 1.17.1 / skimage 0.26.0 (`scipy.ndimage.gaussian_filter` + `zoom` + clip,
/// bit-identical to `skimage.transform.rescale` on these inputs).
#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    shape: Vec<usize>,
    out: Vec<usize>,
    order: usize,
    seed: u32,
    modulus: u32,
    /// An f32 literal, kept as text so that it rounds once, as the Rust literal did.
    mul: String,
    expected: Vec<String>,
}

/// The reference file: a description and the cases.
#[derive(Debug, Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

/// The cases of the scipy reference fixture.
fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kernels/resize_scipy.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<Reference>(&text).unwrap().cases
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

fn decode(hex: &[String]) -> Vec<f32> {
    hex.iter()
        .map(|s| f32::from_bits(u32::from_str_radix(s, 16).unwrap()))
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
    let cases = cases();
    assert_eq!(cases.len(), 22);
    for case in &cases {
        let mul: f32 = case.mul.parse().unwrap();
        let input = lcg_input(&case.shape, case.seed, case.modulus, mul);
        let axes = plans(&case.shape, &case.out);
        let got = whole(&input, &axes, case.order);
        let want = decode(&case.expected);
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
