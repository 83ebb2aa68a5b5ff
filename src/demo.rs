//! `--demo`: a synthetic EM-like uint8 volume and matching uint64 cell labels, written
//! once as zarr v3 into `<state-dir>/demo/em.zarr`, and a handful of configs over them.
//!
//! Cells are a Voronoi tessellation of jittered seeds (anisotropic voxels, 8×4×4 nm);
//! membranes between cells are dark and labelled 0, cell interiors carry per-cell
//! brightness and deterministic noise.

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::{Value, json};
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{ArrayBuilder, data_type};
use zarrs::filesystem::FilesystemStore;

use crate::array::resolve::DEMO_PREFIX;
use crate::registry::Registry;

/// Volume shape in voxels (z, y, x).
pub const SHAPE: [u64; 3] = [128, 256, 256];
/// Voxel size in nm (z, y, x).
pub const VOXEL_SIZE: [i64; 3] = [8, 4, 4];
/// World offset in nm (z, y, x).
pub const OFFSET: [i64; 3] = [400, 200, 120];
const CHUNK: u64 = 64;
/// Seed spacing in nm.
const CELL: f64 = 96.0;
/// Half-width of a membrane in nm.
const MEMBRANE: f64 = 6.0;

fn hash(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn unit(h: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "53 random bits")]
    let v = (h >> 11) as f64 / (1u64 << 53) as f64;
    v
}

fn cell_id(g: [i64; 3]) -> u64 {
    #[expect(
        clippy::cast_sign_loss,
        reason = "cell coordinates are shifted to be positive"
    )]
    let [a, b, c] = g.map(|v| (v + 1) as u64);
    a * 10_000 + b * 100 + c + 1
}

fn seed(g: [i64; 3]) -> [f64; 3] {
    let id = cell_id(g);
    #[expect(clippy::cast_precision_loss, reason = "small grid indices")]
    let s =
        [0usize, 1, 2].map(|k| (g[k] as f64 + 0.15 + 0.7 * unit(hash(id * 3 + k as u64))) * CELL);
    s
}

/// Label and intensity of the voxel at world position `p` (nm, relative to the offset).
fn voxel(p: [f64; 3], flat: u64) -> (u64, u8) {
    #[expect(clippy::cast_possible_truncation, reason = "small grid indices")]
    let g = p.map(|v| (v / CELL).floor() as i64);
    let (mut d1, mut d2, mut best) = (f64::MAX, f64::MAX, [0i64; 3]);
    for dz in -1..=1 {
        for dy in -1..=1 {
            for dx in -1..=1 {
                let c = [g[0] + dz, g[1] + dy, g[2] + dx];
                let s = seed(c);
                let d = (0..3).map(|k| (p[k] - s[k]).powi(2)).sum::<f64>().sqrt();
                if d < d1 {
                    (d2, d1, best) = (d1, d, c);
                } else if d < d2 {
                    d2 = d;
                }
            }
        }
    }
    let id = cell_id(best);
    let gap = (d2 - d1) / 2.0;
    let noise = unit(hash(flat ^ 0x5eed)) * 30.0 - 15.0;
    let (label, base) = if gap < MEMBRANE {
        (0, 40.0 + gap * 6.0)
    } else {
        let vesicle = if unit(hash(flat / 7 + id)) < 0.02 {
            -50.0
        } else {
            0.0
        };
        (
            id,
            135.0 + unit(hash(id)) * 70.0 - (d1 / CELL) * 25.0 + vesicle,
        )
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to 0..=255"
    )]
    let value = (base + noise).clamp(0.0, 255.0) as u8;
    (label, value)
}

fn attrs() -> serde_json::Map<String, Value> {
    json!({
        "voxel_size": VOXEL_SIZE,
        "offset": OFFSET,
        "axis_names": ["z", "y", "x"],
        "units": ["nm", "nm", "nm"],
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// Writes the two arrays into `dir/em.zarr` (via a temporary directory, renamed when
/// complete).
///
/// # Errors
/// Any storage failure.
pub fn generate(dir: &Path) -> Result<(), String> {
    let target = dir.join("em.zarr");
    if target.join("zarr.json").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(".em.zarr.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let store = Arc::new(FilesystemStore::new(&tmp).map_err(|e| e.to_string())?);
    zarrs::group::GroupBuilder::new()
        .build(store.clone(), "/")
        .and_then(|g| g.store_metadata().map_err(Into::into))
        .map_err(|e| e.to_string())?;
    let build = |path: &str, dt: zarrs::array::DataType, fill: zarrs::array::FillValue| {
        let mut b = ArrayBuilder::new(SHAPE.to_vec(), vec![CHUNK; 3], dt, fill);
        b.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))])
            .attributes(attrs())
            .dimension_names(Some(["z", "y", "x"]));
        let a = b.build(store.clone(), path).map_err(|e| e.to_string())?;
        a.store_metadata().map_err(|e| e.to_string())?;
        Ok::<_, String>(a)
    };
    let raw = build(
        "/raw",
        data_type::uint8(),
        zarrs::array::FillValue::from(0u8),
    )?;
    let labels = build(
        "/labels",
        data_type::uint64(),
        zarrs::array::FillValue::from(0u64),
    )?;
    let grid: Vec<[u64; 3]> = (0..SHAPE[0].div_ceil(CHUNK))
        .flat_map(|z| {
            (0..SHAPE[1].div_ceil(CHUNK))
                .flat_map(move |y| (0..SHAPE[2].div_ceil(CHUNK)).map(move |x| [z, y, x]))
        })
        .collect();
    grid.par_iter().try_for_each(|idx| {
        let n = usize::try_from(CHUNK.pow(3)).unwrap_or(0);
        let (mut r, mut l) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for z in 0..CHUNK {
            for y in 0..CHUNK {
                for x in 0..CHUNK {
                    let v = [idx[0] * CHUNK + z, idx[1] * CHUNK + y, idx[2] * CHUNK + x];
                    #[expect(clippy::cast_precision_loss, reason = "small voxel indices")]
                    let p = [0, 1, 2].map(|k| v[k] as f64 * VOXEL_SIZE[k] as f64);
                    let (label, value) = voxel(p, (v[0] * SHAPE[1] + v[1]) * SHAPE[2] + v[2]);
                    l.push(label);
                    r.push(value);
                }
            }
        }
        raw.store_chunk(idx, r).map_err(|e| e.to_string())?;
        labels.store_chunk(idx, l).map_err(|e| e.to_string())
    })?;
    std::fs::rename(&tmp, &target).map_err(|e| e.to_string())
}

/// The demo configs: name and config (`demo-raw-jpeg` is `demo-raw` served as JPEG
/// chunks in the precomputed view).
#[must_use]
pub fn configs() -> Vec<(&'static str, Value)> {
    let file = format!("{DEMO_PREFIX}em.zarr");
    vec![
        (
            "demo-raw",
            json!({"type": "zarr", "file_name": file, "dataset": "raw"}),
        ),
        (
            "demo-labels",
            json!({"type": "zarr", "file_name": file, "dataset": "labels",
                   "segment_names": {"10102": "corner cell", "10103": "its x neighbour"}}),
        ),
        (
            "demo-raw-jpeg",
            json!({"type": "zarr", "file_name": file, "dataset": "raw", "encoding": "jpeg", "jpeg_quality": 85}),
        ),
        (
            "demo-raw-norm",
            json!({"type": "intensities", "source_array_config": "demo-raw", "min": 0, "max": 255}),
        ),
        (
            "demo-foreground",
            json!({"type": "binarize", "source_array_config": "demo-labels", "groupings": [["cells", []]]}),
        ),
        (
            "demo-raw-8nm",
            json!({"type": "resampled", "source_array_config": "demo-raw",
                   "upsample": [1, 1, 1], "downsample": [1, 2, 2], "interp_order": 1}),
        ),
        (
            "demo-membranes",
            json!({"type": "crop", "roi": {"offset": [400, 200, 120], "shape": [512, 512, 512]},
                   "source_array_config": {"type": "logical_or", "name": "membranes", "source_array_config": {
                       "type": "binarize", "name": "boundary", "source_array_config": "demo-labels",
                       "groupings": [["membrane", [0]]], "background": 4294967295_u64}}}),
        ),
    ]
}

/// Generates the demo data if missing and registers any demo config not yet registered.
///
/// # Errors
/// Generation or registration failure.
pub async fn ensure(dir: &Path, registry: &Registry) -> Result<(), String> {
    let d = dir.to_path_buf();
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || generate(&d))
        .await
        .map_err(|e| e.to_string())??;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), dir = %dir.display(), "demo data ready");
    for (name, config) in configs() {
        if registry.get(name).is_ok() {
            continue;
        }
        registry
            .put(name, config, false)
            .await
            .map_err(|e| format!("demo config {name}: {e}"))?;
    }
    Ok(())
}
