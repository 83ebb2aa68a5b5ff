//! The HTTP contract of the server core (`spec/api.md`): registry routes, ROI reads,
//! every error path as problem+json, CORS, compression, health and metrics, the admin
//! token, single-flight evaluation, the cache budget and invalidation on replace. Each
//! test runs a real server on a loopback port over real zarr files.

use std::io::Read;

use crate::support::{TestServer, assert_problem, golden_dir, metric, noise, write_zarr_u8};
use arrayd::volume::Volume;
use serde_json::{Value, json};

fn raw() -> Value {
    json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw"})
}

#[tokio::test]
async fn registry_lifecycle() {
    let s = TestServer::golden().await;
    let r = s.put_json("/v1/arrays/raw", &raw()).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["metadata"]["shape"], json!([20, 36, 44]));
    assert_eq!(body["metadata"]["chunk_shape"], json!([8, 16, 16]));
    assert_eq!(body["metadata"]["writable"], json!(false));
    assert_eq!(s.put_json("/v1/arrays/raw", &raw()).await.status(), 200);

    let norm = json!({"type": "intensities", "source_array_config": "raw", "min": 0, "max": 255});
    assert_eq!(s.put_json("/v1/arrays/norm", &norm).await.status(), 201);
    let list: Value = s.get("/v1/arrays").await.json().await.unwrap();
    let names: Vec<&str> = list["arrays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["norm", "raw"]);
    let n = &list["arrays"][0];
    assert_eq!(n["dtype"], "float32");
    assert_eq!(n["axes"], json!(["z", "y", "x"]));
    assert_eq!(n["voxel_size"], json!([4, 4, 4]));
    assert_eq!(
        n["roi"],
        json!({"offset": [0, 0, 0], "shape": [80, 144, 176]})
    );
    assert!(
        n["links"]["roi"]
            .as_str()
            .unwrap()
            .ends_with("/v1/arrays/norm/roi")
    );

    let shown: Value = s.get("/v1/arrays/norm").await.json().await.unwrap();
    assert_eq!(shown["config"]["source_array_config"], "raw");
    assert_eq!(shown["chain"]["type"], "intensities");
    assert_eq!(shown["chain"]["sources"][0]["type"], "zarr");
    assert_eq!(shown["chain"]["sources"][0]["dtype"], "uint8");

    // Dry run validates without registering.
    let r = s.put_json("/v1/arrays/probe?dry_run=true", &raw()).await;
    assert_eq!(r.status(), 200);
    assert_problem(s.get("/v1/arrays/probe").await, 404).await;

    // A referenced array cannot be deleted.
    let body = assert_problem(
        s.client
            .delete(s.url("/v1/arrays/raw"))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("norm"));
    assert_eq!(
        s.client
            .delete(s.url("/v1/arrays/norm"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        s.client
            .delete(s.url("/v1/arrays/raw"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_problem(
        s.client
            .delete(s.url("/v1/arrays/raw"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn validation_lists_every_problem() {
    let s = TestServer::golden().await;
    let bad = json!({"type": "binarize", "bogus": 1,
        "source_array_config": {"type": "zarr", "name": "x", "dataset": "raw", "nope": 2},
        "groupings": "all"});
    let body = assert_problem(s.put_json("/v1/arrays/b", &bad).await, 422).await;
    let fields: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for f in [
        "bogus",
        "source_array_config.nope",
        "source_array_config.file_name",
    ] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }

    let body = assert_problem(
        s.put_json("/v1/arrays/a", &json!({"type": "dummy", "name": "b"}))
            .await,
        422,
    )
    .await;
    assert_eq!(body["problems"][0]["field"], "name");

    let unknown = json!({"type": "ones", "source_array_config": "missing"});
    let body = assert_problem(s.put_json("/v1/arrays/o", &unknown).await, 422).await;
    assert_eq!(body["problems"][0]["field"], "source_array_config");
    assert!(
        body["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("missing")
    );

    let r = s
        .client
        .put(s.url("/v1/arrays/x"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;
    assert_problem(s.put_json("/v1/arrays/a%20b", &raw()).await, 400).await;

    // A reference cycle through a replacement.
    s.register("a", &raw()).await;
    s.register(
        "b",
        &json!({"type": "intensities", "source_array_config": "a", "min": 0, "max": 1}),
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
    assert!(body["detail"].as_str().unwrap().contains("cycle"), "{body}");
    // Replacing an array so that a dependent breaks is refused, and nothing changes.
    s.register(
        "lab",
        &json!({"type": "zarr", "file_name": "data/labels.zarr", "dataset": "labels"}),
    )
    .await;
    s.register(
        "fg",
        &json!({"type": "binarize", "source_array_config": "lab", "groupings": [["a", [1]]]}),
    )
    .await;
    let mask = json!({"type": "zarr", "file_name": "data/mask.zarr", "dataset": "mask"});
    let body = assert_problem(s.put_json("/v1/arrays/lab", &mask).await, 422).await;
    assert!(
        body["detail"].as_str().unwrap().contains("\"fg\""),
        "{body}"
    );
    let lab: Value = s.get("/v1/arrays/lab").await.json().await.unwrap();
    assert_eq!(lab["metadata"]["dtype"], "uint64");
}

#[tokio::test]
async fn file_names_stay_inside_the_data_root() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write_zarr_u8(
        outside.path(),
        "secret.zarr",
        "a",
        &[4, 4, 4],
        &[4, 4, 4],
        json!({}),
        &[1; 64],
    );
    std::os::unix::fs::symlink(
        outside.path().join("secret.zarr"),
        root.path().join("link.zarr"),
    )
    .unwrap();
    let s = TestServer::start_with(root.path(), |_| {}).await;
    for file in ["../secret.zarr", "/etc", "link.zarr", "missing.zarr"] {
        let cfg = json!({"type": "zarr", "file_name": file, "dataset": "a"});
        let body = assert_problem(s.put_json("/v1/arrays/x", &cfg).await, 422).await;
        assert_eq!(body["problems"][0]["field"], "file_name", "{file}: {body}");
    }
}

#[tokio::test]
async fn big_rois_are_sent_uncompressed() {
    // Over 1 MiB, on-the-fly gzip costs more time than it saves bytes.
    let s = TestServer::start_with(&golden_dir(), |_| {}).await;
    s.register("raw", &raw()).await;
    let big = "/v1/arrays/raw/roi?offset=0,0,0&shape=128,128,128&units=voxels&fill=0&format=raw";
    let r = s
        .client
        .get(s.url(big))
        .header("accept-encoding", "gzip, zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none());
    let body = r.bytes().await.unwrap();
    assert!(body.len() > 1 << 20, "{}", body.len());
    assert_eq!(body, s.get(big).await.bytes().await.unwrap());
}

#[tokio::test]
async fn roi_formats_units_and_errors() {
    let s = TestServer::start_with(&golden_dir(), |st| st.max_roi_bytes = 31_000).await;
    s.register("raw", &raw()).await;
    let whole = s.roi_npy("raw", &[0, 0, 0], &[40, 80, 80]).await;
    let Volume::U8(all) = &whole else {
        panic!("uint8 expected")
    };

    // Voxel units and world units agree; a sub-ROI equals the slice of the whole.
    let a = s.roi_npy("raw", &[8, 16, 4], &[12, 20, 28]).await;
    let r = s
        .get("/v1/arrays/raw/roi?offset=2,4,1&shape=3,5,7&units=voxels")
        .await;
    let b = arrayd::encode::npy::decode(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(a, b);
    let Volume::U8(av) = &a else { panic!() };
    assert_eq!(av[[1, 2, 3]], all[[3, 6, 4]]);

    // Raw format with shape headers.
    let r = s
        .get("/v1/arrays/raw/roi?offset=8,16,4&shape=12,20,28&format=raw")
        .await;
    assert_eq!(r.headers()["x-array-shape"], "3,5,7");
    assert_eq!(r.headers()["x-array-dtype"], "uint8");
    assert_eq!(r.headers()["x-array-axes"], "z,y,x");
    assert_eq!(r.bytes().await.unwrap().to_vec(), a.to_le_bytes());

    // Misaligned, out of bounds, bad parameters.
    let body = assert_problem(
        s.get("/v1/arrays/raw/roi?offset=1,0,0&shape=4,4,4").await,
        400,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("voxel size"));
    let body = assert_problem(
        s.get("/v1/arrays/raw/roi?offset=-4,0,0&shape=8,8,8").await,
        400,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("[(0, 0, 0)..(80, 144, 176))"),
        "{body}"
    );
    assert_problem(s.get("/v1/arrays/raw/roi?offset=0,0&shape=4,4").await, 400).await;
    assert_problem(s.get("/v1/arrays/raw/roi?offset=0,0,0").await, 400).await;
    assert_problem(
        s.get("/v1/arrays/raw/roi?offset=0,0,0&shape=4,4,4&colour=red")
            .await,
        400,
    )
    .await;
    assert_problem(
        s.get("/v1/arrays/raw/roi?offset=0,0,0&shape=4,4,4&format=tiff")
            .await,
        400,
    )
    .await;
    assert_problem(
        s.get("/v1/arrays/raw/roi?offset=-4,0,0&shape=8,8,8&fill=abc")
            .await,
        400,
    )
    .await;
    // The fill is parsed for the dtype in the view, even for a read inside the array.
    let body = assert_problem(
        s.get("/v1/arrays/raw/roi?offset=0,0,0&shape=4,4,4&fill=300")
            .await,
        400,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("uint8"), "{body}");
    assert_problem(
        s.get("/v1/arrays/nope/roi?offset=0,0,0&shape=4,4,4").await,
        404,
    )
    .await;
    // One value, one ETag: `07` and `7` are the same uint8.
    let tag = |q: &'static str| {
        let s = &s;
        async move {
            let r = s
                .get(&format!(
                    "/v1/arrays/raw/roi?offset=-4,0,0&shape=8,4,4&fill={q}"
                ))
                .await;
            assert_eq!(r.status(), 200, "{q}");
            r.headers()["etag"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(tag("07").await, tag("7").await);
    assert_ne!(tag("8").await, tag("7").await);

    // Fill pads outside voxels.
    let r = s
        .get("/v1/arrays/raw/roi?offset=-4,0,0&shape=8,4,4&fill=7")
        .await;
    assert_eq!(r.status(), 200);
    let v = arrayd::encode::npy::decode(&r.bytes().await.unwrap()).unwrap();
    let Volume::U8(v) = v else { panic!() };
    assert_eq!(v[[0, 0, 0]], 7);
    assert_eq!(v[[1, 0, 0]], all[[0, 0, 0]]);

    // Too large: 413 before any work.
    let body = assert_problem(
        s.get("/v1/arrays/raw/roi?offset=0,0,0&shape=80,144,176")
            .await,
        413,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("31680")
            && body["detail"].as_str().unwrap().contains("31000"),
        "{body}"
    );

    // Compression on request, identical bytes after decoding.
    let plain = s
        .get("/v1/arrays/raw/roi?offset=0,0,0&shape=40,80,80")
        .await
        .bytes()
        .await
        .unwrap();
    let r = s
        .client
        .get(s.url("/v1/arrays/raw/roi?offset=0,0,0&shape=40,80,80"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain.to_vec());
    let r = s
        .client
        .get(s.url("/v1/arrays/raw/roi?offset=0,0,0&shape=40,80,80"))
        .header("accept-encoding", "zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "zstd");
    assert_eq!(
        zstd::decode_all(&r.bytes().await.unwrap()[..]).unwrap(),
        plain.to_vec()
    );
    // ETag revalidation.
    let r = s.get("/v1/arrays/raw/roi?offset=0,0,0&shape=4,4,4").await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = s
        .client
        .get(s.url("/v1/arrays/raw/roi?offset=0,0,0&shape=4,4,4"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}

#[tokio::test]
async fn operations_endpoints_and_cors() {
    let s = TestServer::golden().await;
    s.register("raw", &raw()).await;
    assert_eq!(s.get("/healthz").await.status(), 200);
    let ready: Value = s.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["arrays"], 1);
    s.roi_npy("raw", &[0, 0, 0], &[8, 8, 8]).await;
    let text = s.get("/metrics").await.text().await.unwrap();
    assert!(
        metric(
            &text,
            "arrayd_http_requests_total",
            "route=\"/v1/arrays/{name}/roi\""
        ) >= 1.0,
        "{text}"
    );
    assert!(metric(&text, "arrayd_cache_misses_total", "") >= 1.0);
    assert!(metric(&text, "arrayd_cache_bytes", "") > 0.0);
    assert!(metric(&text, "arrayd_evaluations_total", "type=\"zarr\"") >= 1.0);

    let r = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/v1/arrays/raw/roi"))
        .header("origin", "http://viewer.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "range")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("range")
    );
    let r = s
        .client
        .get(s.url("/v1/arrays"))
        .header("origin", "http://viewer.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let expose = r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(expose.contains("content-range") && expose.contains("etag"));
    assert!(r.headers().contains_key("x-request-id"));

    assert_problem(s.get("/no/such/route").await, 404).await;
    assert_problem(
        s.client.post(s.url("/v1/arrays")).send().await.unwrap(),
        405,
    )
    .await;
    let html = s.get("/").await.text().await.unwrap();
    assert!(html.contains("raw") && html.contains("neuroglancer"));
}

#[tokio::test]
async fn admin_token_guards_changes_only() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let s = TestServer::start_with(&golden_dir(), |st| {
        st.admin_token_file = Some(token_file.clone())
    })
    .await;
    assert_problem(s.put_json("/v1/arrays/raw", &raw()).await, 401).await;
    let r = s
        .client
        .put(s.url("/v1/arrays/raw"))
        .bearer_auth("wrong")
        .body(raw().to_string())
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    let r = s
        .client
        .put(s.url("/v1/arrays/raw"))
        .bearer_auth("s3cret-token")
        .body(raw().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(s.get("/v1/arrays/raw").await.status(), 200);
    assert_problem(
        s.client
            .delete(s.url("/v1/arrays/raw"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

/// A slow top-level node over one big chunk: N simultaneous requests evaluate it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cold_requests_evaluate_once() {
    let root = tempfile::tempdir().unwrap();
    write_zarr_u8(
        root.path(),
        "big.zarr",
        "v",
        &[96, 96, 96],
        &[96, 96, 96],
        json!({}),
        &noise(96 * 96 * 96, 1),
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register("slow", &json!({"type": "resampled", "interp_order": 3, "downsample": 2, "upsample": 1,
        "source_array_config": {"type": "zarr", "name": "v", "file_name": "big.zarr", "dataset": "v"}})).await;
    let n = 16;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let c = s.client.clone();
        let url = s.url("/v1/arrays/slow/roi?offset=0,0,0&shape=96,96,96");
        tasks.push(tokio::spawn(async move {
            c.get(url).send().await.unwrap().bytes().await.unwrap()
        }));
    }
    let bodies: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let m = &s.state.metrics;
    assert_eq!(
        m.evaluation_count("resampled"),
        1,
        "the cold chunk was evaluated more than once"
    );
    assert_eq!(m.cache_misses.get(), 1);
    assert_eq!(m.cache_hits.get(), n - 1);
}

#[tokio::test]
async fn cache_stays_within_budget_and_evicts() {
    let root = tempfile::tempdir().unwrap();
    write_zarr_u8(
        root.path(),
        "v.zarr",
        "v",
        &[128, 128, 128],
        &[32, 32, 32],
        json!({}),
        &noise(128 * 128 * 128, 2),
    );
    let budget: u64 = 512 * 1024;
    let s = TestServer::start_with(root.path(), |st| st.cache_size = budget).await;
    s.register(
        "v",
        &json!({"type": "zarr", "file_name": "v.zarr", "dataset": "v"}),
    )
    .await;
    let whole = s.roi_npy("v", &[0, 0, 0], &[128, 128, 128]).await;
    assert_eq!(whole.len(), 128 * 128 * 128);
    let (bytes, entries) = s.state.ctx.cache.usage().await;
    assert!(
        bytes <= budget,
        "cache holds {bytes} bytes, budget {budget}"
    );
    assert!(entries > 0 && entries < 64, "{entries} entries");
    let text = s.get("/metrics").await.text().await.unwrap();
    assert!(
        metric(&text, "arrayd_cache_evictions_total", "") > 0.0,
        "no evictions recorded"
    );
    // Evicted chunks are recomputed correctly.
    assert_eq!(s.roi_npy("v", &[0, 0, 0], &[128, 128, 128]).await, whole);
}

#[tokio::test]
async fn replacing_a_config_never_serves_stale_chunks() {
    let s = TestServer::golden().await;
    s.register("raw", &raw()).await;
    s.register(
        "norm",
        &json!({"type": "intensities", "source_array_config": "raw", "min": 0, "max": 255}),
    )
    .await;
    let before = s.roi_npy("norm", &[0, 0, 0], &[16, 16, 16]).await;
    s.register(
        "norm",
        &json!({"type": "intensities", "source_array_config": "raw", "min": 0, "max": 127.5}),
    )
    .await;
    let after = s.roi_npy("norm", &[0, 0, 0], &[16, 16, 16]).await;
    let (Volume::F32(b), Volume::F32(a)) = (&before, &after) else {
        panic!()
    };
    assert!(b.iter().zip(a).all(|(x, y)| (x * 2.0 - y).abs() < 1e-5));
    // Replacing a source re-evaluates its dependents too.
    s.register("raw", &json!({"type": "zarr", "file_name": "data/mask.zarr", "dataset": "mask", "axes": ["c", "z", "y", "x"]})).await;
    let shown: Value = s.get("/v1/arrays/norm").await.json().await.unwrap();
    assert_eq!(shown["metadata"]["num_channels"], 3);
}

#[tokio::test]
async fn config_file_preloads_json_lists_and_toml_maps() {
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("arrays.json");
    std::fs::write(&json_file, serde_json::to_vec(&json!([
        {"type": "zarr", "name": "raw", "file_name": "data/raw.zarr", "dataset": "raw"},
        {"type": "intensities", "name": "norm", "source_array_config": "raw", "min": 0, "max": 255}
    ])).unwrap()).unwrap();
    let s = TestServer::start_with(&golden_dir(), |st| st.config = Some(json_file.clone())).await;
    let list: Value = s.get("/v1/arrays").await.json().await.unwrap();
    assert_eq!(list["arrays"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.roi_npy("norm", &[0, 0, 0], &[4, 4, 4])
            .await
            .dtype()
            .name(),
        "float32"
    );

    let toml_file = dir.path().join("arrays.toml");
    std::fs::write(&toml_file, "[labels]\ntype = \"zarr\"\nfile_name = \"data/labels.zarr\"\ndataset = \"labels\"\n\n[fg]\ntype = \"binarize\"\nsource_array_config = \"labels\"\ngroupings = [[\"a\", [1, 2]]]\n").unwrap();
    let s = TestServer::start_with(&golden_dir(), |st| st.config = Some(toml_file.clone())).await;
    let shown: Value = s.get("/v1/arrays/fg").await.json().await.unwrap();
    assert_eq!(shown["metadata"]["num_channels"], 1);

    // An invalid entry stops start-up with every problem named.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"x": {"type": "intensities", "min": 1, "max": 1, "source_array_config": "nope"}}"#,
    )
    .unwrap();
    let st =
        arrayd::server::build_state(crate::support::settings(&golden_dir(), dir.path())).unwrap();
    let mut st2 = (*st.settings).clone();
    st2.config = Some(bad);
    let state = arrayd::server::build_state(st2).unwrap();
    let err = arrayd::server::load(&state).await.unwrap_err();
    assert!(
        err.contains("\"x\"") && err.contains("source_array_config"),
        "{err}"
    );
}

/// 2-D arrays are legal (`spec/arrays.md`, "Geometry"): every view serves them.
#[tokio::test]
async fn two_dimensional_arrays_work_in_every_view() {
    use std::sync::Arc;
    use zarrs::array::{ArrayBuilder, ArraySubset, data_type};
    let root = tempfile::tempdir().unwrap();
    let store =
        Arc::new(zarrs::filesystem::FilesystemStore::new(root.path().join("img.zarr")).unwrap());
    let mut b = ArrayBuilder::new(
        vec![50, 70],
        vec![32, 32],
        data_type::uint16(),
        zarrs::array::FillValue::from(0u16),
    );
    b.attributes(
        json!({"resolution": [4, 2], "offset": [8, 10]})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let a = b.build(store, "/slice").unwrap();
    a.store_metadata().unwrap();
    let data: Vec<u16> = (0..50 * 70u16).map(|i| i.wrapping_mul(3) % 1000).collect();
    a.store_array_subset(&ArraySubset::new_with_shape(vec![50, 70]), data.clone())
        .unwrap();
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "slice",
        &json!({"type": "zarr", "file_name": "img.zarr", "dataset": "slice"}),
    )
    .await;
    let shown: Value = s.get("/v1/arrays/slice").await.json().await.unwrap();
    assert_eq!(shown["metadata"]["axes"], json!(["y", "x"]));
    assert_eq!(
        shown["metadata"]["roi"],
        json!({"offset": [8, 10], "shape": [200, 140]})
    );
    let v = s.roi_npy("slice", &[12, 14], &[8, 6]).await;
    let Volume::U16(v) = v else { panic!() };
    assert_eq!(v.shape(), &[2, 3]);
    assert_eq!(v[[1, 2]], data[2 * 70 + 4]);
    let info: Value = s
        .get("/v1/arrays/slice/precomputed/info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["scales"][0]["size"], json!([70, 50, 1]));
    let chunk = s.get("/v1/arrays/slice/precomputed/s0/5-69_2-52_0-1").await;
    assert_eq!(chunk.status(), 200);
    assert_eq!(chunk.bytes().await.unwrap().len(), 64 * 50 * 2);
    let meta: Value = s
        .get("/v1/arrays/slice/zarr/zarr.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["shape"], json!([50, 70]));
    assert_eq!(s.get("/v1/arrays/slice/zarr/c/1/2").await.status(), 200);
    // Derived arrays over a 2-D source.
    s.register(
        "norm",
        &json!({"type": "intensities", "min": 0, "max": 999, "source_array_config": "slice"}),
    )
    .await;
    assert_eq!(
        s.roi_npy("norm", &[8, 10], &[200, 140]).await.shape(),
        &[50, 70]
    );
}
