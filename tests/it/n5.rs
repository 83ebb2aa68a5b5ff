//! N5 sources through the `zarr` type: datasets written here by a tiny N5 writer
//! (`attributes.json` and big-endian blocks, dim 0 fastest) with raw, gzip, zstd, blosc
//! blocks, uint8 and uint16, edge blocks smaller than `blockSize`, a missing block and
//! x,y,z `resolution`/`offset`; read over HTTP in z,y,x; N5 multiscale groups (n5-viewer
//! `scales`, Paintera `multiScale`) serve their stored levels without reading `s0`.

use std::io::Write;
use std::path::Path;

use crate::support::{TestServer, assert_problem};
use arrayd::volume::Volume;
use serde_json::{Value, json};

/// An N5 dataset to write: sizes in N5 order (x, y, z).
struct Dataset<'a> {
    dims: [usize; 3],
    block: [usize; 3],
    data_type: &'a str,
    compression: &'a str,
    attrs: Value,
    /// A block (grid position, N5 order) not written.
    missing: Option<[usize; 3]>,
}

fn value(x: usize, y: usize, z: usize) -> u64 {
    ((x * 7 + y * 13 + z * 29) % 250 + 1) as u64
}

fn value16(x: usize, y: usize, z: usize) -> u64 {
    value(x, y, z) * 257 + x as u64
}

fn write_n5(dir: &Path, ds: &Dataset<'_>, f: fn(usize, usize, usize) -> u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut attrs = json!({"dimensions": ds.dims, "blockSize": ds.block,
        "dataType": ds.data_type, "compression": {"type": ds.compression}});
    if ds.compression == "blosc" {
        // As n5-blosc writes it.
        attrs["compression"] = json!({"type": "blosc", "cname": "lz4", "clevel": 5,
            "shuffle": 0, "blocksize": 0, "nthreads": 1});
    }
    for (k, v) in ds.attrs.as_object().unwrap() {
        attrs[k] = v.clone();
    }
    std::fs::write(dir.join("attributes.json"), attrs.to_string()).unwrap();
    let width = if ds.data_type == "uint8" { 1 } else { 2 };
    let grid: Vec<usize> = (0..3).map(|d| ds.dims[d].div_ceil(ds.block[d])).collect();
    for bz in 0..grid[2] {
        for by in 0..grid[1] {
            for bx in 0..grid[0] {
                if ds.missing == Some([bx, by, bz]) {
                    continue;
                }
                let pos = [bx, by, bz];
                let size: Vec<usize> = (0..3)
                    .map(|d| ds.block[d].min(ds.dims[d] - pos[d] * ds.block[d]))
                    .collect();
                let mut body = Vec::new();
                for z in 0..size[2] {
                    for y in 0..size[1] {
                        for x in 0..size[0] {
                            let v = f(
                                bx * ds.block[0] + x,
                                by * ds.block[1] + y,
                                bz * ds.block[2] + z,
                            );
                            if width == 1 {
                                body.push(u8::try_from(v).unwrap());
                            } else {
                                body.extend(u16::try_from(v).unwrap().to_be_bytes());
                            }
                        }
                    }
                }
                let body = match ds.compression {
                    "raw" => body,
                    "gzip" => {
                        let mut e =
                            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
                        e.write_all(&body).unwrap();
                        e.finish().unwrap()
                    }
                    "zstd" => zstd::encode_all(&body[..], 3).unwrap(),
                    "blosc" => blosc(&body),
                    other => panic!("{other}"),
                };
                let mut block = Vec::new();
                block.extend(0u16.to_be_bytes());
                block.extend(3u16.to_be_bytes());
                for s in &size {
                    block.extend(u32::try_from(*s).unwrap().to_be_bytes());
                }
                block.extend(body);
                let d = dir.join(bx.to_string()).join(by.to_string());
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join(bz.to_string()), block).unwrap();
            }
        }
    }
}

/// A blosc1 frame (lz4, no shuffle), encoded by zarrs' blosc codec.
fn blosc(body: &[u8]) -> Vec<u8> {
    use zarrs::array::codec::{
        BloscCodec, BloscCompressionLevel, BloscCompressor, BloscShuffleMode,
    };
    use zarrs::array::{BytesToBytesCodecTraits, CodecOptions};
    let level = BloscCompressionLevel::try_from(5).unwrap();
    let codec = BloscCodec::new(
        BloscCompressor::LZ4,
        level,
        None,
        BloscShuffleMode::NoShuffle,
        Some(2),
    )
    .unwrap();
    codec
        .encode(std::borrow::Cow::Borrowed(body), &CodecOptions::default())
        .unwrap()
        .into_owned()
}

fn values(v: Volume) -> (Vec<usize>, Vec<u64>) {
    match v {
        Volume::U8(a) => (
            a.shape().to_vec(),
            a.iter().map(|&x| u64::from(x)).collect(),
        ),
        Volume::U16(a) => (
            a.shape().to_vec(),
            a.iter().map(|&x| u64::from(x)).collect(),
        ),
        other => panic!("unexpected dtype {:?}", other.dtype()),
    }
}

/// The served z,y,x reference over voxel ranges (z, y, x).
fn reference(
    f: impl Fn(usize, usize, usize) -> u64,
    z: std::ops::Range<usize>,
    y: std::ops::Range<usize>,
    x: std::ops::Range<usize>,
) -> Vec<u64> {
    let mut out = Vec::new();
    for z in z {
        for y in y.clone() {
            for x in x.clone() {
                out.push(f(x, y, z));
            }
        }
    }
    out
}

async fn meta(s: &TestServer, name: &str) -> Value {
    let v: Value = s
        .get(&format!("/v1/arrays/{name}"))
        .await
        .json()
        .await
        .unwrap();
    v["metadata"].clone()
}

#[tokio::test]
async fn uint8_raw_blocks_edges_missing_block_and_partial_reads() {
    let root = tempfile::tempdir().unwrap();
    let c = root.path().join("data.n5");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("attributes.json"), r#"{"n5": "4.0.0"}"#).unwrap();
    let ds = Dataset {
        dims: [10, 7, 5],
        block: [4, 4, 3],
        data_type: "uint8",
        compression: "raw",
        attrs: json!({"resolution": [4, 8, 40], "offset": [8, 16, 80]}),
        missing: Some([1, 1, 1]),
    };
    write_n5(&c.join("raw"), &ds, value);
    // Block (1, 1, 1) holds x 4..8, y 4..7, z 3..5; it reads as 0.
    let f = |x: usize, y: usize, z: usize| {
        if (4..8).contains(&x) && (4..7).contains(&y) && (3..5).contains(&z) {
            0
        } else {
            value(x, y, z)
        }
    };
    let s = TestServer::start_with(root.path(), |_| {}).await;
    let src = json!({"type": "zarr", "name": "n5raw", "file_name": "data.n5", "dataset": "raw"});
    s.register("n5raw", &src).await;
    let m = meta(&s, "n5raw").await;
    assert_eq!(m["dtype"], "uint8");
    assert_eq!(m["voxel_size"], json!([40, 8, 4]));
    assert_eq!(m["roi"]["offset"], json!([80, 16, 8]));
    assert_eq!(m["shape"], json!([5, 7, 10]));
    assert_eq!(m["chunk_shape"], json!([3, 4, 4]));

    let (shape, got) = values(s.roi_npy("n5raw", &[80, 16, 8], &[200, 56, 40]).await);
    assert_eq!(shape, [5, 7, 10]);
    assert_eq!(got, reference(f, 0..5, 0..7, 0..10));
    assert!(got.contains(&0), "the missing block reads as 0");
    // Inside block (0, 0, 0): z 1..2, y 1..3, x 1..3.
    let (shape, got) = values(s.roi_npy("n5raw", &[120, 24, 12], &[40, 16, 8]).await);
    assert_eq!(shape, [1, 2, 2]);
    assert_eq!(got, reference(f, 1..2, 1..3, 1..3));
    // Inside the edge block (2, 1, 1) (x 8..10, y 4..7, z 3..5).
    let (_, got) = values(s.roi_npy("n5raw", &[200, 56, 44], &[40, 16, 4]).await);
    assert_eq!(got, reference(f, 3..4, 5..7, 9..10));

    // A crop over it, one block's corner.
    s.register(
        "cropped",
        &json!({"type": "crop", "name": "cropped", "source_array_config": src,
            "roi": [[120, 32, 16], [80, 24, 20]]}),
    )
    .await;
    let (shape, got) = values(s.roi_npy("cropped", &[120, 32, 16], &[80, 24, 20]).await);
    assert_eq!(shape, [2, 3, 5]);
    assert_eq!(got, reference(f, 1..3, 2..5, 2..7));

    // No pass-through of N5 blocks: the zarr view computes chunk (1, 1, 2).
    let r = s.get("/v1/arrays/n5raw/zarr/c/1/1/2").await;
    assert_eq!(r.status(), 200);
    let raw = zstd::decode_all(&r.bytes().await.unwrap()[..]).unwrap();
    assert_eq!(raw.len(), 3 * 4 * 4);
    for (k, &v) in raw.iter().enumerate() {
        let (z, y, x) = (3 + k / 16, 4 + (k / 4) % 4, 8 + k % 4);
        let want = if z < 5 && y < 7 && x < 10 {
            f(x, y, z)
        } else {
            0
        };
        assert_eq!(u64::from(v), want, "chunk voxel {k}");
    }
}

#[tokio::test]
async fn uint16_gzip_zstd_blosc_big_endian() {
    let root = tempfile::tempdir().unwrap();
    for (name, compression) in [("gz", "gzip"), ("zs", "zstd"), ("bl", "blosc")] {
        let ds = Dataset {
            dims: [9, 6, 4],
            block: [4, 4, 4],
            data_type: "uint16",
            compression,
            attrs: json!({"pixelResolution": {"dimensions": [2, 3, 5], "unit": "nm"}}),
            missing: None,
        };
        // No root `n5` key: detected from the dataset's own attributes.
        write_n5(&root.path().join("c16.n5").join(name), &ds, value16);
    }
    let s = TestServer::start_with(root.path(), |_| {}).await;
    for name in ["gz", "zs", "bl"] {
        s.register(
            name,
            &json!({"type": "zarr", "name": name, "file_name": "c16.n5", "dataset": name}),
        )
        .await;
        let m = meta(&s, name).await;
        assert_eq!(m["dtype"], "uint16");
        assert_eq!(m["voxel_size"], json!([5, 3, 2]), "{name}");
        assert_eq!(m["attrs"]["units"], json!(["nm", "nm", "nm"]));
        let (shape, got) = values(s.roi_npy(name, &[0, 0, 0], &[20, 18, 18]).await);
        assert_eq!(shape, [4, 6, 9]);
        assert_eq!(got, reference(value16, 0..4, 0..6, 0..9), "{name}");
        assert!(got.iter().any(|&v| v > 255));
        let (_, got) = values(s.roi_npy(name, &[5, 3, 10], &[10, 6, 4]).await);
        assert_eq!(got, reference(value16, 1..3, 1..3, 5..7), "{name}");
    }
}

#[tokio::test]
async fn n5_multiscale_downsampling_factors() {
    let root = tempfile::tempdir().unwrap();
    let g = root.path().join("ms.n5");
    std::fs::create_dir_all(&g).unwrap();
    std::fs::write(
        g.join("attributes.json"),
        json!({"n5": "4.0.0", "resolution": [4, 8, 40],
            "downsamplingFactors": [[1, 1, 1], [2, 2, 1]]})
        .to_string(),
    )
    .unwrap();
    for (level, dims, factors) in [("s0", [8, 8, 2], [1, 1, 1]), ("s1", [4, 4, 2], [2, 2, 1])] {
        let ds = Dataset {
            dims,
            block: [4, 4, 2],
            data_type: "uint8",
            compression: "gzip",
            attrs: json!({"downsamplingFactors": factors}),
            missing: None,
        };
        write_n5(&g.join(level), &ds, value);
    }
    let s = TestServer::start_with(root.path(), |_| {}).await;
    for (level, vs) in [("s0", json!([40, 8, 4])), ("s1", json!([40, 16, 8]))] {
        s.register(
            level,
            &json!({"type": "zarr", "name": level, "file_name": "ms.n5", "dataset": level}),
        )
        .await;
        assert_eq!(meta(&s, level).await["voxel_size"], vs, "{level}");
    }
    let (_, got) = values(s.roi_npy("s1", &[0, 0, 0], &[80, 64, 32]).await);
    assert_eq!(got, reference(value, 0..2, 0..4, 0..4));
    // Not an array: a 422.
    let r = s
        .put_json(
            "/v1/arrays/nope",
            &json!({"type": "zarr", "name": "nope", "file_name": "ms.n5", "dataset": "s9"}),
        )
        .await;
    assert_problem(r, 422).await;
}

fn n5_s1(x: usize, y: usize, z: usize) -> u64 {
    (200 - (x * 3 + y + z) % 50) as u64
}

fn n5_s2(x: usize, y: usize, z: usize) -> u64 {
    ((x ^ y ^ z) % 97 + 100) as u64
}

/// Levels `s0..` of `n`, `n/2`, ... voxels (raw blocks of 64) under `group`, each with
/// its `downsamplingFactors`, values from `fs` (one per level).
fn write_n5_levels(group: &Path, n: usize, fs: &[fn(usize, usize, usize) -> u64]) {
    for (k, f) in fs.iter().enumerate() {
        let dim = n >> k;
        let factor = 1 << k;
        let ds = Dataset {
            dims: [dim; 3],
            block: [64; 3],
            data_type: "uint8",
            compression: "raw",
            attrs: json!({"downsamplingFactors": [factor, factor, factor]}),
            missing: None,
        };
        write_n5(&group.join(format!("s{k}")), &ds, *f);
    }
}

/// A precomputed raw chunk of 64³ (x fastest) as `f` gives it.
fn chunk_of(f: fn(usize, usize, usize) -> u64) -> Vec<u8> {
    reference(f, 0..64, 0..64, 0..64)
        .into_iter()
        .map(|v| u8::try_from(v).unwrap())
        .collect()
}

#[tokio::test]
async fn n5_multiscale_groups_serve_their_stored_levels() {
    let root = tempfile::tempdir().unwrap();
    // n5-viewer / BigDataViewer style: `scales` on the group, one entry per level.
    let g = root.path().join("ms.n5/raw");
    std::fs::create_dir_all(&g).unwrap();
    std::fs::write(
        root.path().join("ms.n5/attributes.json"),
        json!({"n5": "4.0.0"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        g.join("attributes.json"),
        json!({"resolution": [4, 4, 4], "scales": [[1, 1, 1], [2, 2, 2], [4, 4, 4]]}).to_string(),
    )
    .unwrap();
    write_n5_levels(&g, 256, &[value, n5_s1, n5_s2]);
    // Paintera style: `multiScale: true`, levels probed until one is missing.
    let p = root.path().join("ms.n5/paintera");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("attributes.json"),
        json!({"resolution": [4, 4, 4], "multiScale": true}).to_string(),
    )
    .unwrap();
    write_n5_levels(&p, 256, &[value, n5_s1]);

    let s = TestServer::start_with(root.path(), |_| {}).await;
    for (name, dataset) in [("viewer", "raw/s0"), ("paintera", "paintera/s0")] {
        s.register(
            name,
            &json!({"type": "zarr", "file_name": "ms.n5", "dataset": dataset}),
        )
        .await;
    }
    assert_eq!(
        s.level_origins("viewer").await,
        ["array", "stored", "stored"]
    );
    assert_eq!(
        s.level_origins("paintera").await,
        ["array", "stored", "computed"]
    );
    let info: Value = s
        .get("/v1/arrays/viewer/precomputed/info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["scales"][2]["resolution"], json!([16, 16, 16]));

    // Every s0 block of the viewer group becomes unreadable: a read of one would fail.
    for entry in walk(&g.join("s0")) {
        if entry.file_name().unwrap() != "attributes.json" {
            std::fs::write(&entry, b"not a block").unwrap();
        }
    }
    for (level, f) in [
        ("s1", n5_s1 as fn(usize, usize, usize) -> u64),
        ("s2", n5_s2),
    ] {
        let path = format!("/v1/arrays/viewer/precomputed/{level}/0-64_0-64_0-64");
        assert_eq!(s.get_bytes(&path).await, chunk_of(f), "{level}");
    }
    let r = s
        .get("/v1/arrays/viewer/precomputed/s0/0-64_0-64_0-64")
        .await;
    assert!(r.status().is_server_error(), "{}", r.status());
    // The probed group's stored s1 is served as stored.
    assert_eq!(
        s.get_bytes("/v1/arrays/paintera/precomputed/s1/0-64_0-64_0-64")
            .await,
        chunk_of(n5_s1)
    );
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
