//! Big ROIs are read and sent a slab of chunk rows at a time (`src/http/streamed.rs`):
//! the bytes are exactly the volume's in both formats, a `Range` still gets its 206, a
//! failure in the first slab is a problem response and one in a later slab cuts the body
//! short of its `Content-Length`.

use crate::support::{TestServer, assert_problem, noise, write_zarr_u8};
use arrayd::eval::{MAX_SLAB_BYTES, read_roi, read_slab, slabs};
use arrayd::geometry::Roi;
use arrayd::limits::volume_bytes;
use serde_json::{Value, json};

/// 200 × 160 × 288 uint8 (9.2 MB, over the 8 MiB from which ROIs are streamed) in 64³
/// chunks: four rows of chunks along z.
const SHAPE: [u64; 3] = [200, 160, 288];

fn data() -> Vec<u8> {
    noise(usize::try_from(SHAPE.iter().product::<u64>()).unwrap(), 7)
}

fn zarr(container: &str) -> Value {
    json!({"type": "zarr", "file_name": container, "dataset": "a"})
}

/// `data` cut to z in `z0..z1` (all of y and x).
fn rows(data: &[u8], z0: usize, z1: usize) -> &[u8] {
    let plane = usize::try_from(SHAPE[1] * SHAPE[2]).unwrap();
    &data[z0 * plane..z1 * plane]
}

async fn server(containers: &[&str]) -> (tempfile::TempDir, TestServer, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let v = data();
    for c in containers {
        write_zarr_u8(dir.path(), c, "a", &SHAPE, &[64, 64, 64], json!({}), &v);
    }
    let s = TestServer::start_with(dir.path(), |_| {}).await;
    (dir, s, v)
}

#[tokio::test]
async fn streamed_rois_are_the_volume_exactly() {
    let (_dir, s, v) = server(&["v.zarr"]).await;
    s.register("v", &zarr("v.zarr")).await;
    // z from 3 to 198: the first and last slabs are partial rows of chunks
    let q = "/v1/arrays/v/roi?offset=3,0,0&shape=195,160,288&units=voxels";
    let r = s.get(&format!("{q}&format=raw")).await;
    assert_eq!(r.status(), 200);
    let len = r.headers()["content-length"].to_str().unwrap().to_owned();
    assert_eq!(r.headers()["x-array-shape"], "195,160,288");
    let raw = r.bytes().await.unwrap();
    assert_eq!(len, raw.len().to_string());
    assert!(
        raw[..] == *rows(&v, 3, 198),
        "raw ROI differs from the data"
    );

    let npy = s.get_bytes(&format!("{q}&format=npy")).await;
    let header = npy.len() - raw.len();
    assert_eq!(&npy[..6], b"\x93NUMPY");
    assert!(npy[header..] == raw[..], "npy voxels differ from raw");

    // a Range is answered from the whole volume, with the same bytes
    let r = s
        .client
        .get(s.url(&format!("{q}&format=raw")))
        .header("range", "bytes=1000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap()[..] == raw[1000..]);

    // a chain over it streams too, and equals its unstreamed (Range) read
    let norm = json!({"type": "intensities", "source_array_config": "v", "min": 0, "max": 255});
    s.register("norm", &norm).await;
    let q = "/v1/arrays/norm/roi?offset=0,0,0&shape=200,160,288&units=voxels&format=raw";
    let streamed = s.get_bytes(q).await;
    let whole = s
        .client
        .get(s.url(q))
        .header("range", "bytes=0-")
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), 206);
    let whole = whole.bytes().await.unwrap();
    assert_eq!(streamed.len(), v.len() * 4);
    assert!(streamed[..] == whole[..], "streamed chain differs");
    let at = |i: usize| f32::from_le_bytes(streamed[4 * i..4 * i + 4].try_into().unwrap());
    for i in [0, 1, 12_345, v.len() - 1] {
        assert!((at(i) - f32::from(v[i]) / 255.0).abs() < 1e-6, "voxel {i}");
    }
}

/// Slab buffers go back to a pool once sent and are reused by the next read of the same
/// size (`src/recycle.rs`): a read of other data after them has its own voxels only.
#[tokio::test]
async fn reused_slab_buffers_carry_nothing_of_the_last_read() {
    let dir = tempfile::tempdir().unwrap();
    let (v, w) = (data(), noise(data().len(), 8));
    assert_ne!(v, w);
    write_zarr_u8(
        dir.path(),
        "v.zarr",
        "a",
        &SHAPE,
        &[64, 64, 64],
        json!({}),
        &v,
    );
    write_zarr_u8(
        dir.path(),
        "w.zarr",
        "a",
        &SHAPE,
        &[64, 64, 64],
        json!({}),
        &w,
    );
    let s = TestServer::start_with(dir.path(), |_| {}).await;
    s.register("v", &zarr("v.zarr")).await;
    s.register("w", &zarr("w.zarr")).await;
    let q = "roi?offset=0,0,0&shape=200,160,288&units=voxels&format=raw";
    for round in 0..2 {
        for (name, expected) in [("v", &v), ("w", &w)] {
            let got = s.get_bytes(&format!("/v1/arrays/{name}/{q}")).await;
            assert!(got[..] == expected[..], "{name}, round {round}");
        }
        // a smaller ROI whose middle slabs have the same size as the whole read's
        let part = "roi?offset=3,0,0&shape=195,160,288&units=voxels&format=raw";
        let got = s.get_bytes(&format!("/v1/arrays/w/{part}")).await;
        assert!(got[..] == *rows(&w, 3, 198), "w part, round {round}");
    }
}

/// A row of chunks over `MAX_SLAB_BYTES` is sent as several slabs: float32 over
/// 160 × 288 planes is 184,320 bytes a plane, so 45 planes a slab, two per 64-deep row.
/// The slabs tile the ROI in order and read back as the ROI itself.
#[tokio::test]
async fn rows_of_chunks_over_the_slab_size_are_cut_again() {
    let (_dir, s, _) = server(&["v.zarr"]).await;
    let norm = json!({"type": "intensities", "min": 0, "max": 255,
        "source_array_config": {"type": "zarr", "name": "v", "file_name": "v.zarr", "dataset": "a"}});
    let entry = s
        .state
        .registry
        .put("norm", norm, false)
        .await
        .unwrap()
        .entry;
    let array = entry.array().unwrap().clone();
    let m = array.meta();
    let roi = Roi::new(m.roi.offset.clone(), m.roi.shape.clone());
    let slabs = slabs(&s.state.ctx, &array, &roi).expect("four rows of chunks");
    assert_eq!(slabs.per_row, 2);
    let depths: Vec<i64> = slabs
        .cuts
        .iter()
        .map(|c| c.roi.shape[0] / m.voxel_size[0])
        .collect();
    assert_eq!(depths, [45, 19, 45, 19, 45, 19, 8]);
    let mut z = roi.offset[0];
    let mut stitched = Vec::new();
    for cut in &slabs.cuts {
        assert_eq!(cut.roi.offset[0], z, "in order, without gaps");
        z += cut.roi.shape[0];
        let bytes = volume_bytes(&m.volume_shape(&cut.roi), m.dtype.size());
        assert!(bytes <= MAX_SLAB_BYTES, "{bytes}");
        stitched.extend(
            read_slab(&s.state.ctx, &array, cut)
                .await
                .unwrap()
                .to_le_bytes(),
        );
    }
    assert_eq!(z, roi.end()[0]);
    let whole = read_roi(&s.state.ctx, &array, &roi, None).await.unwrap();
    assert!(stitched == whole.to_le_bytes(), "slabs differ from the ROI");
}

#[tokio::test]
async fn a_failure_before_the_answer_is_a_problem_after_it_a_short_body() {
    let (dir, s, _) = server(&["first.zarr", "late.zarr"]).await;
    // garbage in place of a chunk of the first slab, and of the last one
    std::fs::write(dir.path().join("first.zarr/a/c/0/1/1"), b"not zstd").unwrap();
    std::fs::write(dir.path().join("late.zarr/a/c/3/1/1"), b"not zstd").unwrap();
    s.register("first", &zarr("first.zarr")).await;
    s.register("late", &zarr("late.zarr")).await;
    let q = "roi?offset=0,0,0&shape=200,160,288&units=voxels&format=raw";

    let body = assert_problem(s.get(&format!("/v1/arrays/first/{q}")).await, 500).await;
    assert_eq!(body["type"], "urn:arrayd:problem:storage", "{body}");

    let r = s.get(&format!("/v1/arrays/late/{q}")).await;
    assert_eq!(r.status(), 200);
    let announced: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(announced, data().len());
    assert!(
        r.bytes().await.is_err(),
        "a cut body must not read as complete"
    );
}

/// A channel array streams each channel's slabs in turn when the ROI fits in half the
/// cache, and is read whole otherwise: the same exact bytes either way, and a bad chunk
/// in the last row shows which (a short body, or a problem response).
#[tokio::test]
async fn channel_arrays_stream_channel_by_channel_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let v = data();
    for c in ["l.zarr", "bad.zarr"] {
        write_zarr_u8(dir.path(), c, "a", &SHAPE, &[64, 64, 64], json!({}), &v);
    }
    std::fs::write(dir.path().join("bad.zarr/a/c/3/1/1"), b"not zstd").unwrap();
    let groups = [("low", 1..=100_u8), ("high", 200..=255)];
    let groupings: Vec<Value> = groups
        .iter()
        .map(|(n, ids)| json!([n, ids.clone().collect::<Vec<u8>>()]))
        .collect();
    let config = |c: &str| {
        json!({"type": "binarize", "groupings": groupings,
               "source_array_config": {"type": "zarr", "name": c, "file_name": c, "dataset": "a"}})
    };
    let q = "roi?offset=0,0,0&shape=200,160,288&units=voxels&format=raw";
    // 18.4 MB of output: streamed under 1 GiB of cache, read whole under 32 MiB
    for cache in [1 << 30, 32 << 20] {
        let s = TestServer::start_with(dir.path(), |s| s.cache_size = cache).await;
        s.register("b", &config("l.zarr")).await;
        s.register("bad", &config("bad.zarr")).await;
        let r = s.get(&format!("/v1/arrays/b/{q}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-array-shape"], "2,200,160,288");
        let got = r.bytes().await.unwrap();
        assert_eq!(got.len(), 2 * v.len(), "cache {cache}");
        for (c, (_, ids)) in groups.iter().enumerate() {
            let plane = &got[c * v.len()..(c + 1) * v.len()];
            let wrong = plane
                .iter()
                .zip(&v)
                .position(|(&b, x)| b != u8::from(ids.contains(x)));
            assert_eq!(wrong, None, "channel {c}, cache {cache}");
        }
        let r = s.get(&format!("/v1/arrays/bad/{q}")).await;
        if cache == 1 << 30 {
            assert_eq!(r.status(), 200);
            assert!(
                r.bytes().await.is_err(),
                "a cut body must not read as complete"
            );
        } else {
            assert_problem(r, 500).await;
        }
    }
}
