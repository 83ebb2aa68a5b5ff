//! Validation at registration, not at read (`spec/arrays.md`): every check DaCapo's
//! `verify()` would make runs on PUT and fails with 422 naming the field and the reason.

use crate::support::{TestServer, assert_problem};
use serde_json::{Value, json};

fn zarr(dataset: &str) -> Value {
    let file = match dataset {
        "raw" => "data/raw.zarr",
        "mask" => "data/mask.zarr",
        "s1" => {
            return json!({"type": "zarr", "name": "s1", "file_name": "data/ome.zarr", "dataset": "seg/s1"});
        }
        _ => "data/labels.zarr",
    };
    json!({"type": "zarr", "name": dataset, "file_name": file, "dataset": dataset})
}

/// PUTs `config` and asserts a 422 whose problems name `field` with a reason containing `why`.
async fn refused(s: &TestServer, config: Value, field: &str, why: &str) {
    let body = assert_problem(s.put_json("/v1/arrays/x", &config).await, 422).await;
    let problems = body["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["field"] == field && p["reason"].as_str().unwrap().contains(why)),
        "expected a problem at {field:?} mentioning {why:?}, got {problems:?}"
    );
    assert_problem(s.get("/v1/arrays/x").await, 404).await;
}

#[tokio::test]
async fn every_knowable_problem_is_a_422_at_put() {
    let s = TestServer::golden().await;
    refused(&s, json!({"type": "resampled", "source_array_config": zarr("raw"), "upsample": [1, 3, 1], "downsample": [1, 1, 1], "interp_order": 0}), "upsample", "integer voxel size").await;
    refused(&s, json!({"type": "resampled", "source_array_config": zarr("raw"), "upsample": [1, 1], "downsample": 1, "interp_order": 0}), "upsample", "3 positive integers").await;
    refused(&s, json!({"type": "resampled", "source_array_config": zarr("raw"), "upsample": 1, "downsample": 2, "interp_order": 7}), "interp_order", "1..=5").await;
    refused(
        &s,
        json!({"type": "intensities", "source_array_config": zarr("raw"), "min": 3, "max": 3}),
        "max",
        "equals min",
    )
    .await;
    refused(
        &s,
        json!({"type": "binarize", "source_array_config": zarr("mask"), "groupings": [["a", [1]]]}),
        "source_array_config",
        "channel axis",
    )
    .await;
    refused(&s, json!({"type": "binarize", "source_array_config": {"type": "intensities", "name": "f", "min": 0, "max": 1, "source_array_config": zarr("labels")}, "groupings": [["a", [1]]]}), "source_array_config", "integer dtype").await;
    refused(
        &s,
        json!({"type": "binarize", "source_array_config": zarr("labels"), "groupings": []}),
        "groupings",
        "at least one",
    )
    .await;
    refused(&s, json!({"type": "crop", "source_array_config": zarr("raw"), "roi": {"offset": [1000, 0, 0], "shape": [8, 8, 8]}}), "roi", "does not overlap").await;
    refused(&s, json!({"type": "crop", "source_array_config": zarr("raw"), "roi": {"offset": [2, 0, 0], "shape": [8, 8, 8]}}), "roi", "voxel grid").await;
    refused(&s, json!({"type": "concat", "channels": ["a", "b"], "source_array_configs": {"a": zarr("labels"), "b": zarr("s1")}}), "source_array_configs.b", "voxel size").await;
    refused(&s, json!({"type": "concat", "channels": ["a"], "source_array_configs": {"a": zarr("labels"), "z": zarr("labels")}}), "source_array_configs.z", "not one of the channels").await;
    refused(
        &s,
        json!({"type": "concat", "channels": ["a"], "source_array_configs": {"a": zarr("mask")}}),
        "source_array_configs.a",
        "3 channels",
    )
    .await;
    refused(
        &s,
        json!({"type": "sum", "source_array_configs": [zarr("labels"), zarr("s1")]}),
        "source_array_configs[1]",
        "voxel size",
    )
    .await;
    refused(
        &s,
        json!({"type": "sum", "source_array_configs": [zarr("mask")]}),
        "source_array_configs[0]",
        "channel axis",
    )
    .await;
    refused(
        &s,
        json!({"type": "merge_instances", "source_array_configs": [zarr("labels"), zarr("s1")]}),
        "source_array_configs[1]",
        "voxel size",
    )
    .await;
    refused(&s, json!({"type": "merge_instances", "source_array_configs": [zarr("labels"), {"type": "intensities", "name": "f", "min": 0, "max": 1, "source_array_config": zarr("labels")}]}), "source_array_configs[1]", "integer dtype").await;
    refused(&s, json!({"type": "constant", "source_array_config": zarr("raw"), "constant": 300, "dtype": "uint8"}), "constant", "does not fit").await;
    refused(
        &s,
        json!({"type": "ones", "source_array_config": "no-such-array"}),
        "source_array_config",
        "no array named",
    )
    .await;
    refused(&s, json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw", "snap_to_grid": [4, 4]}), "snap_to_grid", "3 positive integers").await;
    refused(
        &s,
        json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "nope"}),
        "dataset",
        "no readable zarr array",
    )
    .await;
    refused(&s, json!({"type": "zarr", "file_name": "data/mask.zarr", "dataset": "mask", "axes": ["t", "z", "y", "x"]}), "axes", "3 time points").await;

    // A cycle through names.
    s.register(
        "a",
        &json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw"}),
    )
    .await;
    s.register(
        "b",
        &json!({"type": "crop", "source_array_config": "a", "roi": [[0, 0, 0], [40, 40, 40]]}),
    )
    .await;
    let body = assert_problem(
        s.put_json(
            "/v1/arrays/a",
            &json!({"type": "ones", "source_array_config": "b"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(body["problems"][0]["field"], "source_array_config");
    assert!(
        body["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("cycle")
    );
    let body = assert_problem(
        s.put_json(
            "/v1/arrays/c",
            &json!({"type": "ones", "source_array_config": "c"}),
        )
        .await,
        422,
    )
    .await;
    assert!(
        body["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("cycle"),
        "{body}"
    );
}

/// Whatever registered can be read anywhere inside its ROI: no read fails for a reason
/// that was knowable at registration.
#[tokio::test]
async fn registered_chains_read_everywhere() {
    let s = TestServer::golden().await;
    let chains = [
        json!({"type": "resampled", "source_array_config": zarr("raw"), "upsample": [1, 2, 2], "downsample": [2, 1, 1], "interp_order": 3}),
        json!({"type": "concat", "channels": ["a", "b", "c"], "source_array_configs": {"a": zarr("labels"), "c": {"type": "binarize", "name": "bb", "source_array_config": zarr("labels"), "groupings": [["x", [1, 2]]]}}}),
        json!({"type": "merge_instances", "source_array_configs": [zarr("labels"), {"type": "zarr", "name": "lb", "file_name": "data/labels.zarr", "dataset": "labels_b"}]}),
        json!({"type": "sum", "source_array_configs": [zarr("labels"), {"type": "ones", "name": "o", "source_array_config": zarr("labels")}]}),
    ];
    for (i, c) in chains.iter().enumerate() {
        let name = format!("chain{i}");
        s.register(&name, c).await;
        let shown: Value = s
            .get(&format!("/v1/arrays/{name}"))
            .await
            .json()
            .await
            .unwrap();
        let roi = &shown["metadata"]["roi"];
        let offset: Vec<i64> = serde_json::from_value(roi["offset"].clone()).unwrap();
        let shape: Vec<i64> = serde_json::from_value(roi["shape"].clone()).unwrap();
        let v = s.roi_npy(&name, &offset, &shape).await;
        let dims: Vec<u64> = serde_json::from_value(shown["metadata"]["shape"].clone()).unwrap();
        assert_eq!(
            v.shape().iter().map(|&d| d as u64).collect::<Vec<_>>(),
            dims,
            "{name}"
        );
        assert_eq!(v.dtype().name(), shown["metadata"]["dtype"], "{name}");
    }
}
