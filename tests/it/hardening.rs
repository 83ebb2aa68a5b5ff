//! Hostile and careless input (issue "Hardening"): what once crashed the process, leaked
//! data from outside the data root or wrapped an integer is now a problem naming the
//! limit or the rule, and the server keeps serving.

use crate::support::{TestServer, assert_problem, noise, write_zarr_u8};
use serde_json::{Value, json};

fn zarr(name: &str, file: &str, dataset: &str) -> Value {
    json!({"type": "zarr", "name": name, "file_name": file, "dataset": dataset})
}

/// PUTs `config` as `name`; asserts a 422 with a problem mentioning `needle`.
async fn refused(s: &TestServer, name: &str, config: &Value, needle: &str) -> Value {
    let body = assert_problem(s.put_json(&format!("/v1/arrays/{name}"), config).await, 422).await;
    let text = body.to_string();
    assert!(text.contains(needle), "{needle:?} not in {text}");
    assert_problem(s.get(&format!("/v1/arrays/{name}")).await, 404).await;
    body
}

#[tokio::test]
async fn a_huge_upsample_is_refused_at_put_instead_of_aborting_the_process() {
    let root = tempfile::tempdir().unwrap();
    let data = noise(64, 7);
    write_zarr_u8(
        root.path(),
        "big.zarr",
        "raw",
        &[4, 4, 4],
        &[4, 4, 4],
        json!({"resolution": [100_000, 100_000, 100_000]}),
        &data,
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register("bigsrc", &zarr("bigsrc", "big.zarr", "raw"))
        .await;
    let up = json!({"type": "resampled", "source_array_config": "bigsrc",
        "upsample": [100_000, 100_000, 100_000], "downsample": [1, 1, 1], "interp_order": 0});
    refused(&s, "up", &up, "--max-chunk-bytes").await;
    // With a chunk shape that fits, the same chain works and reads the right voxel.
    let mut fitted = up.clone();
    fitted["chunk_shape"] = json!([64, 64, 64]);
    s.register("up", &fitted).await;
    let v = s.roi_npy("up", &[0, 0, 0], &[1, 1, 1]).await;
    assert_eq!(v.to_le_bytes(), vec![data[0]]);
    let v = s.roi_npy("up", &[399_999, 0, 0], &[1, 1, 1]).await;
    assert_eq!(v.to_le_bytes(), vec![data[48]], "last z plane, first row");
}

#[tokio::test]
async fn chunk_shapes_that_overflow_or_explode_are_refused() {
    let s = TestServer::golden().await;
    let mut wrapped = zarr("w", "data/raw.zarr", "raw");
    wrapped["chunk_shape"] = json!([1, 4_611_686_018_427_387_904_i64, 1]);
    let body = refused(&s, "w", &wrapped, "2^48").await;
    assert_eq!(body["problems"][0]["field"], "chunk_shape");
}

#[tokio::test]
async fn tiny_chunks_register_but_a_read_touching_too_many_is_413() {
    let root = tempfile::tempdir().unwrap();
    let data = noise(64 * 64 * 64, 11);
    write_zarr_u8(
        root.path(),
        "t.zarr",
        "raw",
        &[64, 64, 64],
        &[32, 32, 32],
        json!({}),
        &data,
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    let mut tiny = zarr("tiny", "t.zarr", "raw");
    tiny["chunk_shape"] = json!([1, 1, 1]);
    s.register("tiny", &tiny).await;
    let body = assert_problem(
        s.get("/v1/arrays/tiny/roi?offset=0,0,0&shape=64,64,64")
            .await,
        413,
    )
    .await;
    assert_eq!(body["limit"], "max-chunks-per-request");
    assert_eq!(body["flag"], "--max-chunks-per-request");
    assert_eq!(body["maximum"], 16_384);
    // A read within the limit is exact.
    let small = s.roi_npy("tiny", &[3, 5, 7], &[8, 8, 8]).await;
    let expected: Vec<u8> = (3..11)
        .flat_map(|z| (5..13).flat_map(move |y| (7..15).map(move |x| (z, y, x))))
        .map(|(z, y, x)| data[(z * 64 + y) * 64 + x])
        .collect();
    assert_eq!(small.to_le_bytes(), expected);
}

#[tokio::test]
async fn fan_in_and_chain_depth_are_bounded() {
    let s = TestServer::golden().await;
    s.register("labels", &zarr("labels", "data/labels.zarr", "labels"))
        .await;
    let many = json!({"type": "merge_instances", "source_array_configs": vec!["labels"; 65]});
    refused(&s, "many", &many, "--max-fan-in").await;
    let ok = json!({"type": "merge_instances", "source_array_configs": vec!["labels"; 64]});
    s.register("ok", &ok).await;
    let mut deep = json!("labels");
    for i in 0..31 {
        let name = if i == 30 {
            "deep32".to_owned()
        } else {
            format!("c{i}")
        };
        deep = json!({"type": "crop", "name": name, "source_array_config": deep,
            "roi": {"offset": [4, 8, 8], "shape": [8, 8, 8]}});
    }
    s.register("deep32", &deep).await;
    let deeper = json!({"type": "crop", "name": "deep33", "source_array_config": "deep32",
        "roi": {"offset": [4, 8, 8], "shape": [8, 8, 8]}});
    refused(&s, "deep33", &deeper, "--max-chain-depth").await;
}

#[tokio::test]
async fn roi_sizes_that_would_overflow_are_400_never_500_or_empty() {
    let s = TestServer::golden().await;
    s.register("raw", &zarr("raw", "data/raw.zarr", "raw"))
        .await;
    for q in [
        "offset=0,0,0&shape=4611686018427387904,4611686018427387904,2048&fill=0",
        "offset=0,0,0&shape=2305843009213693952,4611686018427387904,1&units=voxels&fill=0",
        "offset=9223372036854775807,0,0&shape=1,1,1&fill=0",
        "offset=-9223372036854775808,0,0&shape=1,1,1&fill=0",
    ] {
        let body = assert_problem(s.get(&format!("/v1/arrays/raw/roi?{q}")).await, 400).await;
        assert!(
            body["detail"].as_str().unwrap().contains("2^48")
                || body["detail"].as_str().unwrap().contains("281474976710656"),
            "{q}: {body}"
        );
    }
    // Large but representable: a 413 naming the limit, before any work.
    let body = assert_problem(
        s.get("/v1/arrays/raw/roi?offset=0,0,0&shape=100000,100000,100000&fill=0")
            .await,
        413,
    )
    .await;
    assert_eq!(body["flag"], "--max-roi-bytes");
}

/// `root/c.zarr/raw` is a symlink to a zarr outside the root.
fn container_with_escaping_dataset(root: &std::path::Path, outside: &std::path::Path) {
    write_zarr_u8(
        outside,
        "x.zarr",
        "raw",
        &[4, 4, 4],
        &[4, 4, 4],
        json!({}),
        &[9; 64],
    );
    std::fs::create_dir_all(root.join("c.zarr")).unwrap();
    std::os::unix::fs::symlink(outside.join("x.zarr/raw"), root.join("c.zarr/raw")).unwrap();
}

#[tokio::test]
async fn a_dataset_symlinked_out_of_the_data_root_is_refused() {
    let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    container_with_escaping_dataset(root.path(), outside.path());
    let s = TestServer::start_with(root.path(), |_| {}).await;
    refused(
        &s,
        "leak",
        &zarr("leak", "c.zarr", "raw"),
        "outside the data root",
    )
    .await;
    // A symlink that stays inside the root is followed.
    write_zarr_u8(
        root.path(),
        "in.zarr",
        "raw",
        &[4, 4, 4],
        &[4, 4, 4],
        json!({}),
        &[5; 64],
    );
    std::os::unix::fs::symlink("in.zarr", root.path().join("alias.zarr")).unwrap();
    s.register("alias", &zarr("alias", "alias.zarr", "raw"))
        .await;
    let v = s.roi_npy("alias", &[0, 0, 0], &[4, 4, 4]).await;
    assert_eq!(v.to_le_bytes(), vec![5; 64]);
}

#[tokio::test]
async fn a_dataset_swapped_for_a_symlink_after_registration_serves_nothing_outside() {
    let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let inside = noise(128, 3);
    write_zarr_u8(
        root.path(),
        "s.zarr",
        "raw",
        &[8, 4, 4],
        &[4, 4, 4],
        json!({}),
        &inside,
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register("swap", &zarr("swap", "s.zarr", "raw")).await;
    let first = s.roi_npy("swap", &[0, 0, 0], &[4, 4, 4]).await;
    assert_eq!(first.to_le_bytes(), inside[..64].to_vec());
    // Replace the dataset directory with a symlink to an outside array of 9s.
    write_zarr_u8(
        outside.path(),
        "x.zarr",
        "raw",
        &[8, 4, 4],
        &[4, 4, 4],
        json!({}),
        &[9; 128],
    );
    std::fs::rename(root.path().join("s.zarr/raw"), root.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("x.zarr/raw"),
        root.path().join("s.zarr/raw"),
    )
    .unwrap();
    for path in [
        "/v1/arrays/swap/roi?offset=4,0,0&shape=4,4,4",
        "/v1/arrays/swap/zarr/c/1/0/0",
    ] {
        let resp = s.get(path).await;
        let body = assert_problem(resp, 403).await;
        assert_eq!(
            body["type"], "urn:arrayd:problem:outside-data-root",
            "{path}"
        );
        assert!(
            !body
                .to_string()
                .contains(&outside.path().display().to_string())
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_problems_naming_the_flag() {
    let s =
        TestServer::start_with(&crate::support::golden_dir(), |c| c.max_body_bytes = 1024).await;
    let big = json!({"type": "dummy", "name": "d", "attrs": {"pad": "x".repeat(4000)}});
    let body = assert_problem(s.put_json("/v1/arrays/d", &big).await, 413).await;
    assert_eq!(body["flag"], "--max-body-bytes");
    // Without a Content-Length (chunked): refused while reading.
    let chunks = futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 512]))),
    );
    let resp = s
        .client
        .put(s.url("/v1/arrays/d"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 413).await;
    assert_eq!(body["limit"], "max-body-bytes");
    s.register("d", &json!({"type": "dummy", "name": "d"}))
        .await;
}

#[tokio::test]
async fn an_unwritable_state_dir_is_503_and_nothing_changes() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("state");
    let mut settings = crate::support::settings(&crate::support::golden_dir(), &dir);
    settings.compute_threads = Some(2);
    let s = TestServer::start_settings(settings, None).await;
    s.register("a", &json!({"type": "dummy", "name": "a"}))
        .await;
    // The state dir becomes a file: nothing can be written there any more.
    std::fs::rename(&dir, state.path().join("gone")).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let body = assert_problem(
        s.put_json("/v1/arrays/b", &json!({"type": "dummy", "name": "b"}))
            .await,
        503,
    )
    .await;
    assert_eq!(body["type"], "urn:arrayd:problem:state-not-writable");
    assert!(body["detail"].as_str().unwrap().contains("--state-dir"));
    assert_problem(s.get("/v1/arrays/b").await, 404).await;
    let resp = s.client.delete(s.url("/v1/arrays/a")).send().await.unwrap();
    assert_problem(resp, 503).await;
    assert_eq!(
        s.get("/v1/arrays/a").await.status(),
        200,
        "delete did not happen"
    );
}
