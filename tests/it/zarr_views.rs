//! The Zarr v3 and v2 views over a real server: metadata documents, computed chunks
//! decoded and compared with the ROI endpoint, pass-through of stored bytes (same
//! version and translated), pyramid levels, group roots, and HTTP behaviour.

use crate::support::{TestServer, assert_problem, golden_dir, noise, write_zarr_u8};
use arrayd::volume::Volume;
use serde_json::{Value, json};

fn le_u8(v: &Volume) -> Vec<u8> {
    v.to_le_bytes()
}

#[tokio::test]
async fn computed_arrays_in_both_versions() {
    let s = TestServer::golden().await;
    s.register("norm", &json!({"type": "intensities", "min": 0, "max": 255,
        "source_array_config": {"type": "zarr", "name": "raw", "file_name": "data/raw.zarr", "dataset": "raw"}})).await;
    let whole = s.roi_npy("norm", &[0, 0, 0], &[80, 144, 176]).await;
    let Volume::F32(whole) = whole else { panic!() };

    let meta: Value = s
        .get("/v1/arrays/norm/zarr/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["node_type"], "array");
    assert_eq!(meta["shape"], json!([20, 36, 44]));
    assert_eq!(meta["data_type"], "float32");
    assert_eq!(
        meta["chunk_grid"]["configuration"]["chunk_shape"],
        json!([8, 16, 16])
    );
    assert_eq!(meta["codecs"][1]["name"], "zstd");
    assert_eq!(meta["dimension_names"], json!(["z", "y", "x"]));
    // Neuroglancer reads OME-NGFF only on groups; on an array it reads `dimension_units`.
    assert_eq!(
        meta["attributes"]["dimension_units"],
        json!(["4 nm", "4 nm", "4 nm"])
    );
    let zattrs: Value = s
        .get("/v1/arrays/norm/zarr2/.zattrs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(zattrs["dimension_units"], json!(["4 nm", "4 nm", "4 nm"]));
    let ms = &meta["attributes"]["ome"]["multiscales"][0];
    assert_eq!(
        ms["datasets"][0]["coordinateTransformations"][0]["scale"],
        json!([4, 4, 4])
    );
    assert_eq!(
        ms["datasets"][0]["coordinateTransformations"][1]["translation"],
        json!([0, 0, 0])
    );

    // Edge chunk (2, 2, 2): voxels [16..20, 32..36, 32..44] padded to 8x16x16 with zeros.
    for (url, v2) in [
        ("/v1/arrays/norm/zarr/c/2/2/2", false),
        ("/v1/arrays/norm/zarr2/2.2.2", true),
    ] {
        let r = s.get(url).await;
        assert_eq!(r.status(), 200, "{url}");
        let raw = zstd::decode_all(&r.bytes().await.unwrap()[..]).unwrap();
        assert_eq!(raw.len(), 8 * 16 * 16 * 4, "{url} v2={v2}");
        let vals: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        for z in 0..8 {
            for y in 0..16 {
                for x in 0..16 {
                    let (gz, gy, gx) = (16 + z, 32 + y, 32 + x);
                    let want = if gz < 20 && gy < 36 && gx < 44 {
                        whole[[gz, gy, gx]]
                    } else {
                        0.0
                    };
                    assert_eq!(vals[(z * 16 + y) * 16 + x], want, "{url} {z},{y},{x}");
                }
            }
        }
    }
    let zarray: Value = s
        .get("/v1/arrays/norm/zarr2/.zarray")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(zarray["dtype"], "<f4");
    assert_eq!(zarray["compressor"]["id"], "zstd");
    assert_eq!(zarray["dimension_separator"], ".");
    let zattrs: Value = s
        .get("/v1/arrays/norm/zarr2/.zattrs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(zattrs["_ARRAY_DIMENSIONS"], json!(["z", "y", "x"]));
    assert_eq!(zattrs["multiscales"][0]["version"], "0.4");

    // Keys outside the grid are 404 (the fill value), malformed keys 400.
    assert_problem(s.get("/v1/arrays/norm/zarr/c/3/0/0").await, 404).await;
    assert_problem(s.get("/v1/arrays/norm/zarr/c/0/0").await, 400).await;
    assert_problem(s.get("/v1/arrays/norm/zarr/c/a/0/0").await, 400).await;
    assert_problem(s.get("/v1/arrays/norm/zarr2/0.0.x").await, 400).await;
    assert_problem(s.get("/v1/arrays/norm/zarr/.zarray").await, 404).await;
    assert_problem(s.get("/v1/arrays/nope/zarr/zarr.json").await, 404).await;

    // HEAD, ETag/304 and Range on chunks.
    let r = s
        .client
        .head(s.url("/v1/arrays/norm/zarr/c/0/0/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = s
        .client
        .get(s.url("/v1/arrays/norm/zarr/c/0/0/0"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let full = s
        .get("/v1/arrays/norm/zarr/c/0/0/0")
        .await
        .bytes()
        .await
        .unwrap();
    let r = s
        .client
        .get(s.url("/v1/arrays/norm/zarr/c/0/0/0"))
        .header("range", "bytes=4-11")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), full.slice(4..12));
}

#[tokio::test]
async fn stored_chunks_pass_through_untouched() {
    // A v2 blosc source: both views serve the file's bytes.
    let s = TestServer::golden().await;
    s.register(
        "raw",
        &json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw"}),
    )
    .await;
    let on_disk = std::fs::read(golden_dir().join("data/raw.zarr/raw/1.2.0")).unwrap();
    let v2 = s.get("/v1/arrays/raw/zarr2/1.2.0").await;
    assert!(v2.headers().get("content-encoding").is_none());
    assert_eq!(v2.bytes().await.unwrap().to_vec(), on_disk);
    let v3 = s
        .get("/v1/arrays/raw/zarr/c/1/2/0")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(v3.to_vec(), on_disk);
    let meta: Value = s
        .get("/v1/arrays/raw/zarr/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = meta["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bytes", "blosc"]);
    assert_eq!(
        meta["chunk_key_encoding"]["configuration"]["separator"],
        "/"
    );
    let zarray: Value = s
        .get("/v1/arrays/raw/zarr2/.zarray")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(zarray["compressor"]["id"], "blosc");
    // A v2 zstd source written by numcodecs carries `checksum`, which tensorstore rejects.
    s.register(
        "labels",
        &json!({"type": "zarr", "file_name": "data/labels.zarr", "dataset": "labels"}),
    )
    .await;
    let zarray: Value = s
        .get("/v1/arrays/labels/zarr2/.zarray")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(zarray["compressor"], json!({"id": "zstd", "level": 3}));

    // A v3 zstd source: the v3 view passes through; the v2 view translates the codec.
    let root = tempfile::tempdir().unwrap();
    let data = noise(32 * 32 * 32, 5);
    write_zarr_u8(
        root.path(),
        "v3.zarr",
        "a",
        &[32, 32, 32],
        &[16, 16, 16],
        json!({"voxel_size": [2, 2, 2]}),
        &data,
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "a",
        &json!({"type": "zarr", "file_name": "v3.zarr", "dataset": "a"}),
    )
    .await;
    let stored = std::fs::read(root.path().join("v3.zarr/a/c/1/0/1")).unwrap();
    assert_eq!(
        s.get("/v1/arrays/a/zarr/c/1/0/1")
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        stored
    );
    assert_eq!(
        s.get("/v1/arrays/a/zarr2/1.0.1")
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        stored
    );
    let zarray: Value = s
        .get("/v1/arrays/a/zarr2/.zarray")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(zarray["compressor"], json!({"id": "zstd", "level": 3}));
    let decoded = zstd::decode_all(&stored[..]).unwrap();
    let roi = s.roi_npy("a", &[32, 0, 32], &[32, 32, 32]).await;
    assert_eq!(le_u8(&roi), decoded);

    // A missing stored chunk is 404: zarr clients use the fill value.
    std::fs::remove_file(root.path().join("v3.zarr/a/c/0/0/0")).unwrap();
    assert_problem(s.get("/v1/arrays/a/zarr/c/0/0/0").await, 404).await;
    // A wrapper or a different grid is encoded instead.
    s.register(
        "rechunked",
        &json!({"type": "zarr", "file_name": "v3.zarr", "dataset": "a", "chunk_shape": [8, 8, 8]}),
    )
    .await;
    let meta: Value = s
        .get("/v1/arrays/rechunked/zarr/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["chunk_grid"]["configuration"]["chunk_shape"],
        json!([8, 8, 8])
    );
    let chunk = zstd::decode_all(
        &s.get("/v1/arrays/rechunked/zarr/c/3/0/0")
            .await
            .bytes()
            .await
            .unwrap()[..],
    )
    .unwrap();
    let roi = s.roi_npy("a", &[48, 0, 0], &[16, 16, 16]).await;
    assert_eq!(chunk, le_u8(&roi));
}

#[tokio::test]
async fn pyramid_levels_and_group_roots() {
    let root = tempfile::tempdir().unwrap();
    write_zarr_u8(
        root.path(),
        "big.zarr",
        "v",
        &[80, 100, 120],
        &[32, 32, 32],
        json!({}),
        &noise(80 * 100 * 120, 9),
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "big",
        &json!({"type": "zarr", "file_name": "big.zarr", "dataset": "v"}),
    )
    .await;
    s.register(
        "bits",
        &json!({"type": "ones", "source_array_config": "big"}),
    )
    .await;
    let meta: Value = s
        .get("/v1/arrays/big/zarr/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    let datasets = meta["attributes"]["ome"]["multiscales"][0]["datasets"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(datasets.len(), 2);
    assert_eq!(datasets[1]["path"], "s1");
    assert_eq!(
        datasets[1]["coordinateTransformations"][0]["scale"],
        json!([2, 2, 2])
    );
    let s1: Value = s
        .get("/v1/arrays/big/zarr/s1/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s1["shape"], json!([40, 50, 60]));
    assert_eq!(
        s1["attributes"]["dimension_units"],
        json!(["2 nm", "2 nm", "2 nm"])
    );
    assert_eq!(
        s1["chunk_grid"]["configuration"]["chunk_shape"],
        json!([64, 64, 64])
    );
    let zarr_chunk = zstd::decode_all(
        &s.get("/v1/arrays/big/zarr/s1/c/0/0/0")
            .await
            .bytes()
            .await
            .unwrap()[..],
    )
    .unwrap();
    let pre = s
        .get("/v1/arrays/big/precomputed/s1/0-60_0-50_0-40")
        .await
        .bytes()
        .await
        .unwrap();
    // The zarr chunk is the precomputed chunk padded to 64³.
    let mut k = 0;
    for z in 0..64 {
        for y in 0..64 {
            for x in 0..64 {
                let inside = z < 40 && y < 50 && x < 60;
                let want = if inside {
                    pre[(z * 50 + y) * 60 + x]
                } else {
                    0
                };
                assert_eq!(zarr_chunk[k], want, "{z},{y},{x}");
                k += 1;
            }
        }
    }
    let s0: Value = s
        .get("/v1/arrays/big/zarr/s0/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s0, meta);
    assert_problem(s.get("/v1/arrays/big/zarr/s9/zarr.json").await, 404).await;

    let group: Value = s.get("/v1/zarr/zarr.json").await.json().await.unwrap();
    assert_eq!(group["node_type"], "group");
    let members = group["consolidated_metadata"]["metadata"]
        .as_object()
        .unwrap();
    assert_eq!(members.keys().collect::<Vec<_>>(), ["big", "bits"]);
    assert_eq!(members["bits"]["data_type"], "bool");
    let alias: Value = s.get("/v1/zarr/big/zarr.json").await.json().await.unwrap();
    assert_eq!(alias, meta);
    let zgroup: Value = s.get("/v1/zarr2/.zgroup").await.json().await.unwrap();
    assert_eq!(zgroup, json!({"zarr_format": 2}));
    let zmeta: Value = s.get("/v1/zarr2/.zmetadata").await.json().await.unwrap();
    assert_eq!(zmeta["metadata"]["bits/.zarray"]["dtype"], "|b1");
    let a = s.get("/v1/zarr2/big/0.1.2").await.bytes().await.unwrap();
    let b = s
        .get("/v1/arrays/big/zarr2/0.1.2")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_problem(s.get("/v1/zarr/nothing-here").await, 404).await;
}

#[tokio::test]
async fn ome_multiscale_groups() {
    let root = tempfile::tempdir().unwrap();
    write_zarr_u8(
        root.path(),
        "big.zarr",
        "v",
        &[80, 100, 120],
        &[32, 32, 32],
        json!({"voxel_size": [8, 4, 4], "offset": [16, 8, 4]}),
        &noise(80 * 100 * 120, 3),
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "big",
        &json!({"type": "zarr", "file_name": "big.zarr", "dataset": "v"}),
    )
    .await;
    let g3: Value = s
        .get("/v1/arrays/big/ome-zarr/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g3["node_type"], "group");
    let ms = &g3["attributes"]["ome"]["multiscales"][0];
    assert_eq!(ms["version"], "0.5");
    let paths: Vec<&str> = ms["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["s0", "s1", "s2"]);
    assert_eq!(
        ms["datasets"][0]["coordinateTransformations"][1]["translation"],
        json!([16, 8, 4])
    );
    assert_eq!(
        ms["datasets"][1]["coordinateTransformations"][0]["scale"],
        json!([8, 8, 8])
    );
    let g2: Value = s
        .get("/v1/arrays/big/ome-zarr2/.zattrs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g2["multiscales"][0]["version"], "0.4");
    assert_eq!(
        s.get("/v1/arrays/big/ome-zarr2/.zgroup")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"zarr_format": 2})
    );
    // Datasets are the array and its levels, byte for byte the same as the array views.
    for (a, b) in [
        (
            "/v1/arrays/big/ome-zarr/s0/c/1/1/1",
            "/v1/arrays/big/zarr/c/1/1/1",
        ),
        (
            "/v1/arrays/big/ome-zarr/s1/zarr.json",
            "/v1/arrays/big/zarr/s1/zarr.json",
        ),
        (
            "/v1/arrays/big/ome-zarr2/s2/0.0.0",
            "/v1/arrays/big/zarr2/s2/0.0.0",
        ),
    ] {
        let (x, y) = (s.get(a).await, s.get(b).await);
        assert_eq!(x.status(), 200, "{a}");
        assert_eq!(x.bytes().await.unwrap(), y.bytes().await.unwrap(), "{a}");
    }
    assert_problem(s.get("/v1/arrays/big/ome-zarr/.zarray").await, 404).await;
    assert_problem(s.get("/v1/arrays/big/ome-zarr/s9/zarr.json").await, 404).await;
}
