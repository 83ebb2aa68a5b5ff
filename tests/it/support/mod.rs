//! Shared test harness: a real arrayd server on a loopback port over real files, and
//! small helpers to talk to it.

pub mod conformance;
pub mod fake_dvid;
pub mod golden_cases;
pub mod stores;

use std::path::{Path, PathBuf};

use arrayd::server::{AppState, app, build_state, load};
use arrayd::settings::Settings;
use serde_json::Value;

/// The golden fixtures folder (a copy of `shared/fixtures/golden`).
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

/// A server running in this process on 127.0.0.1.
pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    _state_dir: Option<tempfile::TempDir>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Default settings for tests: data root, a fresh state dir, small limits.
pub fn settings(data_root: &Path, state_dir: &Path) -> Settings {
    let mut s = Settings::defaults();
    s.data_root = data_root.to_path_buf();
    s.state_dir = state_dir.to_path_buf();
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.compute_threads = Some(2);
    s
}

impl TestServer {
    /// Starts a server over `data_root` with a fresh state dir; `tweak` adjusts settings.
    pub async fn start_with(data_root: &Path, tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(data_root, dir.path());
        tweak(&mut s);
        Self::start_settings(s, Some(dir)).await
    }

    /// Starts a server over the golden fixtures.
    pub async fn golden() -> Self {
        Self::start_with(&golden_dir(), |_| {}).await
    }

    /// Starts a server with explicit settings (the caller owns the state dir).
    /// With `ARRAYD_TEST_LOG` set (an `EnvFilter`, e.g. `warn`), servers log to stderr.
    pub async fn start_settings(s: Settings, state_dir: Option<tempfile::TempDir>) -> Self {
        if let Ok(filter) = std::env::var("ARRAYD_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        arrayd::init_tls();
        let state = build_state(s).unwrap();
        load(&state).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            state,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _state_dir: state_dir,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GETs `path`, asserts a 200 and returns the body.
    pub async fn get_bytes(&self, path: &str) -> Vec<u8> {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap().to_vec()
    }

    /// The `origin` of each level in `GET /v1/arrays/{name}` (`array`, `stored`, `computed`).
    pub async fn level_origins(&self, name: &str) -> Vec<String> {
        let v: Value = self
            .get(&format!("/v1/arrays/{name}"))
            .await
            .json()
            .await
            .unwrap();
        v["levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["origin"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// PUTs a config and asserts success.
    pub async fn register(&self, name: &str, config: &Value) {
        let r = self.put_json(&format!("/v1/arrays/{name}"), config).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "PUT {name}: {status} {text}");
    }

    /// Reads a ROI (world units) as a decoded `.npy`.
    pub async fn roi_npy(
        &self,
        name: &str,
        offset: &[i64],
        shape: &[i64],
    ) -> arrayd::volume::Volume {
        let q = |v: &[i64]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let r = self
            .get(&format!(
                "/v1/arrays/{name}/roi?offset={}&shape={}",
                q(offset),
                q(shape)
            ))
            .await;
        let status = r.status();
        let body = r.bytes().await.unwrap();
        assert!(
            status.is_success(),
            "ROI {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        arrayd::encode::npy::decode(&body).unwrap()
    }
}

/// Asserts a problem+json error with the given status; returns the body.
pub async fn assert_problem(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    for key in ["type", "title", "status", "detail"] {
        assert!(body.get(key).is_some(), "problem lacks {key}: {body}");
    }
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)));
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// Writes a uint8 zarr v3 array (zstd) under `root/container`, path `name`.
pub fn write_zarr_u8(
    root: &Path,
    container: &str,
    name: &str,
    shape: &[u64],
    chunk: &[u64],
    attrs: Value,
    data: &[u8],
) {
    use std::sync::Arc;
    use zarrs::array::{ArrayBuilder, ArraySubset, data_type};
    let store = Arc::new(zarrs::filesystem::FilesystemStore::new(root.join(container)).unwrap());
    let mut b = ArrayBuilder::new(
        shape.to_vec(),
        chunk.to_vec(),
        data_type::uint8(),
        zarrs::array::FillValue::from(0u8),
    );
    b.bytes_to_bytes_codecs(vec![Arc::new(zarrs::array::codec::ZstdCodec::new(
        3, false,
    ))])
    .attributes(attrs.as_object().cloned().unwrap_or_default());
    let array = b.build(store, &format!("/{name}")).unwrap();
    array.store_metadata().unwrap();
    let subset = ArraySubset::new_with_shape(shape.to_vec());
    array.store_array_subset(&subset, data.to_vec()).unwrap();
}

/// Deterministic pseudo-random bytes.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// The value of a counter or gauge line in a Prometheus exposition (summing label sets
/// that contain `labels`).
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
