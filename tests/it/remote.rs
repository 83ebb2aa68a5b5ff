//! Data where it lives: every golden case read from an S3-compatible server (moto, the
//! test venv's `moto_server`) and from an HTTP server with Range support, exactly as
//! from disk; sharded zarr v3 written by zarr-python read by inner chunks; refusals
//! (URLs outside `--allow-remote` are never contacted) and faults (a store that stops
//! is a 503 in bounded time, nothing cached, and reads recover when it is back).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::golden_cases::{case_dirs, run_case};
use crate::support::stores::{FileServer, fake_gcs, moto, moto_options, upload, venv_bin};
use crate::support::{TestServer, assert_problem, golden_dir, metric};
use serde_json::json;

async fn all_cases(
    settings: impl Fn(&mut arrayd::settings::Settings) + Send + Sync + 'static,
    base: String,
) {
    let settings = Arc::new(settings);
    let mut failures = Vec::new();
    for dir in case_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (settings, base) = (settings.clone(), base.clone());
        let run = tokio::spawn(async move {
            let server = TestServer::start_with(&golden_dir(), |s| settings(s)).await;
            let locate = move |file: &str| format!("{base}/{file}");
            run_case(&dir, &server, &locate).await;
        });
        if let Err(e) = run.await {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_case_reads_the_same_over_http() {
    let files = FileServer::start(golden_dir(), "127.0.0.1:0".parse().unwrap()).await;
    let url = files.url();
    let allowed = url.clone();
    all_cases(move |s| s.allow_remote = vec![allowed.clone()], url).await;
    assert!(
        files.hits.load(Ordering::Relaxed) > 100,
        "the data came over HTTP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_case_reads_the_same_from_s3() {
    let m = moto().await;
    upload(&m.endpoint, "golden", &golden_dir()).await;
    let options = moto_options(&m.endpoint);
    all_cases(
        move |s| {
            s.allow_remote = vec!["s3://golden".into()];
            s.store_options.clone_from(&options);
        },
        "s3://golden".into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_case_reads_the_same_from_gcs() {
    let g = fake_gcs("golden", &golden_dir()).await;
    let options: Vec<(String, String)> = [
        ("google_base_url", g.endpoint.as_str()),
        ("google_skip_signature", "true"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    all_cases(
        move |s| {
            s.allow_remote = vec!["gs://golden".into()];
            s.store_options.clone_from(&options);
        },
        "gs://golden".into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_outside_the_allowed_prefixes_are_refused_and_never_contacted() {
    let files = FileServer::start(golden_dir(), "127.0.0.1:0".parse().unwrap()).await;
    let allowed = format!("{}/data/raw.zarr", files.url());
    let a = allowed.clone();
    let s = TestServer::start_with(&golden_dir(), move |c| c.allow_remote = vec![a]).await;
    for url in [
        format!("{}/data/labels.zarr", files.url()),
        format!("{}/data/raw.zarr-other", files.url()),
        "s3://anything/raw.zarr".to_owned(),
        "gs://anything/raw.zarr".to_owned(),
    ] {
        let config = json!({"type": "zarr", "file_name": url, "dataset": "raw"});
        let body = assert_problem(s.put_json("/v1/arrays/x", &config).await, 422).await;
        assert!(
            body["detail"].as_str().unwrap().contains(&allowed),
            "{body}"
        );
    }
    assert_eq!(files.hits.load(Ordering::Relaxed), 0, "no request was sent");
    // Credentials in a URL are refused without echoing them.
    let config = json!({"type": "zarr", "file_name": format!("http://me:hunter2@{}/data/raw.zarr", files.addr), "dataset": "raw"});
    let body = assert_problem(s.put_json("/v1/arrays/x", &config).await, 422).await;
    assert!(!body.to_string().contains("hunter2"), "{body}");
    // A missing array under an allowed prefix: 422 naming the dataset.
    let config = json!({"type": "zarr", "file_name": allowed, "dataset": "nope"});
    let body = assert_problem(s.put_json("/v1/arrays/x", &config).await, 422).await;
    assert_eq!(body["problems"][0]["field"], "dataset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_is_503_in_bounded_time_and_reads_recover() {
    let files = FileServer::start(golden_dir(), "127.0.0.1:0".parse().unwrap()).await;
    let (addr, base) = (files.addr, files.url());
    let b = base.clone();
    let s = TestServer::start_with(&golden_dir(), move |c| c.allow_remote = vec![b]).await;
    s.register(
        "raw",
        &json!({"type": "zarr", "name": "raw", "file_name": format!("{base}/data/raw.zarr"), "dataset": "raw"}),
    )
    .await;
    let first = s.roi_npy("raw", &[0, 0, 0], &[4, 4, 4]).await;
    drop(files);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let body = assert_problem(
        s.get("/v1/arrays/raw/roi?offset=40,0,0&shape=4,4,4").await,
        503,
    )
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert!(body["detail"].as_str().unwrap().contains(&base), "{body}");
    // Back on the same address: the failure was not cached.
    let _files = FileServer::start(golden_dir(), addr).await;
    let local = TestServer::golden().await;
    local
        .register(
            "raw",
            &json!({"type": "zarr", "name": "raw", "file_name": "data/raw.zarr", "dataset": "raw"}),
        )
        .await;
    assert_eq!(
        s.roi_npy("raw", &[40, 0, 0], &[4, 4, 4]).await,
        local.roi_npy("raw", &[40, 0, 0], &[4, 4, 4]).await
    );
    assert_eq!(first, local.roi_npy("raw", &[0, 0, 0], &[4, 4, 4]).await);
    let text = s.get("/metrics").await.text().await.unwrap();
    assert!(
        metric(&text, "arrayd_storage_requests_total", "outcome=\"error\"") >= 1.0,
        "{text}"
    );
    assert!(metric(&text, "arrayd_storage_requests_total", "outcome=\"ok\"") >= 2.0);
    assert!(metric(&text, "arrayd_storage_read_bytes_total", "") > 0.0);
}

/// A sharded zarr v3 array written by zarr-python: 64³ uint16 in 32³ shards of 8³
/// inner chunks, voxel (z,y,x) = (z*4096 + y*64 + x) % 65521.
fn write_sharded(root: &Path) {
    let script = r#"
import sys, numpy as np, zarr
z = zarr.create_array(store=sys.argv[1], name="sharded", shape=(64, 64, 64), shards=(32, 32, 32),
                      chunks=(8, 8, 8), dtype="uint16", zarr_format=3, overwrite=True)
idx = np.indices((64, 64, 64), dtype=np.int64)
z[:] = ((idx[0] * 4096 + idx[1] * 64 + idx[2]) % 65521).astype("uint16")
"#;
    let status = Command::new(venv_bin("python"))
        .args(["-c", script])
        .arg(root.join("s.zarr"))
        .status()
        .unwrap();
    assert!(status.success(), "zarr-python failed");
}

fn expected_u16(off: [usize; 3], shape: [usize; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    for z in off[0]..off[0] + shape[0] {
        for y in off[1]..off[1] + shape[1] {
            for x in off[2]..off[2] + shape[2] {
                let v = u16::try_from((z * 4096 + y * 64 + x) % 65521).unwrap();
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_zarr_is_read_by_inner_chunks_locally_over_http_and_from_s3() {
    let root = tempfile::tempdir().unwrap();
    write_sharded(root.path());
    let files = FileServer::start(root.path().to_path_buf(), "127.0.0.1:0".parse().unwrap()).await;
    let m = moto().await;
    upload(&m.endpoint, "shards", root.path()).await;
    let (http, options) = (files.url(), moto_options(&m.endpoint));
    let h = http.clone();
    let s = TestServer::start_with(root.path(), move |c| {
        c.allow_remote = vec![h, "s3://shards".into()];
        c.store_options = options;
    })
    .await;
    for (name, file) in [
        ("local", "s.zarr".to_owned()),
        ("http", format!("{http}/s.zarr")),
        ("s3", "s3://shards/s.zarr".to_owned()),
    ] {
        s.register(
            name,
            &json!({"type": "zarr", "name": name, "file_name": file, "dataset": "sharded"}),
        )
        .await;
        let meta: serde_json::Value = s
            .get(&format!("/v1/arrays/{name}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            meta["metadata"]["chunk_shape"],
            json!([8, 8, 8]),
            "{name}: inner chunks are the grid"
        );
        let v = s.roi_npy(name, &[5, 17, 30], &[20, 9, 14]).await;
        assert_eq!(
            v.to_le_bytes(),
            expected_u16([5, 17, 30], [20, 9, 14]),
            "{name}"
        );
        // One inner chunk costs the index and that chunk, not the 64 KiB shard.
        let bytes = |t: &str| metric(t, "arrayd_storage_read_bytes_total", "");
        let before = bytes(&s.get("/metrics").await.text().await.unwrap());
        let one = s.roi_npy(name, &[40, 40, 40], &[8, 8, 8]).await;
        assert_eq!(one.to_le_bytes(), expected_u16([40, 40, 40], [8, 8, 8]));
        let read = bytes(&s.get("/metrics").await.text().await.unwrap()) - before;
        let shard = 32.0 * 32.0 * 32.0 * 2.0;
        assert!(
            read > 0.0 && read < shard / 8.0,
            "{name}: {read} bytes read for one inner chunk"
        );
        let chunk = s.get(&format!("/v1/arrays/{name}/zarr/c/1/1/1")).await;
        assert_eq!(chunk.status(), 200, "{name}: zarr view of an inner chunk");
    }
}

/// An S3 endpoint that refuses every request as S3 does for a wrong secret.
async fn refusing_s3() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::FORBIDDEN,
            [("content-type", "application/xml")],
            "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request \
             signature we calculated does not match the signature you provided.</Message></Error>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_problem_that_never_shows_the_secret() {
    let (endpoint, _task) = refusing_s3().await;
    let secret = "wJalrXUtnFEMI-not-the-right-secret";
    let options: Vec<(String, String)> = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_access_key_id", "AKIAWRONGKEY0000"),
        ("aws_secret_access_key", secret),
        ("aws_region", "us-east-1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let s = TestServer::start_with(&golden_dir(), move |c| {
        c.allow_remote = vec!["s3://locked".into()];
        c.store_options = options;
    })
    .await;
    let config =
        json!({"type": "zarr", "file_name": "s3://locked/data/raw.zarr", "dataset": "raw"});
    let resp = s.put_json("/v1/arrays/locked", &config).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(matches!(status, 422 | 502), "{status} {text}");
    assert!(
        text.contains("s3://locked") || text.contains("raw"),
        "{text}"
    );
    assert!(!text.contains(secret), "the secret leaked: {text}");
    let metrics = s.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains(secret));
    let listed = s.get("/v1/arrays").await.text().await.unwrap();
    assert!(!listed.contains(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_pass_through_chunk_costs_no_upstream_request() {
    let files = FileServer::start(golden_dir(), "127.0.0.1:0".parse().unwrap()).await;
    let base = files.url();
    let b = base.clone();
    let s = TestServer::start_with(&golden_dir(), move |c| c.allow_remote = vec![b]).await;
    s.register(
        "raw",
        &json!({"type": "zarr", "name": "raw", "file_name": format!("{base}/data/raw.zarr"), "dataset": "raw"}),
    )
    .await;
    let stored = std::fs::read(golden_dir().join("data/raw.zarr/raw/1.0.2")).unwrap();
    let before = files.hits.load(Ordering::Relaxed);
    for round in 0..3 {
        let r = s.get("/v1/arrays/raw/zarr2/1.0.2").await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.bytes().await.unwrap().to_vec(),
            stored,
            "round {round}: the stored bytes"
        );
    }
    assert_eq!(
        files.hits.load(Ordering::Relaxed) - before,
        1,
        "one upstream GET for three reads"
    );
}
