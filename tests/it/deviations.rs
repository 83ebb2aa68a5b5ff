//! One test per deliberate deviation from DaCapo (`spec/arrays.md`, "Deviations"),
//! named after it. Where the golden fixtures keep DaCapo's own output (`dacapo.npy`),
//! the test also shows that arrayd's answer differs from it. Deviation 11 (DVID
//! geometry) is tested in the `dvid` module.

use std::path::PathBuf;

use crate::support::{TestServer, assert_problem, golden_dir};
use arrayd::encode::npy;
use arrayd::volume::Volume;
use serde_json::{Value, json};

fn case_dir(prefix: &str) -> PathBuf {
    std::fs::read_dir(golden_dir().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap()
}

fn load(path: &std::path::Path) -> Volume {
    npy::decode(&std::fs::read(path).unwrap()).unwrap()
}

/// Registers a golden case and returns (arrayd's read, expected, DaCapo's output if kept, metadata).
async fn golden(prefix: &str) -> (Volume, Volume, Option<Volume>, Value) {
    let dir = case_dir(prefix);
    let s = TestServer::golden().await;
    if let Ok(bytes) = std::fs::read(dir.join("registry.json")) {
        let reg: Value = serde_json::from_slice(&bytes).unwrap();
        for (name, c) in reg.as_object().unwrap() {
            s.register(name, c).await;
        }
    }
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let name = config["name"].as_str().unwrap().to_owned();
    s.register(&name, &config).await;
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let roi = &expected["request_roi"];
    let off: Vec<i64> = serde_json::from_value(roi["offset"].clone()).unwrap();
    let shape: Vec<i64> = serde_json::from_value(roi["shape"].clone()).unwrap();
    let got = s.roi_npy(&name, &off, &shape).await;
    let meta: Value = s
        .get(&format!("/v1/arrays/{name}"))
        .await
        .json()
        .await
        .unwrap();
    let dacapo = dir
        .join("dacapo.npy")
        .exists()
        .then(|| load(&dir.join("dacapo.npy")));
    (
        got,
        load(&dir.join("expected.npy")),
        dacapo,
        meta["metadata"].clone(),
    )
}

async fn differs_from_dacapo(prefix: &str) -> (Volume, Value) {
    let (got, want, dacapo, meta) = golden(prefix).await;
    assert_eq!(got, want, "{prefix}: arrayd differs from the reference");
    let dacapo = dacapo.expect("the fixture keeps DaCapo's output");
    assert_ne!(got, dacapo, "{prefix}: arrayd reproduces DaCapo's bug");
    (got, meta)
}

#[tokio::test]
async fn deviation_01_snap_to_grid_shrinks_the_roi_without_shifting_data() {
    let (_, meta) = differs_from_dacapo("06-").await;
    assert_eq!(
        meta["roi"],
        json!({"offset": [8, 8, 8], "shape": [48, 104, 128]})
    );
}

#[tokio::test]
async fn deviation_02_binarize_never_sets_background_and_never_counts_twice() {
    let (got, _) = differs_from_dacapo("11-").await;
    assert!(got.to_le_bytes().iter().all(|&v| v <= 1));
    let (got, _) = differs_from_dacapo("12-").await;
    assert!(
        got.to_le_bytes().iter().all(|&v| v <= 1),
        "a repeated id gave 2"
    );
}

#[tokio::test]
async fn deviation_03_resampled_smooth_orders_do_not_depend_on_tiling() {
    // golden.rs also reads every case as tiles; here the sub-ROI case against DaCapo's seams.
    let (got, want, dacapo, _) = golden("17-").await;
    assert_eq!(got, want);
    assert_ne!(Some(got), dacapo);
}

#[tokio::test]
async fn deviation_04_missing_annotations_mask_applies_annotation_states_as_uint8() {
    let (got, meta) = differs_from_dacapo("21-").await;
    assert_eq!(meta["dtype"], "uint8");
    let Volume::U8(a) = got else { panic!() };
    // Group 1 holds id 3, present but "empty": the whole channel is 0.
    assert!(a.index_axis(ndarray::Axis(0), 1).iter().all(|&v| v == 0));
    assert!(a.index_axis(ndarray::Axis(0), 0).iter().any(|&v| v == 1));
    let (_, meta) = differs_from_dacapo("22-").await;
    assert_eq!(meta["dtype"], "uint8");
}

#[tokio::test]
async fn deviation_05_logical_or_is_zero_one_uint8() {
    for case in ["35-", "36-"] {
        let (got, meta) = differs_from_dacapo(case).await;
        assert_eq!(meta["dtype"], "uint8");
        assert!(got.to_le_bytes().iter().all(|&v| v <= 1));
    }
}

#[tokio::test]
async fn deviation_06_concat_reports_the_intersection_and_the_promoted_dtype() {
    let (got, want, _, meta) = golden("31-").await;
    assert_eq!(got, want);
    assert_eq!(meta["roi"]["shape"], json!([44, 88, 112]));
    let (_, _, _, meta) = golden("33-").await;
    assert_eq!(meta["dtype"], "float32");
}

#[tokio::test]
async fn deviation_07_merge_instances_offsets_are_global() {
    differs_from_dacapo("41-").await;
    differs_from_dacapo("42-").await;
}

#[tokio::test]
async fn deviation_08_metadata_dtype_equals_what_a_read_returns() {
    for case in [
        "25-", "26-", "27-", "28-", "40-", "43-", "44-", "45-", "34-",
    ] {
        let (got, want, _, meta) = golden(case).await;
        assert_eq!(got, want, "{case}");
        assert_eq!(
            meta["dtype"],
            got.dtype().name(),
            "{case}: metadata says one dtype, the read returns another"
        );
    }
}

#[tokio::test]
async fn deviation_09_intensities_refuses_max_equal_to_min() {
    let s = TestServer::golden().await;
    let c = json!({"type": "intensities", "min": 7, "max": 7,
        "source_array_config": {"type": "zarr", "name": "r", "file_name": "data/raw.zarr", "dataset": "raw"}});
    let body = assert_problem(s.put_json("/v1/arrays/i", &c).await, 422).await;
    assert_eq!(body["problems"][0]["field"], "max");
}

#[tokio::test]
async fn deviation_10_crop_intersects_with_the_source_roi() {
    let (got, want, _, meta) = golden("38-").await;
    assert_eq!(got, want);
    assert_eq!(meta["shape"], json!([7, 16, 16]));
}

#[tokio::test]
async fn deviation_12_neuroglancer_layer_is_the_chains_output() {
    let s = TestServer::golden().await;
    let labels = json!({"type": "zarr", "file_name": "data/labels.zarr", "dataset": "labels"});
    s.register("labels", &labels).await;
    s.register(
        "fg",
        &json!({"type": "binarize", "source_array_config": "labels", "groupings": [["a", [1, 2]]]}),
    )
    .await;
    s.register(
        "merged",
        &json!({"type": "merge_instances", "source_array_configs": ["labels", "labels"]}),
    )
    .await;
    s.register(
        "norm",
        &json!({"type": "intensities", "min": 0, "max": 7, "source_array_config": "labels"}),
    )
    .await;
    for (name, kind, dtype) in [
        ("labels", "segmentation", "uint64"),
        ("fg", "image", "uint8"),
        ("merged", "segmentation", "uint64"),
        ("norm", "image", "float32"),
    ] {
        let info: Value = s
            .get(&format!("/v1/arrays/{name}/precomputed/info"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                info["type"].as_str().unwrap(),
                info["data_type"].as_str().unwrap()
            ),
            (kind, dtype),
            "{name}"
        );
    }
    let info: Value = s
        .get("/v1/arrays/fg/precomputed/info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["num_channels"], 1);
}

#[tokio::test]
async fn deviation_13_attrs_pass_only_through_value_keeping_wrappers() {
    let s = TestServer::golden().await;
    s.register(
        "b",
        &json!({"type": "zarr", "file_name": "data/labels.zarr", "dataset": "labels_b"}),
    )
    .await;
    s.register(
        "cropped",
        &json!({"type": "crop", "source_array_config": "b", "roi": [[4, 8, 8], [40, 40, 40]]}),
    )
    .await;
    s.register("nearest", &json!({"type": "resampled", "source_array_config": "b", "upsample": 2, "downsample": 1, "interp_order": 0})).await;
    s.register("smooth", &json!({"type": "resampled", "source_array_config": "b", "upsample": 2, "downsample": 1, "interp_order": 1})).await;
    s.register(
        "fg",
        &json!({"type": "binarize", "source_array_config": "b", "groupings": [["a", []]]}),
    )
    .await;
    let attrs = |name: &'static str| {
        let s = &s;
        async move {
            let v: Value = s
                .get(&format!("/v1/arrays/{name}"))
                .await
                .json()
                .await
                .unwrap();
            v["metadata"]["attrs"].clone()
        }
    };
    assert_eq!(attrs("b").await["max_id"], 20);
    assert_eq!(attrs("cropped").await["max_id"], 20);
    assert_eq!(attrs("nearest").await["max_id"], 20);
    assert!(attrs("smooth").await.get("max_id").is_none());
    assert!(attrs("fg").await.get("max_id").is_none());
}
