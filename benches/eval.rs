//! Evaluation cost per array type: one 64³ output chunk, uncached, over in-memory
//! `numpy` sources (so the figure is the type's own kernel plus its source copy), plus
//! a zarr decode, a cache hit and the encoders. Throughput is reported in voxels/s.
//!
//! `cargo bench --bench eval`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    missing_docs,
    reason = "benchmark code"
)]

use std::sync::Arc;
use std::time::Duration;

use arrayd::array::ArrayRef;
use arrayd::array::downsample::{Downsample, Reduce};
use arrayd::encode::{compressed_segmentation, npy, zarr_chunk::ZarrCodec};
use arrayd::eval::read_roi;
use arrayd::geometry::Roi;
use arrayd::server::{AppState, build_state, load};
use arrayd::settings::Settings;
use arrayd::volume::Volume;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array3;
use serde_json::{Value, json};

const N: usize = 64;
const VOXELS: u64 = (N * N * N) as u64;

fn write_npy(dir: &std::path::Path, name: &str, v: &Volume) {
    std::fs::write(dir.join(name), npy::encode(v)).unwrap();
}

fn setup(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> AppState {
    // Sources are 96³ so resampling and crops have room around the measured chunk.
    let m = 96;
    let raw = Volume::from(
        Array3::from_shape_fn((m, m, m), |(z, y, x)| {
            ((z * 7 + y * 13 + x * 3) % 251) as u8
        })
        .into_dyn(),
    );
    let labels = Volume::from(
        Array3::from_shape_fn((m, m, m), |(z, y, x)| {
            ((z / 8) * 100 + (y / 8) * 10 + x / 8) as u64
        })
        .into_dyn(),
    );
    write_npy(dir, "raw.npy", &raw);
    write_npy(dir, "labels.npy", &labels);
    let zarr_data: Vec<u8> = raw.to_le_bytes();
    {
        use zarrs::array::{ArrayBuilder, ArraySubset, data_type};
        let store =
            Arc::new(zarrs::filesystem::FilesystemStore::new(dir.join("raw.zarr")).unwrap());
        let mut b = ArrayBuilder::new(
            vec![96, 96, 96],
            vec![64, 64, 64],
            data_type::uint8(),
            zarrs::array::FillValue::from(0u8),
        );
        b.bytes_to_bytes_codecs(vec![Arc::new(zarrs::array::codec::ZstdCodec::new(
            3, false,
        ))]);
        let a = b.build(store, "/raw").unwrap();
        a.store_metadata().unwrap();
        a.store_array_subset(&ArraySubset::new_with_shape(vec![96, 96, 96]), zarr_data)
            .unwrap();
    }
    let mut s = Settings::defaults();
    s.data_root = dir.to_path_buf();
    s.state_dir = dir.join("state");
    s.compute_threads = Some(2);
    let state = build_state(s).unwrap();
    rt.block_on(load(&state)).unwrap();
    state
}

fn register(
    rt: &tokio::runtime::Runtime,
    state: &AppState,
    name: &str,
    mut config: Value,
) -> ArrayRef {
    config.as_object_mut().unwrap().remove("name");
    let outcome = rt
        .block_on(state.registry.put(name, config, false))
        .unwrap();
    outcome.entry.array().unwrap().clone()
}

fn configs() -> Vec<(&'static str, Value)> {
    let raw =
        json!({"type": "numpy", "name": "raw", "file_name": "raw.npy", "voxel_size": [4, 4, 4]});
    let labels = json!({"type": "numpy", "name": "labels", "file_name": "labels.npy", "voxel_size": [4, 4, 4]});
    let one = |t: &str, src: &Value, extra: Value| {
        let mut v = json!({"type": t, "source_array_config": src});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    vec![
        ("numpy", raw.clone()),
        ("dummy", json!({"type": "dummy"})),
        (
            "zarr",
            json!({"type": "zarr", "file_name": "raw.zarr", "dataset": "raw"}),
        ),
        (
            "binarize",
            one(
                "binarize",
                &labels,
                json!({"groupings": [["a", [1, 2, 3]], ["b", []]]}),
            ),
        ),
        (
            "intensities",
            one("intensities", &raw, json!({"min": 0, "max": 255})),
        ),
        (
            "missing_annotations_mask",
            one(
                "missing_annotations_mask",
                &labels,
                json!({"groupings": [["a", [1]]]}),
            ),
        ),
        ("ones", one("ones", &raw, json!({}))),
        ("constant", one("constant", &raw, json!({"constant": 7}))),
        (
            "logical_or",
            one(
                "logical_or",
                &one(
                    "binarize",
                    &labels,
                    json!({"name": "b", "groupings": [["a", [1]], ["b", [2]]]}),
                ),
                json!({}),
            ),
        ),
        (
            "crop",
            one("crop", &raw, json!({"roi": [[0, 0, 0], [320, 320, 320]]})),
        ),
        (
            "resampled_order0_down2",
            one(
                "resampled",
                &raw,
                json!({"upsample": 1, "downsample": 2, "interp_order": 0}),
            ),
        ),
        (
            "resampled_order1_down2",
            one(
                "resampled",
                &raw,
                json!({"upsample": 1, "downsample": 2, "interp_order": 1}),
            ),
        ),
        (
            "resampled_order1_up2",
            one(
                "resampled",
                &raw,
                json!({"upsample": 2, "downsample": 1, "interp_order": 1}),
            ),
        ),
        (
            "resampled_order3_up2",
            one(
                "resampled",
                &raw,
                json!({"upsample": 2, "downsample": 1, "interp_order": 3}),
            ),
        ),
        (
            "concat",
            json!({"type": "concat", "channels": ["a", "b"], "source_array_configs": {"a": raw, "b": raw}}),
        ),
        (
            "sum",
            json!({"type": "sum", "source_array_configs": [raw, raw]}),
        ),
        (
            "merge_instances",
            json!({"type": "merge_instances", "source_array_configs": [labels, labels]}),
        ),
    ]
}

fn per_type(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = setup(&rt, dir.path());
    let mut g = c.benchmark_group("evaluate_64cubed_chunk");
    g.measurement_time(Duration::from_secs(4)).sample_size(20);
    for (name, config) in configs() {
        let array = register(&rt, &state, name, config);
        let m = array.meta();
        // One 64³ chunk (smaller where a downsampled array is smaller).
        let voxels = (&m.roi.shape / &m.voxel_size).map(|n| n.min(N as i64));
        let roi = Roi::new(m.roi.offset.clone(), &voxels * &m.voxel_size);
        let ctx = state.ctx.clone();
        rt.block_on(array.read(&roi, &ctx))
            .expect("the benchmarked read must succeed");
        g.throughput(Throughput::Elements(voxels.product().unsigned_abs()));
        g.bench_function(name, |b| b.to_async(&rt).iter(|| array.read(&roi, &ctx)));
    }

    // The pyramid reductions (`Downsample` levels, not a config type): 2x mean over the
    // uint8 image and 2x mode over the uint64 labels, one 32³ output chunk (64³ read).
    for (name, src, reduce) in [
        ("downsample_mean_down2", "raw", Reduce::Mean),
        ("downsample_mode_down2", "labels", Reduce::Mode),
    ] {
        let file = format!("{src}.npy");
        let source = register(
            &rt,
            &state,
            &format!("{src}_for_{name}"),
            json!({"type": "numpy", "file_name": file, "voxel_size": [4, 4, 4]}),
        );
        let array = Downsample::level(source, [2, 2, 2], reduce, [32, 32, 32]).unwrap();
        let m = array.meta();
        let roi = Roi::new(m.roi.offset.clone(), [256, 256, 256]);
        let ctx = state.ctx.clone();
        rt.block_on(array.read(&roi, &ctx))
            .expect("the benchmarked read must succeed");
        g.throughput(Throughput::Elements(32 * 32 * 32));
        g.bench_function(name, |b| b.to_async(&rt).iter(|| array.read(&roi, &ctx)));
    }
    g.finish();

    // A cache hit: the chunk is already evaluated.
    let array = register(
        &rt,
        &state,
        "hit",
        json!({"type": "intensities", "min": 0, "max": 255,
        "source_array_config": {"type": "numpy", "name": "r", "file_name": "raw.npy"}, "chunk_shape": [64, 64, 64]}),
    );
    let roi = Roi::new([0, 0, 0], [64, 64, 64]);
    rt.block_on(read_roi(&state.ctx, &array, &roi, None))
        .unwrap();
    let mut g = c.benchmark_group("cache");
    g.throughput(Throughput::Elements(VOXELS));
    g.bench_function("hit_64cubed", |b| {
        b.to_async(&rt)
            .iter(|| read_roi(&state.ctx, &array, &roi, None))
    });
    g.finish();
}

fn encoders(c: &mut Criterion) {
    let img = Volume::from(
        Array3::from_shape_fn((N, N, N), |(z, y, x)| {
            ((z * 7 + y * 13 + x * 3) % 251) as u8
        })
        .into_dyn(),
    );
    let labels: Vec<u64> = (0..N * N * N)
        .map(|i| ((i / 4096) * 10 + (i % 64) / 16) as u64)
        .collect();
    let mut g = c.benchmark_group("encode_64cubed");
    g.throughput(Throughput::Elements(VOXELS));
    g.bench_function("npy_uint8", |b| b.iter(|| npy::encode(&img)));
    g.bench_function("compressed_segmentation_uint64", |b| {
        b.iter(|| compressed_segmentation::encode(&labels, [N, N, N], 1, [8, 8, 8]).unwrap());
    });
    for codec in [ZarrCodec::Zstd, ZarrCodec::Gzip, ZarrCodec::Blosc] {
        g.bench_function(format!("zarr_{}_uint8", codec.name()), |b| {
            b.iter(|| {
                codec
                    .encode(img.to_le_bytes(), arrayd::dtype::DType::U8)
                    .unwrap()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, per_type, encoders);
criterion_main!(benches);
