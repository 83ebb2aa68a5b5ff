//! Writable arrays: create, write ROIs (aligned, unaligned, concurrent), every view and
//! chain over the written data, stored levels after writes, attributes, refusals.

use std::collections::{HashMap, HashSet};

use arrayd::encode::npy;
use arrayd::volume::Volume;
use ndarray::{Array3, ArrayD, IxDyn};
use serde_json::{Value, json};

use crate::support::{TestServer, assert_problem};

fn created(levels: usize, dtype: &str) -> Value {
    json!({"type": "zarr", "file_name": "out.zarr", "dataset": "pred/s0",
        "create": {"roi": {"offset": [0, 0, 0], "shape": [512, 512, 512]}, "voxel_size": [4, 4, 4],
            "dtype": dtype, "chunk_shape": [16, 16, 16], "levels": levels}})
}

fn q(v: &[i64]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn put_roi(
    s: &TestServer,
    name: &str,
    offset: &[i64],
    body: Vec<u8>,
) -> reqwest::Response {
    let v = npy::decode(&body).unwrap();
    let shape: Vec<i64> = v.shape()[v.shape().len() - 3..]
        .iter()
        .map(|&n| n as i64 * 4)
        .collect();
    s.client
        .put(s.url(&format!(
            "/v1/arrays/{name}/roi?offset={}&shape={}",
            q(offset),
            q(&shape)
        )))
        .body(body)
        .send()
        .await
        .unwrap()
}

pub fn block(shape: [usize; 3], f: impl Fn(usize, usize, usize) -> u8) -> Vec<u8> {
    npy::encode(&Volume::from(
        Array3::from_shape_fn(shape, |(z, y, x)| f(z, y, x)).into_dyn(),
    ))
}

pub fn u8s(v: &Volume) -> ArrayD<u8> {
    match v {
        Volume::U8(a) => a.clone(),
        other => panic!("not uint8: {:?}", other.dtype()),
    }
}

/// The 2x mean reduction of a stored level (round half to even, as the mean kernel).
pub fn mean2(a: &ArrayD<u8>) -> ArrayD<u8> {
    let sh: Vec<usize> = a.shape().iter().map(|n| n / 2).collect();
    ArrayD::from_shape_fn(IxDyn(&sh), |i| {
        let mut sum = 0u32;
        for dz in 0..2 {
            for dy in 0..2 {
                for dx in 0..2 {
                    sum += u32::from(a[[2 * i[0] + dz, 2 * i[1] + dy, 2 * i[2] + dx]]);
                }
            }
        }
        let (q, r) = (sum / 8, sum % 8);
        (q + u32::from(r > 4 || (r == 4 && q % 2 == 1))) as u8
    })
}

async fn etag(s: &TestServer, path: &str) -> String {
    let r = s.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_write_and_read_back_through_every_view_and_chain() {
    let root = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register("pred", &created(3, "uint8")).await;
    let meta: Value = s.get("/v1/arrays/pred").await.json().await.unwrap();
    assert_eq!(meta["metadata"]["writable"], true);
    assert_eq!(meta["levels"][1]["origin"], "stored", "{}", meta["levels"]);
    s.register(
        "fg",
        &json!({"type": "binarize", "source_array_config": "pred", "groupings": [["fg", [7]]]}),
    )
    .await;
    s.register(
        "part",
        &json!({"type": "crop", "source_array_config": "pred",
        "roi": {"offset": [0, 0, 0], "shape": [256, 256, 256]}}),
    )
    .await;
    // Empty before any write; then an aligned write of 1 everywhere; warm the caches.
    let before = s.roi_npy("pred", &[0, 0, 0], &[64, 64, 64]).await;
    assert!(u8s(&before).iter().all(|&v| v == 0));
    let r = put_roi(&s, "pred", &[0, 0, 0], block([128, 128, 128], |_, _, _| 1)).await;
    assert_eq!(r.status(), 200);
    assert!(
        u8s(&s.roi_npy("fg", &[0, 0, 0], &[64, 64, 64]).await)
            .iter()
            .all(|&v| v == 0)
    );
    let written_chunk = "/v1/arrays/pred/zarr/c/0/0/0";
    let untouched_chunk = "/v1/arrays/pred/zarr/c/7/7/7";
    let (w0, u0) = (
        etag(&s, written_chunk).await,
        etag(&s, untouched_chunk).await,
    );
    let pre_s1 = etag(&s, "/v1/arrays/pred/precomputed/s1/0-64_0-64_0-64").await;
    let pre_untouched = etag(&s, "/v1/arrays/pred/precomputed/s0/64-128_64-128_64-128").await;
    let fg_untouched = etag(&s, "/v1/arrays/fg/zarr/c/0/7/7/7").await;

    // An unaligned write of 20³ voxels at voxel (3, 5, 7), value 7 with a gradient.
    let value = |z: usize, y: usize, x: usize| {
        if (z + y + x).is_multiple_of(3) {
            7
        } else {
            (z + 2 * y + x) as u8
        }
    };
    let r = put_roi(&s, "pred", &[12, 20, 28], block([20, 20, 20], value)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["chunks"], 8);
    assert_eq!(report["levels_updated"], 2);

    let got = u8s(&s.roi_npy("pred", &[0, 0, 0], &[256, 256, 256]).await);
    for ((z, y, x), &v) in got
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap()
        .indexed_iter()
    {
        let inside = (3..23).contains(&z) && (5..25).contains(&y) && (7..27).contains(&x);
        let want = if inside {
            value(z - 3, y - 5, x - 7)
        } else {
            1
        };
        assert_eq!(v, want, "voxel {z},{y},{x}");
    }
    // Chains over it see the write at once, untouched chunks keep their ETags.
    let fg = u8s(&s.roi_npy("fg", &[0, 0, 0], &[256, 256, 256]).await);
    let crop = u8s(&s.roi_npy("part", &[0, 0, 0], &[256, 256, 256]).await);
    assert_eq!(crop, got);
    let ones = fg.iter().filter(|&&v| v == 1).count();
    assert_eq!(ones, got.iter().filter(|&&v| v == 7).count());
    assert!(ones > 0);
    assert_ne!(etag(&s, written_chunk).await, w0);
    assert_eq!(etag(&s, untouched_chunk).await, u0);
    assert_eq!(
        etag(&s, "/v1/arrays/pred/precomputed/s0/64-128_64-128_64-128").await,
        pre_untouched
    );
    assert_eq!(etag(&s, "/v1/arrays/fg/zarr/c/0/7/7/7").await, fg_untouched);
    assert_ne!(
        etag(&s, "/v1/arrays/pred/precomputed/s1/0-64_0-64_0-64").await,
        pre_s1
    );
    // The zarr v2 view and the precomputed s0 chunk hold the same voxels.
    let v2 = s.get_bytes("/v1/arrays/pred/zarr2/0.0.0").await;
    assert!(!v2.is_empty());
    // Raw precomputed chunks are x fastest: C order over z,y,x.
    let pre = s
        .get_bytes("/v1/arrays/pred/precomputed/s0/0-64_0-64_0-64")
        .await;
    let want: Vec<u8> = got
        .slice(ndarray::s![0..64, 0..64, 0..64])
        .iter()
        .copied()
        .collect();
    assert!(pre == want, "precomputed s0 differs");

    // The stored s1 equals the 2x mean of s0, and s2 that of s1 (a computed pyramid).
    let s1_want = mean2(&got);
    let stored = root.path().join("out.zarr/pred/s1");
    assert!(stored.join("zarr.json").exists());
    s.register(
        "s1",
        &json!({"type": "zarr", "file_name": "out.zarr", "dataset": "pred/s1"}),
    )
    .await;
    s.register(
        "s2",
        &json!({"type": "zarr", "file_name": "out.zarr", "dataset": "pred/s2"}),
    )
    .await;
    let s1 = u8s(&s.roi_npy("s1", &[0, 0, 0], &[256, 256, 256]).await);
    assert_eq!(s1, s1_want);
    let s2 = u8s(&s.roi_npy("s2", &[0, 0, 0], &[256, 256, 256]).await);
    assert_eq!(s2, mean2(&s1_want));
}

#[tokio::test]
async fn every_refusal_is_a_problem() {
    let root = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(root.path(), |st| st.max_roi_bytes = 1 << 20).await;
    s.register("w", &created(1, "uint8")).await;
    // An existing array without overwrite: 409; with it: replaced.
    assert_problem(s.put_json("/v1/arrays/w2", &created(1, "uint8")).await, 409).await;
    let mut over = created(1, "uint8");
    over["create"]["overwrite"] = json!(true);
    s.register("w", &over).await;
    let bad = json!({"type": "zarr", "file_name": "o.zarr", "dataset": "a",
        "create": {"roi": {"offset": [0, 0, 0], "shape": [8, 8, 6]}, "voxel_size": [4, 4, 4], "dtype": "uint8"}});
    let p = assert_problem(s.put_json("/v1/arrays/bad", &bad).await, 422).await;
    assert!(p.to_string().contains("create.roi.shape"), "{p}");
    // Dtype 422 naming both, shape 400, outside 400, misaligned 400, too large 413.
    let f32s = npy::encode(&Volume::from(ArrayD::<f32>::zeros(IxDyn(&[4, 4, 4]))));
    let p = assert_problem(put_roi(&s, "w", &[0, 0, 0], f32s).await, 422).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("float32") && detail.contains("uint8"),
        "{detail}"
    );
    let r = s
        .client
        .put(s.url("/v1/arrays/w/roi?offset=0,0,0&shape=16,16,16"))
        .body(block([2, 2, 2], |_, _, _| 1))
        .send()
        .await
        .unwrap();
    assert!(
        assert_problem(r, 400).await["detail"]
            .as_str()
            .unwrap()
            .contains("shape")
    );
    assert_problem(
        put_roi(&s, "w", &[2040, 0, 0], block([2, 2, 2], |_, _, _| 1)).await,
        400,
    )
    .await;
    assert_problem(
        put_roi(&s, "w", &[2, 0, 0], block([2, 2, 2], |_, _, _| 1)).await,
        400,
    )
    .await;
    let r = s
        .client
        .put(s.url("/v1/arrays/w/roi?offset=0,0,0&shape=512,512,512"))
        .body(vec![0u8; 100])
        .send()
        .await
        .unwrap();
    assert_problem(r, 413).await;
    // A read-only array: 405.
    s.register(
        "ro",
        &json!({"type": "zarr", "file_name": "out.zarr", "dataset": "pred/s0"}),
    )
    .await;
    assert_problem(
        put_roi(&s, "ro", &[0, 0, 0], block([2, 2, 2], |_, _, _| 1)).await,
        405,
    )
    .await;
    // Attributes merge (null removes) and are served.
    let r = s
        .client
        .patch(s.url("/v1/arrays/w/attrs"))
        .body(r#"{"model": "unet", "units": null}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let meta: Value = s.get("/v1/arrays/w").await.json().await.unwrap();
    assert_eq!(meta["metadata"]["attrs"]["model"], "unet");
    assert!(
        meta["metadata"]["attrs"].get("units").is_none()
            || meta["metadata"]["attrs"]["units"].is_array()
    );
    assert_problem(
        s.client
            .patch(s.url("/v1/arrays/w/attrs"))
            .body("[1]")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_problem(
        s.client
            .patch(s.url("/v1/arrays/ro/attrs"))
            .body("{}")
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
}

#[tokio::test]
async fn writes_need_the_admin_token() {
    let root = tempfile::tempdir().unwrap();
    let token = root.path().join("token");
    std::fs::write(&token, "sesame").unwrap();
    let s =
        TestServer::start_with(root.path(), |st| st.admin_token_file = Some(token.clone())).await;
    let r = s
        .client
        .put(s.url("/v1/arrays/w"))
        .bearer_auth("sesame")
        .body(created(1, "uint8").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_problem(
        put_roi(&s, "w", &[0, 0, 0], block([2, 2, 2], |_, _, _| 1)).await,
        401,
    )
    .await;
    let r = s
        .client
        .put(s.url("/v1/arrays/w/roi?offset=0,0,0&shape=8,8,8"))
        .bearer_auth("sesame")
        .body(block([2, 2, 2], |_, _, _| 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// 16 writers of constant values over overlapping ROIs: every chunk must equal some
/// serial order of the writes that touch it (no voxel of any write lost or torn).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overlapping_writers_serialize_per_chunk() {
    let root = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(TestServer::start_with(root.path(), |_| {}).await);
    s.register("w", &created(1, "uint8")).await;
    // Writer k writes value k+1 over a 24³-voxel box starting at voxel 4k along x.
    let boxes: Vec<[usize; 3]> = (0..16).map(|k| [(k % 3) * 4, (k % 5) * 3, k * 4]).collect();
    let tasks: Vec<_> = boxes
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let s = s.clone();
            let off: Vec<i64> = b.iter().map(|&v| v as i64 * 4).collect();
            tokio::spawn(async move {
                let r = put_roi(&s, "w", &off, block([24, 24, 24], |_, _, _| k as u8 + 1)).await;
                assert_eq!(r.status(), 200);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let got = u8s(&s.roi_npy("w", &[0, 0, 0], &[512, 512, 512]).await);
    let covers = |k: usize, z: usize, y: usize, x: usize| {
        let b = boxes[k];
        (b[0]..b[0] + 24).contains(&z)
            && (b[1]..b[1] + 24).contains(&y)
            && (b[2]..b[2] + 24).contains(&x)
    };
    // Per chunk: value v at a voxel means writer v-1 came after every other writer there.
    let mut after: HashMap<[usize; 3], HashSet<(usize, usize)>> = HashMap::new();
    for ((z, y, x), &v) in got
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap()
        .indexed_iter()
    {
        let there: Vec<usize> = (0..16).filter(|&k| covers(k, z, y, x)).collect();
        if there.is_empty() {
            assert_eq!(v, 0, "voxel {z},{y},{x} written by nobody");
            continue;
        }
        let last = usize::from(v)
            .checked_sub(1)
            .expect("a written voxel lost its write");
        assert!(
            there.contains(&last),
            "voxel {z},{y},{x} has {v}, not a value written there"
        );
        let edges = after.entry([z / 16, y / 16, x / 16]).or_default();
        for &k in &there {
            if k != last {
                edges.insert((k, last));
            }
        }
    }
    for (chunk, edges) in after {
        // A serial order exists iff the "k before j" relation has no cycle.
        let mut nodes: HashSet<usize> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
        while !nodes.is_empty() {
            let free: Vec<usize> = nodes
                .iter()
                .copied()
                .filter(|n| !edges.iter().any(|&(a, b)| b == *n && nodes.contains(&a)))
                .collect();
            assert!(
                !free.is_empty(),
                "chunk {chunk:?}: no serial order of the writes explains it"
            );
            for n in free {
                nodes.remove(&n);
            }
        }
    }
}

/// `arrayd export` of a 3-node chain equals reading it over `/roi`; with chunks
/// removed (an export killed halfway), a rerun writes exactly those again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_of_a_chain_equals_roi_and_resumes() {
    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(data.path(), |st| st.demo = true).await;
    let chain = json!({"type": "crop", "source_array_config": {"type": "intensities", "name": "n",
        "source_array_config": "demo-raw", "min": 0, "max": 255},
        "roi": {"offset": [400, 200, 120], "shape": [512, 512, 512]}});
    s.register("chain3", &chain).await;
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("c.zarr");
    let args = || arrayd::export::Export {
        name: "chain3".into(),
        to: to.to_string_lossy().into_owned(),
        store_options: vec![],
        levels: 2,
        chunk_shape: None,
        server: Some(s.base.clone()),
        config: None,
        data_root: ".".into(),
        jobs: 4,
        register: None,
    };
    assert_eq!(arrayd::export::run(args()).await.unwrap(), 4);
    let want = s
        .roi_npy("chain3", &[400, 200, 120], &[512, 512, 512])
        .await;
    // Two chunks lost: the rerun writes those two only, and the result is unchanged.
    for c in ["s0/c/0/0/0", "s0/c/0/1/1"] {
        std::fs::remove_file(to.join(c)).unwrap();
    }
    assert_eq!(arrayd::export::run(args()).await.unwrap(), 2);
    let stored = TestServer::start_with(out.path(), |_| {}).await;
    stored
        .register(
            "c",
            &json!({"type": "zarr", "file_name": "c.zarr", "dataset": "s0"}),
        )
        .await;
    assert_eq!(
        stored
            .roi_npy("c", &[400, 200, 120], &[512, 512, 512])
            .await,
        want
    );
    assert_eq!(stored.level_origins("c").await[1], "stored");
}

/// Resampled chains over a written array (order 0, 1 and 3, whose output is clipped to
/// the source's range) equal the same chains over a fresh read-only copy after a write.
#[tokio::test]
async fn resampled_over_a_written_array_follows_the_write() {
    let root = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register("w", &created(1, "uint8")).await;
    let r = put_roi(
        &s,
        "w",
        &[0, 0, 0],
        block([128, 128, 128], |z, y, x| ((z * 3 + y + x) % 50) as u8),
    )
    .await;
    assert_eq!(r.status(), 200);
    let resampled = |src: &str, order: u8| {
        json!({"type": "resampled", "source_array_config": src,
            "upsample": [1, 1, 1], "downsample": [2, 2, 2], "interp_order": order})
    };
    for order in [0u8, 1, 3] {
        s.register(&format!("r{order}"), &resampled("w", order))
            .await;
        s.roi_npy(&format!("r{order}"), &[0, 0, 0], &[256, 256, 256])
            .await;
    }
    let r = put_roi(&s, "w", &[60, 60, 60], block([20, 20, 20], |_, _, _| 250)).await;
    assert_eq!(r.status(), 200);
    s.register(
        "ro",
        &json!({"type": "zarr", "file_name": "out.zarr", "dataset": "pred/s0"}),
    )
    .await;
    for order in [0u8, 1, 3] {
        s.register(&format!("fresh{order}"), &resampled("ro", order))
            .await;
        let got = s
            .roi_npy(&format!("r{order}"), &[0, 0, 0], &[256, 256, 256])
            .await;
        let want = s
            .roi_npy(&format!("fresh{order}"), &[0, 0, 0], &[256, 256, 256])
            .await;
        assert_eq!(got, want, "order {order}");
    }
}
