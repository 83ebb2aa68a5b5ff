//! A conformance harness every array type runs: one table of (type, config) cases, each
//! checked for metadata = read, chunk borders, and out of bounds vs fill; and a counting
//! source proving that, with the source's chunks cached, no chunk is read twice under
//! any wrapper.

use std::collections::BTreeSet;

use crate::support::conformance::{
    Counting, Names, conform, counting_value, ctx, env, open, open_registry, read,
};
use crate::support::golden_dir;
use arrayd::array::ArrayRef;
use arrayd::array::config::type_names;
use arrayd::dtype::DType;
use arrayd::encode::npy;
use arrayd::geometry::Roi;
use arrayd::volume::Volume;
use serde_json::{Map, Value, json};

/// Where a case's config comes from.
enum Config {
    /// A golden case folder: `config.json` over its `registry.json`.
    Golden(&'static str),
    /// An inline config over the golden data root.
    Inline(Value),
}

/// The table: (type, config). Every type of `src/array/config.rs` but `dvid`, whose
/// cases need the fake DVID (`dvid::conformance`).
fn cases() -> Vec<(&'static str, Config)> {
    use Config::{Golden, Inline};
    vec![
        ("zarr", Golden("01-zarr-raw-funlib")),
        ("zarr", Golden("03-zarr-ome-ngff-s0")),
        ("zarr", Golden("05-zarr-mask-4d")),
        ("zarr", Golden("06-zarr-snap-to-grid-moves-begin")),
        ("binarize", Golden("09-binarize-groups")),
        ("binarize", Golden("10-binarize-empty-group")),
        ("resampled", Golden("13-resampled-down2-order0")),
        ("resampled", Golden("14-resampled-up2-order0")),
        ("resampled", Golden("15-resampled-aniso-order0")),
        ("resampled", Golden("16-resampled-order1-whole")),
        ("resampled", Golden("18-resampled-mask-4d")),
        ("intensities", Golden("19-intensities-raw")),
        (
            "missing_annotations_mask",
            Golden("21-missing-annotations-mask-annotated"),
        ),
        ("ones", Golden("23-ones-labels")),
        ("ones", Golden("24-ones-mask-4d")),
        ("constant", Golden("26-constant-1-mask-4d")),
        ("constant", Golden("27-constant-300")),
        ("constant", Golden("28-constant-dtype")),
        ("concat", Golden("29-concat-missing-channel")),
        ("concat", Golden("31-concat-roi-intersection")),
        ("concat", Golden("33-concat-mixed-dtypes")),
        ("logical_or", Golden("34-logical-or-binarize")),
        ("logical_or", Golden("36-logical-or-no-channel")),
        ("crop", Golden("37-crop-inside")),
        ("crop", Golden("38-crop-partly-outside")),
        ("merge_instances", Golden("40-merge-instances-two")),
        ("merge_instances", Golden("41-merge-instances-empty-middle")),
        ("sum", Golden("43-sum-labels")),
        ("sum", Golden("45-sum-bool")),
        ("dummy", Golden("46-dummy-subroi")),
        ("dummy", Inline(json!({"type": "dummy", "name": "d"}))),
        (
            "numpy",
            Inline(json!({"type": "numpy", "name": "np", "file_name": "np.npy",
            "voxel_size": [2, 3, 1], "offset": [4, 6, -5], "axes": ["z", "y", "x"]})),
        ),
        ("chain", Golden("48-chain-logical-or-concat-binarize")),
        ("chain", Golden("49-chain-intensities-resampled-crop")),
        ("chain", Golden("52-chain-resampled-binarize-up")),
        ("chain", Golden("53-chain-sum-intensities")),
    ]
}

/// A 70×45×33 uint16 volume with distinct values, as `.npy` under a fresh data root.
fn numpy_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shape = [70usize, 45, 33];
    let bytes: Vec<u8> = (0..shape.iter().product::<usize>())
        .flat_map(|i| u16::try_from(i % 65_521).unwrap().to_le_bytes())
        .collect();
    let v = Volume::from_le_bytes(DType::U16, &shape, &bytes).unwrap();
    std::fs::write(dir.path().join("np.npy"), npy::encode(&v)).unwrap();
    dir
}

async fn open_case(config: &Config) -> ArrayRef {
    let mut names = Names::default();
    match config {
        Config::Golden(case) => {
            let env = env(&golden_dir());
            let dir = golden_dir().join("cases").join(case);
            if let Ok(bytes) = std::fs::read(dir.join("registry.json")) {
                let registry: Value = serde_json::from_slice(&bytes).unwrap();
                open_registry(&registry, &env, &mut names).await;
            }
            let config: Value =
                serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
            open(&config, &env, &names).await
        }
        Config::Inline(config) if config["type"] == "numpy" => {
            let root = numpy_root();
            open(config, &env(root.path()), &names).await
        }
        Config::Inline(config) => open(config, &env(&golden_dir()), &names).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_conforms() {
    let mut total = 0;
    for (i, (ty, config)) in cases().iter().enumerate() {
        let label = match config {
            Config::Golden(c) => format!("{ty} {c}"),
            Config::Inline(v) => format!("{ty} {v}"),
        };
        let array = open_case(config).await;
        if *ty != "chain" {
            assert_eq!(array.meta().type_name, *ty, "{label}: type");
        }
        let seed = 0x9e37_79b9_7f4a_7c15 ^ u64::try_from(i).unwrap();
        total += conform(&label, &array, seed).await.assertions;
    }
    eprintln!("{} cases, {total} assertions", cases().len());
    assert!(total >= cases().len() * 9, "only {total} assertions ran");
}

#[test]
fn every_type_has_a_case() {
    let covered: BTreeSet<&str> = cases().iter().map(|(t, _)| *t).collect();
    let missing: Vec<_> = type_names()
        .into_iter()
        .filter(|t| !covered.contains(t) && *t != "dvid")
        .collect();
    assert!(
        missing.is_empty(),
        "types without a conformance case: {missing:?}"
    );
}

/// The numpy case reads the values it stores (the harness compares reads with reads, so
/// one anchor on the stored data itself).
#[tokio::test]
async fn numpy_case_reads_the_stored_values() {
    let root = numpy_root();
    let Config::Inline(config) = &cases().into_iter().find(|(t, _)| *t == "numpy").unwrap().1
    else {
        panic!("numpy case is inline");
    };
    let a = open(config, &env(root.path()), &Names::default()).await;
    let whole = read(&ctx(), &a, &a.meta().roi).await;
    let stored = npy::decode(&std::fs::read(root.path().join("np.npy")).unwrap()).unwrap();
    assert!(whole == stored, "numpy read differs from the .npy");
    assert_eq!(a.meta().roi, Roi::new([4, 6, -5], [140, 135, 33]));
}

/// Wrappers (and chains) over the counting source, read twice.
fn counting_wrappers() -> Vec<(&'static str, Value)> {
    let bin = json!({"type": "binarize", "name": "b", "source_array_config": "src",
        "groupings": [["a", [1, 2]], ["b", []]], "cache": true});
    vec![
        ("binarize", bin.clone()),
        (
            "resampled",
            json!({"type": "resampled", "name": "r", "source_array_config": "src",
            "upsample": [1, 1, 1], "downsample": [2, 2, 2], "interp_order": 0}),
        ),
        (
            "resampled",
            json!({"type": "resampled", "name": "r", "source_array_config": "src",
            "upsample": [1, 1, 1], "downsample": [2, 2, 2], "interp_order": 1}),
        ),
        (
            "intensities",
            json!({"type": "intensities", "name": "i",
            "source_array_config": "src", "min": 0, "max": 8}),
        ),
        (
            "missing_annotations_mask",
            json!({"type": "missing_annotations_mask", "name": "m",
            "source_array_config": "src", "groupings": [["a", [1]]]}),
        ),
        (
            "ones",
            json!({"type": "ones", "name": "o", "source_array_config": "src"}),
        ),
        (
            "constant",
            json!({"type": "constant", "name": "k", "source_array_config": "src",
            "constant": 7}),
        ),
        (
            "concat",
            json!({"type": "concat", "name": "c", "channels": ["x", "y", "z"],
            "source_array_configs": {"x": "src", "z": "src"}, "default_config": "src"}),
        ),
        (
            "logical_or",
            json!({"type": "logical_or", "name": "l", "source_array_config": bin}),
        ),
        (
            "crop",
            json!({"type": "crop", "name": "cr", "source_array_config": "src",
            "roi": {"offset": [8, 8, 8], "shape": [40, 40, 40]}}),
        ),
        (
            "merge_instances",
            json!({"type": "merge_instances", "name": "mi",
            "source_array_configs": ["src", "src"]}),
        ),
        (
            "sum",
            json!({"type": "sum", "name": "s", "source_array_configs": ["src", "src"]}),
        ),
        (
            "chain",
            json!({"type": "intensities", "name": "ch", "min": 0, "max": 2,
            "source_array_config": {"type": "resampled", "name": "rr", "cache": true,
                "upsample": [1, 1, 1], "downsample": [2, 2, 2], "interp_order": 1,
                "source_array_config": {"type": "crop", "name": "cc",
                    "source_array_config": "src",
                    "roi": {"offset": [0, 16, 0], "shape": [64, 48, 64]}}}}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_source_chunk_is_read_twice() {
    let env = env(&golden_dir());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (ty, mut config) in counting_wrappers() {
        // Wrapper chunks of 24³ straddle the source's 16³ cells: neighbours share cells.
        config["chunk_shape"] = json!([24, 24, 24]);
        let src = Counting::new([64, 64, 64], Map::new());
        let mut names = Names::default();
        names.0.insert("src".into(), src.clone());
        let array = open(&config, &env, &names).await;
        let ctx = ctx();
        let roi = array.meta().roi.clone();
        let first = read(&ctx, &array, &roi).await;
        let second = read(&ctx, &array, &roi).await;
        assert!(first == second, "{ty}: two reads of {roi} differ");
        // The wrapper's ROI in source world units (the counting source's voxel size is 1).
        let touched = src.meta_roi().intersect(&roi);
        for idx in src.grid().chunks_overlapping(&src.meta_roi()) {
            let n = src.counts()[src.cell_number(&idx)];
            let needed = !src.grid().chunk_roi(&idx).intersect(&touched).is_empty();
            // ones and constant only need the source's shape: they never read it.
            let bad = if matches!(ty, "ones" | "constant") {
                n != 0
            } else {
                n > 1 || (needed && n == 0)
            };
            checked += 1;
            if bad {
                failures.push(format!("{ty}: source cell {idx} read {n} times"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{checked} source cells checked");
}

/// The counting source is what it says: values and the counts of a direct read.
#[tokio::test]
async fn counting_source_counts() {
    let src = Counting::new([64, 64, 64], Map::new());
    let a: ArrayRef = src.clone();
    let roi = Roi::new([10, 0, 30], [8, 16, 2]);
    let v = read(&ctx(), &a, &roi).await;
    let want: Vec<u8> = (10..18)
        .flat_map(|z| (0..16).flat_map(move |y| (30..32).map(move |x| counting_value(&[z, y, x]))))
        .collect();
    assert_eq!(v.to_le_bytes(), want);
    let counts = src.counts();
    assert_eq!(counts.iter().sum::<usize>(), 2, "{counts:?}");
    assert_eq!(counts[src.cell_number(&[0, 0, 1].into())], 1);
    assert_eq!(counts[src.cell_number(&[1, 0, 1].into())], 1);
}
