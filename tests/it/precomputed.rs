//! The neuroglancer precomputed view over a real server: `info` for every kind of
//! output, every chunk of every scale decoded (raw and compressed_segmentation) and
//! compared with the ROI endpoint and with a whole-volume reference pyramid computed
//! here, conditional and range requests, bad chunk names, and the viewer redirect.

use std::collections::HashMap;

use crate::support::{TestServer, assert_problem};
use arrayd::encode::compressed_segmentation;
use arrayd::volume::Volume;
use serde_json::{Value, json};

/// A dense z,y,x(,c) block of f64 values with its absolute voxel offset.
#[derive(Clone, Debug)]
struct Block {
    offset: [i64; 3],
    shape: [usize; 3],
    channels: usize,
    data: Vec<f64>,
}

impl Block {
    fn at(&self, c: usize, z: usize, y: usize, x: usize) -> f64 {
        self.data[((c * self.shape[0] + z) * self.shape[1] + y) * self.shape[2] + x]
    }
}

fn values(v: &Volume) -> Vec<f64> {
    v.cast(arrayd::dtype::DType::F64)
        .to_le_bytes()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The next level of a reference pyramid, computed on the whole volume.
fn reduce(b: &Block, f: [i64; 3], segmentation: bool, integer: bool) -> Block {
    let begin: Vec<i64> = (0..3).map(|d| b.offset[d].div_euclid(f[d])).collect();
    let end: Vec<i64> = (0..3)
        .map(|d| -((-(b.offset[d] + b.shape[d] as i64)).div_euclid(f[d])))
        .collect();
    let shape = [0, 1, 2].map(|d| (end[d] - begin[d]) as usize);
    let mut data = Vec::new();
    for c in 0..b.channels {
        for z in 0..shape[0] {
            for y in 0..shape[1] {
                for x in 0..shape[2] {
                    let o = [z, y, x];
                    let mut vals = Vec::new();
                    for dz in 0..f[0] {
                        for dy in 0..f[1] {
                            for dx in 0..f[2] {
                                let abs = [0, 1, 2]
                                    .map(|d| (begin[d] + o[d] as i64) * f[d] + [dz, dy, dx][d]);
                                let rel = [0, 1, 2].map(|d| abs[d] - b.offset[d]);
                                if (0..3).all(|d| rel[d] >= 0 && rel[d] < b.shape[d] as i64) {
                                    vals.push(b.at(
                                        c,
                                        rel[0] as usize,
                                        rel[1] as usize,
                                        rel[2] as usize,
                                    ));
                                }
                            }
                        }
                    }
                    data.push(if segmentation {
                        let mut counts: HashMap<u64, usize> = HashMap::new();
                        for v in vals.iter().filter(|v| **v != 0.0) {
                            *counts.entry(*v as u64).or_default() += 1;
                        }
                        counts
                            .into_iter()
                            .max_by_key(|(v, n)| (*n, std::cmp::Reverse(*v)))
                            .map_or(0.0, |(v, _)| v as f64)
                    } else {
                        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                        if integer {
                            mean.round_ties_even()
                        } else {
                            mean
                        }
                    });
                }
            }
        }
    }
    Block {
        offset: [begin[0], begin[1], begin[2]],
        shape,
        channels: b.channels,
        data,
    }
}

/// Reads every chunk of every scale and checks it against the reference pyramid.
async fn check_all_scales(s: &TestServer, name: &str, itemsize: usize) -> Value {
    let info: Value = s
        .get(&format!("/v1/arrays/{name}/precomputed/info"))
        .await
        .json()
        .await
        .unwrap();
    let shown: Value = s
        .get(&format!("/v1/arrays/{name}"))
        .await
        .json()
        .await
        .unwrap();
    let m = &shown["metadata"];
    let whole = s
        .roi_npy(
            name,
            &serde_json::from_value::<Vec<i64>>(m["roi"]["offset"].clone()).unwrap(),
            &serde_json::from_value::<Vec<i64>>(m["roi"]["shape"].clone()).unwrap(),
        )
        .await;
    let channels = m["num_channels"].as_u64().unwrap_or(1) as usize;
    let scale0 = &info["scales"][0];
    let xyz = |v: &Value| -> [i64; 3] {
        let a: Vec<i64> = serde_json::from_value(v.clone()).unwrap();
        [a[2], a[1], a[0]]
    };
    let mut level = Block {
        offset: xyz(&scale0["voxel_offset"]),
        shape: xyz(&scale0["size"]).map(|v| v as usize),
        channels,
        data: values(&whole),
    };
    let segmentation = info["type"] == "segmentation";
    let cseg = scale0["encoding"] == "compressed_segmentation";
    let scales = info["scales"].as_array().unwrap();
    for (k, scale) in scales.iter().enumerate() {
        if k > 0 {
            let prev = xyz(&scales[k - 1]["resolution"]);
            let res = xyz(&scale["resolution"]);
            level = reduce(
                &level,
                [0, 1, 2].map(|d| res[d] / prev[d]),
                segmentation,
                info["data_type"] != "float32",
            );
            assert_eq!(
                level.offset,
                xyz(&scale["voxel_offset"]),
                "scale {k} offset"
            );
            assert_eq!(
                level.shape.map(|v| v as i64),
                xyz(&scale["size"]),
                "scale {k} size"
            );
        }
        let chunk = xyz(&scale["chunk_sizes"][0]);
        let key = scale["key"].as_str().unwrap();
        for gz in 0..(level.shape[0] as i64 + chunk[0] - 1) / chunk[0] {
            for gy in 0..(level.shape[1] as i64 + chunk[1] - 1) / chunk[1] {
                for gx in 0..(level.shape[2] as i64 + chunk[2] - 1) / chunk[2] {
                    let g = [gz, gy, gx];
                    let b = [0, 1, 2].map(|d| level.offset[d] + g[d] * chunk[d]);
                    let e = [0, 1, 2]
                        .map(|d| (b[d] + chunk[d]).min(level.offset[d] + level.shape[d] as i64));
                    let url = format!(
                        "/v1/arrays/{name}/precomputed/{key}/{}-{}_{}-{}_{}-{}",
                        b[2], e[2], b[1], e[1], b[0], e[0]
                    );
                    let r = s.get(&url).await;
                    assert_eq!(r.status(), 200, "{url}");
                    assert!(
                        r.headers().get("content-encoding").is_none(),
                        "gzip without Accept-Encoding"
                    );
                    let bytes = r.bytes().await.unwrap();
                    let size = [0, 1, 2].map(|d| (e[d] - b[d]) as usize);
                    let n = size.iter().product::<usize>() * channels;
                    let got: Vec<f64> = if cseg {
                        let xs = [size[2], size[1], size[0]];
                        if itemsize == 8 {
                            compressed_segmentation::decode::<u64>(&bytes, xs, channels, [8, 8, 8])
                                .unwrap()
                                .into_iter()
                                .map(|v| v as f64)
                                .collect()
                        } else {
                            compressed_segmentation::decode::<u32>(&bytes, xs, channels, [8, 8, 8])
                                .unwrap()
                                .into_iter()
                                .map(f64::from)
                                .collect()
                        }
                    } else {
                        assert_eq!(bytes.len(), n * itemsize, "{url}: raw length");
                        bytes
                            .chunks_exact(itemsize)
                            .map(|c| match itemsize {
                                1 => f64::from(c[0]),
                                2 => f64::from(u16::from_le_bytes([c[0], c[1]])),
                                4 => f64::from(f32::from_le_bytes(c.try_into().unwrap())),
                                _ => u64::from_le_bytes(c.try_into().unwrap()) as f64,
                            })
                            .collect()
                    };
                    assert_eq!(got.len(), n);
                    let mut i = 0;
                    for c in 0..channels {
                        for z in 0..size[0] {
                            for y in 0..size[1] {
                                for x in 0..size[2] {
                                    let r = [0, 1, 2].map(|d| (b[d] - level.offset[d]) as usize);
                                    let want = level.at(c, r[0] + z, r[1] + y, r[2] + x);
                                    assert!(
                                        (got[i] - want).abs() <= 1e-6 * want.abs().max(1.0),
                                        "{url} c{c} z{z} y{y} x{x}: {} vs {want}",
                                        got[i]
                                    );
                                    i += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scale_of_images_labels_and_channels() {
    let s = TestServer::golden().await;
    s.register("raw", &json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw", "chunk_shape": [4, 8, 8]})).await;
    s.register(
        "labels",
        &json!({"type": "zarr", "file_name": "data/labels.zarr", "dataset": "labels"}),
    )
    .await;
    s.register(
        "mask",
        &json!({"type": "zarr", "file_name": "data/mask.zarr", "dataset": "mask"}),
    )
    .await;
    s.register(
        "seg",
        &json!({"type": "zarr", "file_name": "data/ome.zarr", "dataset": "seg/s0"}),
    )
    .await;

    let info = check_all_scales(&s, "raw", 1).await;
    assert_eq!(info["type"], "image");
    assert_eq!(info["data_type"], "uint8");
    assert_eq!(info["scales"][0]["size"], json!([44, 36, 20]));
    assert_eq!(info["scales"][0]["resolution"], json!([4, 4, 4]));
    assert_eq!(info["scales"][0]["encoding"], "raw");

    let info = check_all_scales(&s, "labels", 8).await;
    assert_eq!(info["type"], "segmentation");
    assert_eq!(info["scales"][0]["encoding"], "compressed_segmentation");
    assert_eq!(info["scales"][0]["voxel_offset"], json!([2, 2, 1]));
    assert_eq!(
        info["scales"][0]["compressed_segmentation_block_size"],
        json!([8, 8, 8])
    );

    let info = check_all_scales(&s, "mask", 1).await;
    assert_eq!(info["num_channels"], 3);
    assert_eq!(info["type"], "image");

    let info = check_all_scales(&s, "seg", 8).await;
    assert_eq!(info["scales"][0]["voxel_offset"], json!([2, 0, 4]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiscale_pyramid_and_served_dtypes() {
    let root = tempfile::tempdir().unwrap();
    let (z, y, x) = (20u64, 150u64, 140u64);
    let data: Vec<u8> = (0..z * y * x)
        .map(|i| ((i * 7 + (i / x) * 3) % 251) as u8)
        .collect();
    crate::support::write_zarr_u8(
        root.path(),
        "big.zarr",
        "v",
        &[z, y, x],
        &[16, 64, 64],
        json!({"resolution": [8, 4, 4], "offset": [24, 12, 4]}),
        &data,
    );
    let s = TestServer::start_with(root.path(), |_| {}).await;
    s.register(
        "img",
        &json!({"type": "zarr", "file_name": "big.zarr", "dataset": "v"}),
    )
    .await;
    let info = check_all_scales(&s, "img", 1).await;
    let res: Vec<Value> = info["scales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resolution"].clone())
        .collect();
    assert_eq!(
        res,
        vec![json!([4, 4, 8]), json!([8, 8, 8]), json!([16, 16, 16])]
    );
    assert_eq!(info["scales"][1]["voxel_offset"], json!([0, 1, 3]));

    // A coarse chunk comes from the next finer scale's cached chunks, not from scale 0.
    s.register("fresh", &json!({"type": "crop", "roi": {"offset": [24, 12, 4], "shape": [160, 600, 560]}, "source_array_config": "img"})).await;
    for name in [
        "0-64_1-65_3-23",
        "64-71_1-65_3-23",
        "0-64_65-77_3-23",
        "64-71_65-77_3-23",
    ] {
        assert_eq!(
            s.get(&format!("/v1/arrays/fresh/precomputed/s1/{name}"))
                .await
                .status(),
            200
        );
    }
    let before = s.state.metrics.evaluation_count("crop");
    assert!(before > 0);
    let r = s
        .get("/v1/arrays/fresh/precomputed/s2/0-36_0-39_1-12")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.state.metrics.evaluation_count("crop"),
        before,
        "scale 2 re-read scale 0"
    );

    // Served dtypes: bool → uint8, float64 → float32, int64 → int32.
    s.register(
        "ones",
        &json!({"type": "ones", "source_array_config": "img"}),
    )
    .await;
    s.register(
        "zeros",
        &json!({"type": "intensities", "min": 0, "max": 1, "source_array_config": "img"}),
    )
    .await;
    s.register(
        "big",
        &json!({"type": "constant", "constant": 300, "source_array_config": "img"}),
    )
    .await;
    for (name, dtype, served, itemsize) in [
        ("ones", "bool", "uint8", 1),
        ("zeros", "float32", "float32", 4),
    ] {
        let info = check_all_scales(&s, name, itemsize).await;
        assert_eq!(info["data_type"], served);
        assert_eq!(info["arrayd_dtype"], dtype);
    }
    let info: Value = s
        .get("/v1/arrays/big/precomputed/info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (info["data_type"].as_str(), info["arrayd_dtype"].as_str()),
        (Some("int32"), Some("int64"))
    );
    let r = s.get("/v1/arrays/big/precomputed/s0/1-65_3-67_3-23").await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), 64 * 64 * 20 * 4);
    assert!(
        bytes
            .chunks_exact(4)
            .all(|c| i32::from_le_bytes(c.try_into().unwrap()) == 300)
    );
}

#[tokio::test]
async fn http_behaviour_of_chunks() {
    let s = TestServer::golden().await;
    s.register(
        "raw",
        &json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw"}),
    )
    .await;
    let url = "/v1/arrays/raw/precomputed/s0/0-44_0-36_0-20";
    let full = s.get(url).await;
    assert_eq!(
        full.headers()["cache-control"],
        "public, max-age=0, must-revalidate"
    );
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"));
    let full = full.bytes().await.unwrap();
    assert_eq!(full.len(), 44 * 36 * 20);
    let r = s
        .client
        .get(s.url(url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = s
        .client
        .get(s.url(url))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 0-9/{}", full.len())
    );
    assert_eq!(r.bytes().await.unwrap(), full.slice(0..10));
    let r = s
        .client
        .get(s.url(url))
        .header("range", "bytes=99999-")
        .send()
        .await
        .unwrap();
    assert_problem(r, 416).await;
    let r = s
        .client
        .get(s.url(url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let r = s
        .client
        .get(s.url(url))
        .header("accept-encoding", "gzip")
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(
        r.headers().get("content-encoding").is_none(),
        "a range must be of the identity bytes"
    );

    for bad in [
        "s0/1-44_0-36_0-20",
        "s0/0-43_0-36_0-20",
        "s0/banana",
        "s0/0-44_0-36",
    ] {
        assert_problem(
            s.get(&format!("/v1/arrays/raw/precomputed/{bad}")).await,
            400,
        )
        .await;
    }
    for missing in [
        "s0/64-128_0-36_0-20",
        "s9/0-44_0-36_0-20",
        "provenance",
        "segment_properties/info",
    ] {
        assert_problem(
            s.get(&format!("/v1/arrays/raw/precomputed/{missing}"))
                .await,
            404,
        )
        .await;
    }
    let r = s
        .client
        .request(reqwest::Method::OPTIONS, s.url(url))
        .header("origin", "http://ng.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "range")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("range")
    );
}

#[tokio::test]
async fn neuroglancer_redirect_and_state() {
    let s = TestServer::start_with(&crate::support::golden_dir(), |st| {
        st.neuroglancer_url = "http://ng.example/viewer/".into()
    })
    .await;
    s.register(
        "labels",
        &json!({"type": "zarr", "file_name": "data/labels.zarr", "dataset": "labels"}),
    )
    .await;
    let st: Value = s
        .get("/v1/arrays/labels/neuroglancer?format=json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["layers"][0]["type"], "segmentation");
    assert_eq!(
        st["layers"][0]["source"],
        format!("precomputed://{}/v1/arrays/labels/precomputed", s.base)
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(s.url("/v1/arrays/labels/neuroglancer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let fragment = loc.strip_prefix("http://ng.example/viewer/#!").expect(&loc);
    let decoded = percent_encoding::percent_decode_str(fragment)
        .decode_utf8()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&decoded).unwrap(), st);
    assert_problem(
        s.get("/v1/arrays/labels/neuroglancer?format=xml").await,
        400,
    )
    .await;
    assert_problem(s.get("/v1/arrays/none/neuroglancer").await, 404).await;
}
