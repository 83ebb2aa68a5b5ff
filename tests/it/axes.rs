//! Stored axis orders other than `[c,] z, y, x`: an `x,y,z` zarr v3 array with funlib
//! attributes, and OME-NGFF 5-D `t,c,z,y,x` groups (0.5 on v3, 0.4 on v2), served in
//! z,y,x with reordered voxel size and offset, over `/roi`, the metadata and the zarr
//! view's chunks; a non-singleton `t` is a 422 naming the axis.

use std::path::Path;

use crate::support::{TestServer, assert_problem, noise, write_zarr_u8};
use arrayd::volume::Volume;
use serde_json::{Value, json};

fn u8s(v: Volume) -> (Vec<usize>, Vec<u8>) {
    let Volume::U8(a) = v else {
        panic!("not uint8")
    };
    (a.shape().to_vec(), a.iter().copied().collect())
}

/// A zarr v2 uint8 array written by hand: `.zarray` and raw C-order chunks (edge
/// chunks padded with zeros, as zarr-python writes them).
fn write_v2_u8(dir: &Path, shape: &[usize], chunk: &[usize], data: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    let zarray = json!({"zarr_format": 2, "shape": shape, "chunks": chunk, "dtype": "|u1",
        "compressor": null, "fill_value": 0, "order": "C", "filters": null,
        "dimension_separator": "."});
    std::fs::write(dir.join(".zarray"), zarray.to_string()).unwrap();
    let n = shape.len();
    let grid: Vec<usize> = (0..n).map(|d| shape[d].div_ceil(chunk[d])).collect();
    let chunk_len: usize = chunk.iter().product();
    for ci in 0..grid.iter().product::<usize>() {
        let idx = unravel(ci, &grid);
        let mut buf = vec![0u8; chunk_len];
        for (k, b) in buf.iter_mut().enumerate() {
            let local = unravel(k, chunk);
            let global: Vec<usize> = (0..n).map(|d| idx[d] * chunk[d] + local[d]).collect();
            if global.iter().zip(shape).all(|(g, s)| g < s) {
                *b = data[ravel(&global, shape)];
            }
        }
        let name: Vec<String> = idx.iter().map(ToString::to_string).collect();
        std::fs::write(dir.join(name.join(".")), buf).unwrap();
    }
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        out[d] = i % shape[d];
        i /= shape[d];
    }
    out
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (i, s)| acc * s + i)
}

async fn json_of(s: &TestServer, path: &str) -> Value {
    let r = s.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// Decodes a computed zarr v3 chunk (zstd of little-endian uint8).
async fn chunk_u8(s: &TestServer, path: &str) -> Vec<u8> {
    let r = s.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    zstd::decode_all(&r.bytes().await.unwrap()[..]).unwrap()
}

#[tokio::test]
async fn xyz_array_with_funlib_attrs_is_served_zyx() {
    let root = tempfile::tempdir().unwrap();
    let (nx, ny, nz) = (10usize, 7usize, 5usize);
    let data = noise(nx * ny * nz, 7);
    write_zarr_u8(
        root.path(),
        "xyz.zarr",
        "raw",
        &[nx as u64, ny as u64, nz as u64],
        &[4, 4, 2],
        json!({"axis_names": ["x", "y", "z"], "voxel_size": [4, 8, 40],
            "offset": [8, 16, 80], "units": ["nm", "nm", "um"]}),
        &data,
    );
    // Numpy-style reference: `stored.transpose(2, 1, 0)`, served[z, y, x] = stored[x, y, z].
    let reference = |z: usize, y: usize, x: usize| data[(x * ny + y) * nz + z];
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "xyz",
        &json!({"type": "zarr", "name": "xyz", "file_name": "xyz.zarr", "dataset": "raw"}),
    )
    .await;
    let m = json_of(&s, "/v1/arrays/xyz").await["metadata"].clone();
    assert_eq!(m["voxel_size"], json!([40, 8, 4]));
    assert_eq!(m["roi"]["offset"], json!([80, 16, 8]));
    assert_eq!(m["roi"]["shape"], json!([200, 56, 40]));
    assert_eq!(m["shape"], json!([5, 7, 10]));
    assert_eq!(m["chunk_shape"], json!([2, 4, 4]));
    assert_eq!(m["num_channels"], Value::Null);
    assert_eq!(m["attrs"]["units"], json!(["um", "nm", "nm"]));

    let (shape, got) = u8s(s.roi_npy("xyz", &[80, 16, 8], &[200, 56, 40]).await);
    assert_eq!(shape, [5, 7, 10]);
    let mut want = Vec::new();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                want.push(reference(z, y, x));
            }
        }
    }
    assert_eq!(got, want);
    // A ROI across chunk borders: z 1..4, y 2..6, x 3..9.
    let (shape, got) = u8s(s.roi_npy("xyz", &[120, 32, 20], &[120, 32, 24]).await);
    assert_eq!(shape, [3, 4, 6]);
    let mut want = Vec::new();
    for z in 1..4 {
        for y in 2..6 {
            for x in 3..9 {
                want.push(reference(z, y, x));
            }
        }
    }
    assert_eq!(got, want);

    // The zarr view computes chunks in z,y,x (stored chunks are x,y,z: no pass-through).
    let meta = json_of(&s, "/v1/arrays/xyz/zarr/zarr.json").await;
    assert_eq!(meta["shape"], json!([5, 7, 10]));
    assert_eq!(
        meta["chunk_grid"]["configuration"]["chunk_shape"],
        json!([2, 4, 4])
    );
    let raw = chunk_u8(&s, "/v1/arrays/xyz/zarr/c/1/1/2").await;
    assert_eq!(raw.len(), 2 * 4 * 4);
    for (k, &v) in raw.iter().enumerate() {
        let (z, y, x) = (2 + k / 16, 4 + (k / 4) % 4, 8 + k % 4);
        let want = if y < ny && x < nx {
            reference(z, y, x)
        } else {
            0
        };
        assert_eq!(v, want, "chunk voxel {k}");
    }
}

/// An OME-NGFF 5-D `t,c,z,y,x` group with one array `s0` (v3, or v2 for 0.4).
fn write_ome(root: &Path, name: &str, version: &str, tc: (usize, usize), data: &[u8]) {
    let (nz, ny, nx) = (4usize, 6usize, 5usize);
    let shape = [tc.0, tc.1, nz, ny, nx];
    let axes = json!([{"name": "t", "type": "time", "unit": "second"},
        {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", "unit": "nanometer"},
        {"name": "y", "type": "space", "unit": "nanometer"},
        {"name": "x", "type": "space", "unit": "nanometer"}]);
    let ms = json!([{"version": version, "axes": axes, "datasets": [{"path": "s0",
        "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 40.0, 8.0, 4.0]},
            {"type": "translation", "translation": [0.0, 0.0, 400.0, 16.0, 12.0]}]}]}]);
    let group = root.join(name);
    std::fs::create_dir_all(&group).unwrap();
    if version == "0.5" {
        let doc = json!({"zarr_format": 3, "node_type": "group",
            "attributes": {"ome": {"version": "0.5", "multiscales": ms}}});
        std::fs::write(group.join("zarr.json"), doc.to_string()).unwrap();
        let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        write_zarr_u8(root, name, "s0", &shape, &[1, 1, 2, 4, 4], json!({}), data);
    } else {
        std::fs::write(group.join(".zgroup"), r#"{"zarr_format": 2}"#).unwrap();
        std::fs::write(
            group.join(".zattrs"),
            json!({"multiscales": ms}).to_string(),
        )
        .unwrap();
        write_v2_u8(&group.join("s0"), &shape, &[1, 1, 2, 4, 4], data);
    }
}

#[tokio::test]
async fn ome_tczyx_singletons_are_dropped_and_channels_kept() {
    let root = tempfile::tempdir().unwrap();
    let n = 4 * 6 * 5;
    let one = noise(n, 3);
    let two = noise(2 * n, 4);
    write_ome(root.path(), "t1c1.zarr", "0.5", (1, 1), &one);
    write_ome(root.path(), "t1c2.zarr", "0.4", (1, 2), &two);
    write_ome(root.path(), "t2.zarr", "0.5", (2, 1), &noise(2 * n, 5));
    let s = TestServer::start_with(root.path(), |_| {}).await;
    let cfg = |file: &str| json!({"type": "zarr", "file_name": file, "dataset": "s0"});

    s.register("a", &cfg("t1c1.zarr")).await;
    let m = json_of(&s, "/v1/arrays/a").await["metadata"].clone();
    assert_eq!(m["num_channels"], Value::Null);
    assert_eq!(m["voxel_size"], json!([40, 8, 4]));
    assert_eq!(m["roi"]["offset"], json!([400, 16, 12]));
    assert_eq!(m["shape"], json!([4, 6, 5]));
    assert_eq!(m["chunk_shape"], json!([2, 4, 4]));
    assert_eq!(
        m["attrs"]["units"],
        json!(["nanometer", "nanometer", "nanometer"])
    );
    let (shape, got) = u8s(s.roi_npy("a", &[400, 16, 12], &[160, 48, 20]).await);
    assert_eq!(shape, [4, 6, 5]);
    assert_eq!(
        got, one,
        "t=1, c=1: the stored voxels with both singletons dropped"
    );
    // The zarr view is 3-D; chunk (1, 0, 1) holds z 2..4, y 0..4, x 4..8 (x 5.. padded).
    let meta = json_of(&s, "/v1/arrays/a/zarr/zarr.json").await;
    assert_eq!(meta["shape"], json!([4, 6, 5]));
    let raw = chunk_u8(&s, "/v1/arrays/a/zarr/c/1/0/1").await;
    assert_eq!(raw.len(), 2 * 4 * 4);
    for (k, &v) in raw.iter().enumerate() {
        let (z, y, x) = (2 + k / 16, (k / 4) % 4, 4 + k % 4);
        let want = if x < 5 { one[(z * 6 + y) * 5 + x] } else { 0 };
        assert_eq!(v, want, "chunk voxel {k}");
    }

    s.register("b", &cfg("t1c2.zarr")).await;
    let m = json_of(&s, "/v1/arrays/b").await["metadata"].clone();
    assert_eq!(m["num_channels"], json!(2));
    assert_eq!(m["shape"], json!([2, 4, 6, 5]));
    assert_eq!(m["voxel_size"], json!([40, 8, 4]));
    let (shape, got) = u8s(s.roi_npy("b", &[440, 24, 16], &[80, 32, 12]).await);
    assert_eq!(shape, [2, 2, 4, 3]);
    let mut want = Vec::new();
    for c in 0..2 {
        for z in 1..3 {
            for y in 1..5 {
                for x in 1..4 {
                    want.push(two[((c * 4 + z) * 6 + y) * 5 + x]);
                }
            }
        }
    }
    assert_eq!(got, want, "t=1, c=2: channel axis kept first");
    // The v2 view has no pass-through for it either: chunk (0, 0, 0, 0) is computed.
    let r = s.get("/v1/arrays/b/zarr/c/0/0/0/0").await;
    assert_eq!(r.status(), 200);

    let body = assert_problem(s.put_json("/v1/arrays/t2", &cfg("t2.zarr")).await, 422).await;
    let text = body.to_string();
    assert!(
        text.contains(r#"\"t\""#) && text.contains("time points"),
        "{text}"
    );
}
