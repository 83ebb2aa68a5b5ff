//! Stored pyramid levels (issue 11): an OME-NGFF group's `s1`, `s2` are served as they
//! are at precomputed scales 1, 2 and zarr levels `s1`, `s2`, without reading `s0`; a
//! value-wise wrapper over a stored label pyramid serves the wrapper over stored `s1`.

use std::path::Path;

use crate::support::{TestServer, assert_problem};
use arrayd::encode::zarr_chunk::ZarrCodec;
use serde_json::{Value, json};

/// Writes an uncompressed zarr v2 array of `n³` voxels in `c³` chunks, value `f(z, y, x)`.
fn write_array(
    dir: &Path,
    dtype: &str,
    size: usize,
    n: usize,
    c: usize,
    f: impl Fn(usize, usize, usize) -> u64,
) {
    std::fs::create_dir_all(dir).unwrap();
    let zarray = json!({"zarr_format": 2, "shape": [n, n, n], "chunks": [c, c, c], "dtype": dtype,
        "compressor": null, "fill_value": 0, "order": "C", "filters": null});
    std::fs::write(dir.join(".zarray"), zarray.to_string()).unwrap();
    let k = n.div_ceil(c);
    for (cz, cy, cx) in
        (0..k).flat_map(|z| (0..k).flat_map(move |y| (0..k).map(move |x| (z, y, x))))
    {
        let mut bytes = Vec::with_capacity(c * c * c * size);
        for z in 0..c {
            for y in 0..c {
                for x in 0..c {
                    let v = f(cz * c + z, cy * c + y, cx * c + x);
                    bytes.extend_from_slice(&v.to_le_bytes()[..size]);
                }
            }
        }
        std::fs::write(dir.join(format!("{cz}.{cy}.{cx}")), bytes).unwrap();
    }
}

/// An OME-NGFF 0.4 group at `group` with datasets s0..s{levels-1}, voxel size 4·2^k.
fn write_group(group: &Path, levels: usize) {
    std::fs::create_dir_all(group).unwrap();
    std::fs::write(group.join(".zgroup"), r#"{"zarr_format": 2}"#).unwrap();
    let datasets: Vec<Value> = (0..levels)
        .map(|k| {
            let s = 4 << k;
            json!({"path": format!("s{k}"), "coordinateTransformations": [
                {"type": "scale", "scale": [s, s, s]}, {"type": "translation", "translation": [0, 0, 0]}]})
        })
        .collect();
    let axes: Vec<Value> = ["z", "y", "x"]
        .iter()
        .map(|a| json!({"name": a, "type": "space", "unit": "nanometer"}))
        .collect();
    let attrs = json!({"multiscales": [{"version": "0.4", "axes": axes, "datasets": datasets}]});
    std::fs::write(group.join(".zattrs"), attrs.to_string()).unwrap();
    std::fs::write(
        group.parent().unwrap().join(".zgroup"),
        r#"{"zarr_format": 2}"#,
    )
    .unwrap();
}

fn s1_value(z: usize, y: usize, x: usize) -> u64 {
    (200 - (x * 3 + y + z) % 50) as u64
}

fn s2_value(z: usize, y: usize, x: usize) -> u64 {
    ((x ^ y ^ z) % 97 + 100) as u64
}

fn expected(n: usize, f: impl Fn(usize, usize, usize) -> u64) -> Vec<u8> {
    (0..n * n * n)
        .map(|i| u8::try_from(f(i / (n * n), (i / n) % n, i % n)).unwrap())
        .collect()
}

#[tokio::test]
async fn stored_levels_are_served_without_reading_s0() {
    let root = tempfile::tempdir().unwrap();
    let group = root.path().join("ms.zarr/raw");
    write_group(&group, 3);
    write_array(&group.join("s0"), "|u1", 1, 256, 64, |z, y, x| {
        ((x + y + z) % 251) as u64
    });
    write_array(&group.join("s1"), "|u1", 1, 128, 64, s1_value);
    write_array(&group.join("s2"), "|u1", 1, 64, 64, s2_value);
    let s = TestServer::start_with(root.path(), |st| st.zarr_codec = ZarrCodec::None).await;
    s.register(
        "ms",
        &json!({"type": "zarr", "file_name": "ms.zarr", "dataset": "raw/s0"}),
    )
    .await;

    let detail: Value = s.get("/v1/arrays/ms").await.json().await.unwrap();
    assert_eq!(s.level_origins("ms").await, ["array", "stored", "stored"]);
    assert_eq!(detail["levels"][2]["voxel_size"], json!([16, 16, 16]));
    let info: Value = s
        .get("/v1/arrays/ms/precomputed/info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["scales"].as_array().unwrap().len(), 3);
    assert_eq!(info["scales"][2]["resolution"], json!([16, 16, 16]));

    // Every s0 chunk becomes unreadable: a read that touched one would fail.
    for entry in std::fs::read_dir(group.join("s0")).unwrap() {
        let p = entry.unwrap().path();
        if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            std::fs::write(&p, b"not a chunk").unwrap();
        }
    }
    let s2 = expected(64, s2_value);
    assert_eq!(
        s.get_bytes("/v1/arrays/ms/precomputed/s2/0-64_0-64_0-64")
            .await,
        s2
    );
    assert_eq!(s.get_bytes("/v1/arrays/ms/zarr2/s2/0.0.0").await, s2);
    assert_eq!(s.get_bytes("/v1/arrays/ms/ome-zarr/s2/c/0/0/0").await, s2);
    let s1 = expected(64, s1_value);
    assert_eq!(
        s.get_bytes("/v1/arrays/ms/precomputed/s1/0-64_0-64_0-64")
            .await,
        s1
    );
    assert_eq!(s.get_bytes("/v1/arrays/ms/zarr2/s1/0.0.0").await, s1);
    // The corruption is real: s0 itself can no longer be read.
    let r = s.get("/v1/arrays/ms/precomputed/s0/0-64_0-64_0-64").await;
    assert!(r.status().is_server_error(), "{}", r.status());
}

#[tokio::test]
async fn a_misfit_stored_level_is_computed_instead() {
    let root = tempfile::tempdir().unwrap();
    let group = root.path().join("ms.zarr/raw");
    write_group(&group, 2);
    write_array(&group.join("s0"), "|u1", 1, 128, 64, |_, _, _| 10);
    // s1 claims voxel size 8 but covers only half the volume.
    write_array(&group.join("s1"), "|u1", 1, 32, 32, |_, _, _| 99);
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "ms",
        &json!({"type": "zarr", "file_name": "ms.zarr", "dataset": "raw/s0"}),
    )
    .await;
    let detail: Value = s.get("/v1/arrays/ms").await.json().await.unwrap();
    assert_eq!(detail["levels"][1]["origin"], "computed");
    let chunk = s
        .get_bytes("/v1/arrays/ms/precomputed/s1/0-64_0-64_0-64")
        .await;
    assert!(
        chunk.iter().all(|&v| v == 10),
        "the misfit level's voxels were served"
    );
}

#[tokio::test]
async fn binarize_over_a_stored_label_pyramid_uses_stored_s1() {
    let root = tempfile::tempdir().unwrap();
    let group = root.path().join("lab.zarr/labels");
    write_group(&group, 2);
    write_array(&group.join("s0"), "<u4", 4, 128, 64, |_, _, x| {
        u64::from(x % 2 == 0)
    });
    // Stored s1: label 1 where x < 20 (a mode downsampling of s0 would give all 1s).
    write_array(&group.join("s1"), "<u4", 4, 64, 64, |_, _, x| {
        if x < 20 { 1 } else { 3 }
    });
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "lab",
        &json!({"type": "zarr", "file_name": "lab.zarr", "dataset": "labels/s0"}),
    )
    .await;
    s.register(
        "fg",
        &json!({"type": "binarize", "source_array_config": "lab", "groupings": [["one", [1]]]}),
    )
    .await;
    let detail: Value = s.get("/v1/arrays/fg").await.json().await.unwrap();
    assert_eq!(detail["levels"][1]["origin"], "stored");
    assert_eq!(detail["levels"][1]["type"], "binarize");
    let chunk = s
        .get_bytes("/v1/arrays/fg/precomputed/s1/0-64_0-64_0-64")
        .await;
    let want = expected(64, |_, _, x| u64::from(x < 20));
    assert_eq!(chunk, want);
    assert_problem(
        s.get("/v1/arrays/fg/precomputed/s2/0-64_0-64_0-64").await,
        404,
    )
    .await;
}
