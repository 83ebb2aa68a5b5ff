//! The golden cases of `tests/fixtures/golden` as a reusable check: a case's metadata
//! equals `expected.json`, its ROI equals `expected.npy`, and the same ROI read as small
//! unaligned tiles gives the same voxels — from any kind of store.

use std::path::{Path, PathBuf};

use arrayd::dtype::{DType, Kind};
use arrayd::encode::npy;
use arrayd::volume::Volume;
use serde_json::Value;

use super::{TestServer, golden_dir};

/// Every case folder, sorted.
pub fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(golden_dir().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 50, "golden cases missing: {}", dirs.len());
    dirs
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn as_f64(v: &Volume) -> Vec<f64> {
    v.cast(DType::F64)
        .to_le_bytes()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Compares `got` with `want`: exact for integers and bool, 1e-5 relative for floats;
/// `tolerance` = (max abs difference, max fraction of voxels that may differ).
fn compare(case: &str, got: &Volume, want: &Volume, tolerance: Option<(f64, f64)>) {
    assert_eq!(got.dtype(), want.dtype(), "{case}: dtype");
    assert_eq!(got.shape(), want.shape(), "{case}: shape");
    if want.dtype().kind() == Kind::Float {
        for (i, (g, w)) in as_f64(got).iter().zip(as_f64(want)).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1e-30),
                "{case}: voxel {i}: {g} vs {w}"
            );
        }
        return;
    }
    match tolerance {
        None => assert!(got == want, "{case}: voxels differ"),
        Some((max_abs, max_frac)) => {
            let (g, w) = (as_f64(got), as_f64(want));
            let differing = g.iter().zip(&w).filter(|(a, b)| a != b).count();
            let worst = g
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst <= max_abs, "{case}: max difference {worst}");
            #[expect(clippy::cast_precision_loss, reason = "voxel counts")]
            let frac = differing as f64 / w.len() as f64;
            assert!(
                frac <= max_frac,
                "{case}: {differing} of {} voxels differ",
                w.len()
            );
        }
    }
}

/// Points every `zarr` source of a config (at any depth) elsewhere: `f(file_name)`.
pub fn rewrite_zarr_sources(config: &mut Value, f: &(dyn Fn(&str) -> String + Sync)) {
    match config {
        Value::Object(map) => {
            let is_zarr = map.get("type").and_then(Value::as_str) == Some("zarr")
                || map.get("__type__").and_then(Value::as_str) == Some("ZarrArrayConfig");
            if is_zarr && let Some(Value::String(file)) = map.get_mut("file_name") {
                *file = f(file);
            }
            for v in map.values_mut() {
                rewrite_zarr_sources(v, f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_zarr_sources(v, f)),
        _ => {}
    }
}

/// Runs one golden case against `server`, with its zarr sources' `file_name`s mapped
/// through `locate` (identity for the local fixtures).
pub async fn run_case(dir: &Path, server: &TestServer, locate: &(dyn Fn(&str) -> String + Sync)) {
    let case = dir.file_name().unwrap().to_string_lossy().to_string();
    if let Ok(bytes) = std::fs::read(dir.join("registry.json")) {
        let mut registry: Value = serde_json::from_slice(&bytes).unwrap();
        rewrite_zarr_sources(&mut registry, locate);
        for (name, config) in registry.as_object().unwrap() {
            server.register(name, config).await;
        }
    }
    let mut config = read_json(&dir.join("config.json"));
    rewrite_zarr_sources(&mut config, locate);
    let name = config["name"].as_str().unwrap().to_owned();
    server.register(&name, &config).await;

    let expected = read_json(&dir.join("expected.json"));
    let shown: Value = server
        .get(&format!("/v1/arrays/{name}"))
        .await
        .json()
        .await
        .unwrap();
    let meta = &shown["metadata"];
    for key in ["dtype", "axes", "num_channels", "voxel_size", "roi"] {
        assert_eq!(meta[key], expected[key], "{case}: metadata {key}");
    }

    let roi = &expected["request_roi"];
    let offset: Vec<i64> = serde_json::from_value(roi["offset"].clone()).unwrap();
    let shape: Vec<i64> = serde_json::from_value(roi["shape"].clone()).unwrap();
    let want = npy::decode(&std::fs::read(dir.join("expected.npy")).unwrap()).unwrap();
    // resampled with interp_order >= 1: at most 1 in the last place on 0.1 % of voxels.
    let smooth = config["type"] == "resampled" && config["interp_order"].as_u64().unwrap_or(0) >= 1;
    let tolerance = smooth.then_some((1.0, 0.001));
    let got = server.roi_npy(&name, &offset, &shape).await;
    compare(&case, &got, &want, tolerance);

    // The same ROI as unaligned tiles (about a third of each axis, voxel-aligned).
    let vs: Vec<i64> = serde_json::from_value(expected["voxel_size"].clone()).unwrap();
    let tile: Vec<i64> = shape
        .iter()
        .zip(&vs)
        .map(|(s, v)| ((s / v) / 3 + 1) * v)
        .collect();
    let channels = usize::from(expected["num_channels"].is_number());
    let mut stitched = Volume::zeros(want.dtype(), want.shape());
    let mut z = 0;
    while z < shape[0] {
        let mut y = 0;
        while y < shape[1] {
            let mut x = 0;
            while x < shape[2] {
                let begin = [z, y, x];
                let size: Vec<i64> = (0..3).map(|d| tile[d].min(shape[d] - begin[d])).collect();
                let off: Vec<i64> = (0..3).map(|d| offset[d] + begin[d]).collect();
                let part = server.roi_npy(&name, &off, &size).await;
                let mut at = vec![0usize; channels];
                at.extend((0..3).map(|d| usize::try_from(begin[d] / vs[d]).unwrap()));
                stitched.paste(&part, &at).unwrap();
                x += tile[2];
            }
            y += tile[1];
        }
        z += tile[0];
    }
    compare(&format!("{case} (tiled)"), &stitched, &got, None);
}
