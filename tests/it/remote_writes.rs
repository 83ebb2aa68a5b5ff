//! Writable arrays in object stores: created, written (unaligned, with a stored level)
//! and read back in S3 (moto) as under `--data-root`; a second server opening the same
//! URL sees every acknowledged write; HTTP stores stay read-only. (`gs://` writes take
//! the same path, but fake-gcs-server has no XML API for object PUTs, so no emulator
//! here can check them.)

use ndarray::s;
use object_store::ObjectStoreExt as _;
use serde_json::{Value, json};

use crate::support::stores::{FileServer, moto, moto_options, upload};
use crate::support::{TestServer, assert_problem, golden_dir};
use crate::writes::{block, mean2, put_roi, u8s};

async fn server(prefix: &str, options: &[(String, String)]) -> TestServer {
    let (allowed, options) = (prefix.to_owned(), options.to_vec());
    TestServer::start_with(&golden_dir(), move |c| {
        c.allow_remote = vec![allowed];
        c.store_options = options;
    })
    .await
}

fn value(z: usize, y: usize, x: usize) -> u8 {
    (z * 7 + y * 3 + x) as u8 | 1
}

/// Creates `prefix/pred.zarr`, writes it, and checks a fresh server reads it back.
async fn write_and_read_back(prefix: &str, options: &[(String, String)]) {
    let s = server(prefix, options).await;
    let file = format!("{prefix}/pred.zarr");
    let config = json!({"type": "zarr", "file_name": file, "dataset": "pred/s0",
        "create": {"roi": {"offset": [0, 0, 0], "shape": [256, 256, 256]}, "voxel_size": [4, 4, 4],
            "dtype": "uint8", "chunk_shape": [16, 16, 16], "levels": 2}});
    s.register("pred", &config).await;
    let meta: Value = s.get("/v1/arrays/pred").await.json().await.unwrap();
    assert_eq!(meta["metadata"]["writable"], true, "{meta}");
    // Created again without overwrite: 409.
    assert_problem(s.put_json("/v1/arrays/again", &config).await, 409).await;

    // Unaligned: 20³ voxels at voxel (3, 5, 7) touch 8 chunks, read-modify-written.
    let r = put_roi(&s, "pred", &[12, 20, 28], block([20, 20, 20], value)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["chunks"], 8, "{report}");
    assert_eq!(report["levels_updated"], 1, "{report}");
    // Aligned: one whole chunk at voxel (32, 32, 32).
    let r = put_roi(
        &s,
        "pred",
        &[128, 128, 128],
        block([16, 16, 16], |_, _, _| 9),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .patch(s.url("/v1/arrays/pred/attrs"))
        .body(json!({"job": "predict-7"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut want = ndarray::Array3::<u8>::zeros([64, 64, 64]);
    want.slice_mut(s![3..23, 5..25, 7..27])
        .assign(&ndarray::Array3::from_shape_fn(
            [20, 20, 20],
            |(z, y, x)| value(z, y, x),
        ));
    want.slice_mut(s![32..48, 32..48, 32..48]).fill(9);
    let want = want.into_dyn();
    let got = u8s(&s.roi_npy("pred", &[0, 0, 0], &[256, 256, 256]).await);
    assert_eq!(got, want);

    // Another server (another replica) reading the same objects, s0 and the stored s1.
    let other = server(prefix, options).await;
    for (name, dataset) in [("s0", "pred/s0"), ("s1", "pred/s1")] {
        other
            .register(
                name,
                &json!({"type": "zarr", "file_name": file, "dataset": dataset}),
            )
            .await;
    }
    assert_eq!(
        u8s(&other.roi_npy("s0", &[0, 0, 0], &[256, 256, 256]).await),
        want
    );
    assert_eq!(
        u8s(&other.roi_npy("s1", &[0, 0, 0], &[256, 256, 256]).await),
        mean2(&want)
    );
    let meta: Value = other.get("/v1/arrays/s0").await.json().await.unwrap();
    assert_eq!(meta["metadata"]["attrs"]["job"], "predict-7", "{meta}");
    assert_eq!(meta["metadata"]["writable"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_are_created_written_and_read_back_in_s3() {
    let m = moto().await;
    let empty = tempfile::tempdir().unwrap();
    upload(&m.endpoint, "out", empty.path()).await;
    write_and_read_back("s3://out", &moto_options(&m.endpoint)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_stores_and_unlisted_prefixes_are_not_written() {
    let files = FileServer::start(golden_dir(), "127.0.0.1:0".parse().unwrap()).await;
    let s = server(&files.url(), &[]).await;
    let create = json!({"roi": {"offset": [0, 0, 0], "shape": [64, 64, 64]},
        "voxel_size": [4, 4, 4], "dtype": "uint8"});
    for (file, says) in [
        (format!("{}/new.zarr", files.url()), "read-only"),
        ("s3://elsewhere/new.zarr".to_owned(), "allowed"),
    ] {
        let config = json!({"type": "zarr", "file_name": file, "dataset": "s0", "create": create});
        let body = assert_problem(s.put_json("/v1/arrays/x", &config).await, 422).await;
        assert_eq!(body["problems"][0]["field"], "file_name", "{body}");
        assert!(body.to_string().contains(says), "{body}");
    }
    // An existing array over HTTP opened with "writable": refused the same way.
    let config = json!({"type": "zarr", "file_name": format!("{}/data/raw.zarr", files.url()),
        "dataset": "raw", "writable": true});
    let body = assert_problem(s.put_json("/v1/arrays/x", &config).await, 422).await;
    assert!(body.to_string().contains("read-only"), "{body}");
    assert!(!golden_dir().join("new.zarr").exists());
}

/// `arrayd export --to s3://…` of a chain equals the chain over `/roi`; a lost chunk
/// object is all a rerun writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_s3_equals_roi_and_resumes() {
    let m = moto().await;
    let empty = tempfile::tempdir().unwrap();
    upload(&m.endpoint, "out", empty.path()).await;
    let s = TestServer::start_with(&golden_dir(), |_| {}).await;
    s.register(
        "chain",
        &json!({"type": "intensities", "min": 0, "max": 255, "source_array_config":
            {"type": "zarr", "name": "raw", "file_name": "data/raw.zarr", "dataset": "raw"}}),
    )
    .await;
    let args = || arrayd::export::Export {
        name: "chain".into(),
        to: "s3://out/exp.zarr".into(),
        store_options: moto_options(&m.endpoint),
        levels: 2,
        chunk_shape: Some(vec![8, 8, 8]),
        server: Some(s.base.clone()),
        config: None,
        data_root: ".".into(),
        jobs: 4,
        register: None,
    };
    // 20x36x44 voxels in 8³ chunks.
    assert_eq!(arrayd::export::run(args()).await.unwrap(), 3 * 5 * 6);
    let mut bucket = object_store::aws::AmazonS3Builder::new().with_bucket_name("out");
    for (k, v) in moto_options(&m.endpoint) {
        bucket = bucket.with_config(k.parse().unwrap(), v);
    }
    let bucket = bucket.build().unwrap();
    let lost = object_store::path::Path::from("exp.zarr/s0/c/1/2/3");
    bucket.head(&lost).await.unwrap();
    bucket.delete(&lost).await.unwrap();
    assert_eq!(arrayd::export::run(args()).await.unwrap(), 1);

    let want = s.roi_npy("chain", &[0, 0, 0], &[80, 144, 176]).await;
    let other = server("s3://out", &moto_options(&m.endpoint)).await;
    other
        .register(
            "exp",
            &json!({"type": "zarr", "file_name": "s3://out/exp.zarr", "dataset": "s0"}),
        )
        .await;
    assert_eq!(
        other.roi_npy("exp", &[0, 0, 0], &[80, 144, 176]).await,
        want
    );
    let meta: Value = other.get("/v1/arrays/exp").await.json().await.unwrap();
    assert_eq!(meta["metadata"]["dtype"], "float32", "{meta}");
}
