//! Soak: the `arrayd` binary with `--demo` and a 64 MiB chunk cache under 20 s of 64
//! concurrent clients mixing hot keys (a few chunks and ROIs everyone asks for) with cold
//! ones (random chunks of every demo array's Zarr and precomputed grids, random ROIs, a
//! few ~16 MiB ROIs). No 5xx but a 503 with `Retry-After`, no transport error, and the
//! server's peak RSS (`VmHWM`) stays within the cache budget plus a margin.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "test code"
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const CACHE_MIB: u64 = 64;
/// `--max-inflight-bytes`: ROI responses being built or sent.
const INFLIGHT_MIB: u64 = 128;
/// Allowed above both budgets: the binary, the runtime, 64 connections' buffers, chunks
/// being decoded, and cold pyramid tiles being reduced (two source chunks per level per
/// coarse chunk). Measured peaks here: 325 MiB with the two malloc arenas the binary
/// sets (487 MiB with glibc's default; 600-710 MiB before downsample read in tiles).
const MARGIN_MIB: u64 = 256;
const TASKS: usize = 64;
const DURATION: Duration = Duration::from_secs(20);
/// Hard stop for the load phase, whatever the requests in flight do.
const DEADLINE: Duration = Duration::from_secs(90);

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(state: &Path) -> Server {
    let port = free_port();
    let log = std::fs::File::create(state.join("arrayd.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_arrayd"))
        .args(["serve", "--demo", "--cache-size", "64MiB"])
        .args(["--max-inflight-bytes", "128MiB", "--max-roi-bytes", "32MiB"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state)
        .env_remove("ARRAYD_LOG")
        // The default the binary sets itself (src/main.rs), not the environment's.
        .env_remove("MALLOC_ARENA_MAX")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// xorshift64*: reproducible request mixes without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// A precomputed scale: key, `voxel_offset`, size and chunk size (x,y,z).
type Scale = (String, [i64; 3], [i64; 3], [i64; 3]);

/// One demo array: what the cold requests draw from.
struct Target {
    name: String,
    /// Zarr v3 grid of the array (channels included), chunks per axis.
    zarr_grid: Vec<i64>,
    /// Its precomputed scales.
    scales: Vec<Scale>,
    /// Spatial shape in voxels (z,y,x) and element size.
    spatial: [i64; 3],
    elem: i64,
    /// ROI offset in voxels (z,y,x).
    voxel_offset: [i64; 3],
}

impl Target {
    fn zarr_chunk(&self, rng: &mut Rng) -> String {
        let idx: Vec<String> = self
            .zarr_grid
            .iter()
            .map(|&n| rng.below(n as u64).to_string())
            .collect();
        format!("/v1/arrays/{}/zarr/c/{}", self.name, idx.join("/"))
    }

    fn precomputed_chunk(&self, rng: &mut Rng) -> String {
        let (key, off, size, cs) = &self.scales[rng.below(self.scales.len() as u64) as usize];
        let parts: Vec<String> = (0..3)
            .map(|a| {
                let n = (size[a] + cs[a] - 1) / cs[a];
                let lo = off[a] + rng.below(n as u64) as i64 * cs[a];
                let hi = (lo + cs[a]).min(off[a] + size[a]);
                format!("{lo}-{hi}")
            })
            .collect();
        format!(
            "/v1/arrays/{}/precomputed/{key}/{}",
            self.name,
            parts.join("_")
        )
    }

    /// A ROI of `shape` voxels (clamped to the array) at a random place inside it.
    fn roi(&self, rng: &mut Rng, shape: [i64; 3]) -> String {
        let shape: Vec<i64> = (0..3).map(|a| shape[a].min(self.spatial[a])).collect();
        let offset: Vec<String> = (0..3)
            .map(|a| {
                let room = self.spatial[a] - shape[a];
                (self.voxel_offset[a] + rng.below(room as u64 + 1) as i64).to_string()
            })
            .collect();
        let shape: Vec<String> = shape.iter().map(ToString::to_string).collect();
        format!(
            "/v1/arrays/{}/roi?units=voxels&format=raw&offset={}&shape={}",
            self.name,
            offset.join(","),
            shape.join(",")
        )
    }

    /// A ROI of about 16 MiB.
    fn large_roi(&self, rng: &mut Rng) -> String {
        let voxels = (16 << 20) / self.elem;
        let (z, x) = (self.spatial[0], self.spatial[2]);
        let y = (voxels / (z * x)).clamp(1, self.spatial[1]);
        self.roi(rng, [z, y, x])
    }
}

async fn json(client: &reqwest::Client, url: String) -> Value {
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

async fn targets(client: &reqwest::Client, base: &str) -> Vec<Target> {
    let list = json(client, format!("{base}/v1/arrays")).await;
    let mut out = Vec::new();
    for a in list["arrays"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap().to_owned();
        let meta = json(client, format!("{base}/v1/arrays/{name}")).await;
        let m = &meta["metadata"];
        let voxel_size = ints(&m["voxel_size"]);
        let roi_offset = ints(&m["roi"]["offset"]);
        let shape = ints(&m["shape"]);
        let spatial: [i64; 3] = shape[shape.len() - 3..].try_into().unwrap();
        let voxel_offset = [0, 1, 2].map(|i| roi_offset[i] / voxel_size[i]);
        let elem = match m["dtype"].as_str().unwrap() {
            "bool" | "uint8" | "int8" => 1,
            "uint16" | "int16" => 2,
            "uint32" | "int32" | "float32" => 4,
            _ => 8,
        };
        let zarr = json(client, format!("{base}/v1/arrays/{name}/zarr/zarr.json")).await;
        let zshape = ints(&zarr["shape"]);
        let zchunk = ints(&zarr["chunk_grid"]["configuration"]["chunk_shape"]);
        let zarr_grid = zshape
            .iter()
            .zip(&zchunk)
            .map(|(s, c)| (s + c - 1) / c)
            .collect();
        let info = json(client, format!("{base}/v1/arrays/{name}/precomputed/info")).await;
        let scales = info["scales"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap().to_owned(),
                    ints(&s["voxel_offset"]).try_into().unwrap(),
                    ints(&s["size"]).try_into().unwrap(),
                    ints(&s["chunk_sizes"][0]).try_into().unwrap(),
                )
            })
            .collect();
        out.push(Target {
            name,
            zarr_grid,
            scales,
            spatial,
            elem,
            voxel_offset,
        });
    }
    out
}

#[derive(Default)]
struct Tally {
    requests: u64,
    ok: u64,
    shed: u64,
    client_errors: Vec<String>,
    server_errors: Vec<String>,
    transport_errors: Vec<String>,
    bytes: u64,
    latencies: Vec<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_hot_and_cold_load_within_memory_budget() {
    arrayd::init_tls();
    let state = tempfile::tempdir().unwrap();
    let server = start(state.path()).await;
    let pid = server.child.id();
    // Started without MALLOC_ARENA_MAX, the server runs (same pid) with two arenas.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|&b| b == 0)
            .any(|v| v == b"MALLOC_ARENA_MAX=2"),
        "serve did not re-execute itself with MALLOC_ARENA_MAX=2"
    );
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(TASKS)
        .build()
        .unwrap();
    let targets = Arc::new(targets(&client, &base).await);
    assert!(
        targets.iter().any(|t| t.name == "demo-raw"),
        "demo-raw registered"
    );
    let hot: Arc<Vec<String>> = Arc::new(vec![
        "/v1/arrays/demo-raw/zarr/c/0/0/0".into(),
        "/v1/arrays/demo-raw/zarr/c/1/3/3".into(),
        "/v1/arrays/demo-labels/zarr/c/0/1/2".into(),
        "/v1/arrays/demo-raw/precomputed/s0/30-94_50-114_50-114".into(),
        "/v1/arrays/demo-raw/precomputed/s1/15-79_25-89_50-114".into(),
        "/v1/arrays/demo-raw/roi?units=voxels&format=raw&offset=50,50,30&shape=64,64,64".into(),
        "/v1/arrays/demo-raw-norm/roi?units=voxels&offset=82,114,94&shape=64,64,64".into(),
    ]);
    let (rss0, _) = rss_kib(pid);

    let done = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(rss0));
    let sampler = {
        let (done, peak) = (done.clone(), peak_rss.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid).0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (client, base, hot, targets) =
            (client.clone(), base.clone(), hot.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (task as u64 + 1).wrapping_mul(0xA24B_AED4));
            let mut tally = Tally::default();
            while start.elapsed() < DURATION {
                let t = &targets[rng.below(targets.len() as u64) as usize];
                let path = match rng.below(100) {
                    0..=44 => hot[rng.below(hot.len() as u64) as usize].clone(),
                    45..=69 => t.zarr_chunk(&mut rng),
                    70..=89 => t.precomputed_chunk(&mut rng),
                    90..=97 => t.roi(&mut rng, [32, 48, 64]),
                    _ => t.large_roi(&mut rng),
                };
                let url = format!("{base}{path}");
                let sent = Instant::now();
                tally.requests += 1;
                let resp = match client.get(&url).send().await {
                    Ok(r) => r,
                    Err(e) => {
                        tally.transport_errors.push(format!("{path}: {e}"));
                        continue;
                    }
                };
                let status = resp.status().as_u16();
                let retry_after = resp.headers().contains_key("retry-after");
                match resp.bytes().await {
                    Ok(body) => tally.bytes += body.len() as u64,
                    Err(e) => {
                        tally.transport_errors.push(format!("{path}: body: {e}"));
                        continue;
                    }
                }
                tally.latencies.push(sent.elapsed());
                match status {
                    200..=299 => tally.ok += 1,
                    503 if retry_after => tally.shed += 1,
                    500.. => tally.server_errors.push(format!("{status} {path}")),
                    _ => tally.client_errors.push(format!("{status} {path}")),
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for task in tasks {
        let t = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("load task did not finish")
            .unwrap();
        all.requests += t.requests;
        all.ok += t.ok;
        all.shed += t.shed;
        all.bytes += t.bytes;
        all.client_errors.extend(t.client_errors);
        all.server_errors.extend(t.server_errors);
        all.transport_errors.extend(t.transport_errors);
        all.latencies.extend(t.latencies);
    }
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let (rss_end, hwm) = rss_kib(pid);
    let peak = peak_rss.load(Ordering::Relaxed).max(hwm);

    all.latencies.sort();
    let pct = |p: f64| {
        all.latencies
            .get(((all.latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "soak: {} requests in {:.1} s ({:.0} req/s), {} ok, {} shed (503 + Retry-After), \
         {} 4xx, {} 5xx, {} transport errors, {:.0} MiB received",
        all.requests,
        elapsed.as_secs_f64(),
        all.requests as f64 / elapsed.as_secs_f64(),
        all.ok,
        all.shed,
        all.client_errors.len(),
        all.server_errors.len(),
        all.transport_errors.len(),
        all.bytes as f64 / f64::from(1 << 20),
    );
    println!(
        "soak: latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3,
    );
    println!(
        "soak: RSS at ready {:.0} MiB, sampled peak {:.0} MiB, at end {:.0} MiB, VmHWM {:.0} MiB \
         (limit {} MiB cache + {} MiB in flight + {} MiB margin)",
        mib(rss0),
        mib(peak_rss.load(Ordering::Relaxed)),
        mib(rss_end),
        mib(hwm),
        CACHE_MIB,
        INFLIGHT_MIB,
        MARGIN_MIB
    );
    let show = |v: &[String]| v.iter().take(10).cloned().collect::<Vec<_>>().join("; ");
    assert!(
        all.transport_errors.is_empty(),
        "{} transport errors: {}",
        all.transport_errors.len(),
        show(&all.transport_errors)
    );
    assert!(
        all.server_errors.is_empty(),
        "{} 5xx (other than 503 with Retry-After): {}",
        all.server_errors.len(),
        show(&all.server_errors)
    );
    // Every URL above is valid: a 4xx means the request generator is wrong.
    assert!(
        all.client_errors.is_empty(),
        "{} 4xx: {}",
        all.client_errors.len(),
        show(&all.client_errors)
    );
    assert!(all.ok > 0, "no request succeeded");
    assert!(
        peak <= (CACHE_MIB + INFLIGHT_MIB + MARGIN_MIB) * 1024,
        "peak RSS {:.0} MiB above {} MiB cache + {} MiB in flight + {} MiB margin",
        mib(peak),
        CACHE_MIB,
        INFLIGHT_MIB,
        MARGIN_MIB
    );
}
