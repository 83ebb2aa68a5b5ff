//! The `arrayd` binary as an operator runs it: acknowledged configs survive an abrupt
//! kill, SIGTERM shuts down gracefully, JSON logs carry request spans and never the
//! admin token, and `--demo` serves its data.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "test code"
)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Proc {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn golden() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

async fn start(state: &Path, extra: &[&str]) -> Proc {
    start_at(state, &golden(), extra).await
}

async fn start_at(state: &Path, data_root: &Path, extra: &[&str]) -> Proc {
    arrayd::init_tls();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_arrayd"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state)
        .arg("--data-root")
        .arg(data_root)
        .args(extra)
        .env_remove("ARRAYD_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Proc { child, base }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(i: usize) -> Value {
    json!({"type": "intensities", "min": 0, "max": 255 - i,
           "source_array_config": {"type": "zarr", "name": "raw", "file_name": "data/raw.zarr", "dataset": "raw"}})
}

#[tokio::test]
async fn acknowledged_configs_survive_sigkill() {
    arrayd::init_tls();
    let state = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    for round in 0..3 {
        let mut p = start(state.path(), &[]).await;
        for i in 0..4 {
            let name = format!("a{round}-{i}");
            let r = client
                .put(format!("{}/v1/arrays/{name}", p.base))
                .body(config(i).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        // Killed right after the last acknowledgement, between requests.
        p.child.kill().unwrap();
        p.child.wait().unwrap();
    }
    let mut p = start(state.path(), &[]).await;
    let list: Value = client
        .get(format!("{}/v1/arrays", p.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["arrays"].as_array().unwrap().len(), 12);
    let r = client
        .get(format!(
            "{}/v1/arrays/a2-3/roi?offset=0,0,0&shape=8,8,8",
            p.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        arrayd::encode::npy::decode(&r.bytes().await.unwrap())
            .unwrap()
            .len(),
        8
    );
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_with_json_logs_and_no_token() {
    arrayd::init_tls();
    let state = tempfile::tempdir().unwrap();
    let token = "tok-9f8e7d6c5b4a";
    let token_file = state.path().join("admin-token");
    std::fs::write(&token_file, token).unwrap();
    let mut p = start(
        state.path(),
        &[
            "--log-format",
            "json",
            "--admin-token-file",
            token_file.to_str().unwrap(),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/v1/arrays/n", p.base))
        .bearer_auth(token)
        .body(config(0).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .put(format!("{}/v1/arrays/m", p.base))
        .bearer_auth("wrong-token-1234")
        .body(config(0).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        client
            .get(format!("{}/v1/arrays/n", p.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    signal(&p.child, "-TERM");
    let status = wait_exit(&mut p.child, Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    let mut out = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let all = format!("{out}{err}");
    assert!(!all.contains(token), "the admin token appeared in the logs");
    assert!(
        !all.contains("wrong-token-1234"),
        "a presented token appeared in the logs"
    );
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a log line is not JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["name"] == "request" && l["span"]["id"].is_string()),
        "no request span in:\n{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"].as_str().unwrap_or("").contains("shutdown"))
    );
    // Start-up readiness probes (503 while loading), a refused token and a clean
    // shutdown are normal operation: nothing at WARN or ERROR.
    let loud: Vec<&Value> = lines
        .iter()
        .filter(|l| matches!(l["level"].as_str(), Some("WARN" | "ERROR")))
        .collect();
    assert!(
        loud.is_empty(),
        "warnings or errors in a normal run: {loud:?}"
    );
}

#[tokio::test]
async fn demo_generates_and_serves() {
    arrayd::init_tls();
    let state = tempfile::tempdir().unwrap();
    let mut p = start(state.path(), &["--demo"]).await;
    let client = reqwest::Client::new();
    let list: Value = client
        .get(format!("{}/v1/arrays", p.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let arrays = list["arrays"].as_array().unwrap();
    let raw = arrays
        .iter()
        .find(|a| a["name"] == "demo-raw")
        .expect("demo-raw registered");
    assert_eq!(raw["dtype"], "uint8");
    assert_ne!(
        raw["voxel_size"][0], raw["voxel_size"][1],
        "demo voxels should be anisotropic"
    );
    assert_ne!(raw["roi"]["offset"], json!([0, 0, 0]));
    assert!(
        arrays
            .iter()
            .any(|a| a["name"] == "demo-labels" && a["dtype"] == "uint64")
    );
    assert!(arrays.iter().all(|a| a["available"] == true), "{list}");
    let off = raw["roi"]["offset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let url = format!(
        "{}/v1/arrays/demo-raw/roi?offset={off}&shape=64,64,64",
        p.base
    );
    let v =
        arrayd::encode::npy::decode(&client.get(url).send().await.unwrap().bytes().await.unwrap())
            .unwrap();
    let bytes = v.to_le_bytes();
    let distinct = bytes.iter().collect::<std::collections::HashSet<_>>().len();
    assert!(
        distinct > 50,
        "demo data looks flat ({distinct} distinct values)"
    );
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    // A restart reuses the generated data and keeps the configs.
    let mut p = start(state.path(), &["--demo"]).await;
    let list: Value = client
        .get(format!("{}/v1/arrays", p.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["arrays"].as_array().unwrap().len(), arrays.len());
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test]
async fn healthcheck_subcommand_follows_readiness() {
    let state = tempfile::tempdir().unwrap();
    let mut p = start(state.path(), &[]).await;
    let listen = p.base.trim_start_matches("http://").to_owned();
    let probe = |addr: &str| {
        Command::new(env!("CARGO_BIN_EXE_arrayd"))
            .args(["healthcheck", "--listen", addr])
            .status()
            .unwrap()
    };
    assert!(probe(&listen).success());
    let port = listen.rsplit(':').next().unwrap();
    assert!(
        probe(&format!("0.0.0.0:{port}")).success(),
        "an unspecified host probes loopback"
    );
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert!(!probe(&listen).success());
}

fn u8_npy(shape: [usize; 3], value: u8) -> Vec<u8> {
    let v = arrayd::volume::Volume::from(ndarray::Array3::from_elem(shape, value).into_dyn());
    arrayd::encode::npy::encode(&v)
}

/// Writers of unaligned, chunk-sharing regions while the server is killed: after a
/// restart every chunk decodes (none torn) and every writer's part of every chunk holds
/// its last acknowledged value or the one in flight, never anything older.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_a_write_storm_loses_no_acknowledged_write() {
    let (state, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut p = start_at(state.path(), data.path(), &[]).await;
    let client = reqwest::Client::new();
    let config = json!({"type": "zarr", "file_name": "w.zarr", "dataset": "a",
        "create": {"roi": {"offset": [0, 0, 0], "shape": [32, 32, 160]}, "voxel_size": [1, 1, 1],
            "dtype": "uint8", "chunk_shape": [16, 16, 16]}});
    let r = client
        .put(format!("{}/v1/arrays/w", p.base))
        .json(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Writer i owns x in [20i, 20i + 20): chunks are shared between neighbours.
    let writers = 8;
    let acked: std::sync::Arc<Vec<std::sync::atomic::AtomicU8>> = std::sync::Arc::new(
        (0..writers)
            .map(|_| std::sync::atomic::AtomicU8::new(0))
            .collect(),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let (client, base, acked, stop) =
                (client.clone(), p.base.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                for v in 1..=250u8 {
                    if stop.load(std::sync::atomic::Ordering::Acquire) {
                        return;
                    }
                    let url = format!(
                        "{base}/v1/arrays/w/roi?offset=0,0,{}&shape=32,32,20",
                        20 * i
                    );
                    match client.put(url).body(u8_npy([32, 32, 20], v)).send().await {
                        Ok(r) if r.status() == 200 => {
                            acked[i].store(v, std::sync::atomic::Ordering::Release)
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&p.child, "-KILL");
    stop.store(true, std::sync::atomic::Ordering::Release);
    wait_exit(&mut p.child, Duration::from_secs(10));
    for t in tasks {
        t.await.unwrap();
    }
    let last: Vec<u8> = acked
        .iter()
        .map(|a| a.load(std::sync::atomic::Ordering::Acquire))
        .collect();
    assert!(
        last.iter().all(|&v| v > 0),
        "every writer got acknowledgements: {last:?}"
    );
    let p = start_at(state.path(), data.path(), &[]).await;
    let body = client
        .get(format!(
            "{}/v1/arrays/w/roi?offset=0,0,0&shape=32,32,160",
            p.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 200, "every chunk decodes after the kill");
    let got = arrayd::encode::npy::decode(&body.bytes().await.unwrap()).unwrap();
    let arrayd::volume::Volume::U8(a) = got else {
        panic!("not uint8")
    };
    for (i, &acked) in last.iter().enumerate() {
        for chunk in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            for cx in (20 * i / 16)..=((20 * i + 19) / 16) {
                let mut seen = std::collections::HashSet::new();
                for z in chunk.0 * 16..chunk.0 * 16 + 16 {
                    for y in chunk.1 * 16..chunk.1 * 16 + 16 {
                        for x in (cx * 16).max(20 * i)..(cx * 16 + 16).min(20 * i + 20) {
                            seen.insert(a[[z, y, x]]);
                        }
                    }
                }
                assert_eq!(
                    seen.len(),
                    1,
                    "writer {i} chunk {chunk:?},{cx}: torn: {seen:?}"
                );
                let v = *seen.iter().next().unwrap();
                assert!(
                    v == acked || v == acked.wrapping_add(1),
                    "writer {i}: {v}, acknowledged {acked}"
                );
            }
        }
    }
}

/// Stored chunk files under `dir` (temporary files of an interrupted write excluded).
fn chunk_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap())
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                chunk_files(&e.path())
            } else {
                usize::from(!e.file_name().to_string_lossy().starts_with('.'))
            }
        })
        .sum()
}

/// An `arrayd export` SIGKILLed halfway through: the rerun writes exactly the chunks
/// missing, and the result equals the chain read over `/roi`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_export_resumes_where_it_stopped() {
    arrayd::init_tls();
    let work = tempfile::tempdir().unwrap();
    // 4x upsampled raw: 80x144x176 voxels in 8³ chunks, 3960 of them, one at a time.
    let chain = json!({"big": {"type": "resampled", "upsample": [4, 4, 4], "downsample": [1, 1, 1],
        "interp_order": 0,
        "source_array_config": {"type": "zarr", "name": "raw", "file_name": "data/raw.zarr", "dataset": "raw"}}});
    let config = work.path().join("chain.json");
    std::fs::write(&config, chain.to_string()).unwrap();
    let out = work.path().join("out");
    let export = || {
        Command::new(env!("CARGO_BIN_EXE_arrayd"))
            .args(["export", "big", "--chunk-shape", "8,8,8", "--jobs", "1"])
            .arg("--to")
            .arg(out.join("big.zarr"))
            .arg("--config")
            .arg(&config)
            .arg("--data-root")
            .arg(golden())
            .env("ARRAYD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let chunks = out.join("big.zarr/s0/c");
    let mut first = export();
    let deadline = Instant::now() + Duration::from_secs(60);
    while chunk_files(&chunks) < 200 {
        assert!(Instant::now() < deadline, "the export wrote nothing");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the export ended early"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&first, "-KILL");
    wait_exit(&mut first, Duration::from_secs(10));
    let stored = chunk_files(&chunks);
    assert!(stored < 3960, "killed before the end: {stored}");

    let again = export().wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&again.stderr).into_owned()
        + &String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{log}");
    let missing = format!("chunks={}", 3960 - stored);
    assert!(
        log.lines()
            .any(|l| l.contains("export resumed") && l.contains(&missing)),
        "the rerun resumes with {missing}: {log}"
    );
    assert_eq!(chunk_files(&chunks), 3960);

    // The export equals the chain evaluated by a server.
    let client = reqwest::Client::new();
    let (s1, s2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = start(s1.path(), &["--config", config.to_str().unwrap()]).await;
    let exported = start_at(s2.path(), &out, &[]).await;
    let z = json!({"type": "zarr", "file_name": "big.zarr", "dataset": "s0"});
    let r = client
        .put(format!("{}/v1/arrays/big", exported.base))
        .json(&z)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut bodies = Vec::new();
    for p in [&source, &exported] {
        let url = format!(
            "{}/v1/arrays/big/roi?offset=0,0,0&shape=80,144,176&format=raw",
            p.base
        );
        let r = client.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        bodies.push(r.bytes().await.unwrap());
    }
    assert_eq!(bodies[0].len(), 80 * 144 * 176);
    assert!(bodies[0] == bodies[1], "the export differs from /roi");
    for mut p in [source, exported] {
        p.child.kill().unwrap();
        p.child.wait().unwrap();
    }
}
