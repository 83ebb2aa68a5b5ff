//! What people see, over a real server: jpeg/png precomputed chunks decoded and compared
//! with the raw chunks (png exactly, jpeg within a tolerance), encodings refused where
//! the array cannot take them, segment properties against counts of the voxels, and
//! preview.png decoded. The pages (states, local client, index) are in `viewer_pages`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{TestServer, assert_problem, golden_dir, write_zarr_u8};
use serde_json::{Value, json};

/// A smooth uint8 image (JPEG-friendly), z,y,x.
fn smooth(shape: [usize; 3]) -> Vec<u8> {
    let mut out = Vec::with_capacity(shape.iter().product());
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                out.push(((x * 2 + y + z * 3) % 200 + 20) as u8);
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

const SHAPE: [usize; 3] = [40, 70, 90];

/// A data root with `img.zarr/raw` (uint8, [`SHAPE`], voxel 8,4,4 nm) and the golden
/// `labels.zarr`; a server over it with `raw`, `labels` and `annotated` registered.
pub async fn server(
    tweak: impl FnOnce(&mut arrayd::settings::Settings),
) -> (TestServer, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    write_zarr_u8(
        root.path(),
        "img.zarr",
        "raw",
        &SHAPE.map(|s| s as u64),
        &[16, 32, 32],
        json!({"voxel_size": [8, 4, 4], "offset": [80, 40, 40]}),
        &smooth(SHAPE),
    );
    copy_dir(
        &golden_dir().join("data/labels.zarr"),
        &root.path().join("labels.zarr"),
    );
    let s = TestServer::start_with(root.path(), tweak).await;
    s.register(
        "raw",
        &json!({"type": "zarr", "file_name": "img.zarr", "dataset": "raw"}),
    )
    .await;
    s.register(
        "labels",
        &json!({"type": "zarr", "file_name": "labels.zarr", "dataset": "labels"}),
    )
    .await;
    s.register(
        "annotated",
        &json!({"type": "zarr", "file_name": "labels.zarr", "dataset": "labels_annotated",
                "segment_names": {"2": "renamed", "999": "absent"}}),
    )
    .await;
    (s, root)
}

pub async fn json_of(s: &TestServer, path: &str) -> Value {
    let r = s.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// Every chunk name of every scale of an info document, with its scale key.
fn chunks(info: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sc in info["scales"].as_array().unwrap() {
        let v = |k: &str| -> Vec<i64> {
            sc[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        };
        let (size, off, ch) = (
            v("size"),
            v("voxel_offset"),
            sc["chunk_sizes"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect::<Vec<_>>(),
        );
        let ranges = |d: usize| -> Vec<(i64, i64)> {
            (0..(size[d] + ch[d] - 1) / ch[d])
                .map(|g| (off[d] + g * ch[d], off[d] + ((g + 1) * ch[d]).min(size[d])))
                .collect()
        };
        for z in ranges(2) {
            for y in ranges(1) {
                for x in ranges(0) {
                    let name = format!("{}-{}_{}-{}_{}-{}", x.0, x.1, y.0, y.1, z.0, z.1);
                    out.push((sc["key"].as_str().unwrap().to_owned(), name));
                }
            }
        }
    }
    out
}

fn decode_png(bytes: &[u8]) -> (u32, u32, png::ColorType, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, buf)
}

#[tokio::test]
async fn jpeg_and_png_chunks_decode_to_the_raw_voxels() {
    let (s, _root) = server(|_| {}).await;
    s.register(
        "png",
        &json!({"type": "zarr", "file_name": "img.zarr", "dataset": "raw", "encoding": "png"}),
    )
    .await;
    s.register(
        "jpeg",
        &json!({"type": "zarr", "file_name": "img.zarr", "dataset": "raw", "encoding": "jpeg", "jpeg_quality": 90}),
    )
    .await;
    let info = json_of(&s, "/v1/arrays/raw/precomputed/info").await;
    assert_eq!(info["scales"][0]["encoding"], "raw");
    for (name, enc) in [("png", "png"), ("jpeg", "jpeg")] {
        let i = json_of(&s, &format!("/v1/arrays/{name}/precomputed/info")).await;
        assert!(
            i["scales"]
                .as_array()
                .unwrap()
                .iter()
                .all(|sc| sc["encoding"] == enc),
            "{i}"
        );
        assert_eq!(i["scales"], {
            let mut want = info["scales"].clone();
            want.as_array_mut()
                .unwrap()
                .iter_mut()
                .for_each(|sc| sc["encoding"] = json!(enc));
            want
        });
    }
    let all = chunks(&info);
    assert_eq!(all.len(), 5, "4 chunks of s0 and one of s1: {all:?}");
    let (mut worst, mut total_err, mut n) = (0u32, 0u64, 0u64);
    for (key, chunk) in &all {
        let raw = s
            .get_bytes(&format!("/v1/arrays/raw/precomputed/{key}/{chunk}"))
            .await;
        let r = s
            .get(&format!("/v1/arrays/png/precomputed/{key}/{chunk}"))
            .await;
        assert_eq!(r.headers()["content-type"], "image/png");
        let (w, h, color, px) = decode_png(&r.bytes().await.unwrap());
        let dims: Vec<u32> = chunk
            .split('_')
            .map(|p| {
                let (a, b) = p.split_once('-').unwrap();
                b.parse::<u32>().unwrap() - a.parse::<u32>().unwrap()
            })
            .collect();
        assert_eq!(
            (w, h, color),
            (dims[0], dims[1] * dims[2], png::ColorType::Grayscale),
            "{chunk}"
        );
        assert_eq!(px, raw, "png {key}/{chunk}");
        let r = s
            .get(&format!("/v1/arrays/jpeg/precomputed/{key}/{chunk}"))
            .await;
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let body = r.bytes().await.unwrap();
        let mut d = jpeg_decoder::Decoder::new(std::io::Cursor::new(&body[..]));
        let px = d.decode().unwrap();
        let meta = d.info().unwrap();
        assert_eq!(
            (u32::from(meta.width), u32::from(meta.height)),
            (dims[0], dims[1] * dims[2])
        );
        assert_eq!(px.len(), raw.len());
        for (a, b) in px.iter().zip(&raw) {
            let e = u32::from(a.abs_diff(*b));
            worst = worst.max(e);
            total_err += u64::from(e);
            n += 1;
        }
    }
    let mean = total_err as f64 / n as f64;
    assert!(
        mean < 3.0 && worst < 80,
        "jpeg error: mean {mean}, worst {worst}"
    );
    assert!(
        mean > 0.0,
        "jpeg at quality 90 is lossy; a zero error means raw bytes were served"
    );
}

#[tokio::test]
async fn encodings_are_refused_where_the_array_cannot_take_them() {
    let (s, _root) =
        server(|st| st.image_encoding = arrayd::encode::image::ChunkEncoding::Jpeg).await;
    let put = |name: &'static str, cfg: Value| {
        let s = &s;
        async move { assert_problem(s.put_json(&format!("/v1/arrays/{name}"), &cfg).await, 422).await }
    };
    let p = put("l", json!({"type": "zarr", "file_name": "labels.zarr", "dataset": "labels", "encoding": "jpeg"})).await;
    assert_eq!(p["problems"][0]["field"], "encoding");
    assert!(
        p["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("segmentation"),
        "{p}"
    );
    let p = put("f", json!({"type": "intensities", "source_array_config": "raw", "min": 0, "max": 255, "encoding": "png"})).await;
    assert!(
        p["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("uint8 or uint16 with 1 to 4 channels"),
        "{p}"
    );
    let p = put("q", json!({"type": "zarr", "file_name": "img.zarr", "dataset": "raw", "jpeg_quality": 101, "encoding": "gif"})).await;
    let fields: Vec<&str> = p["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["encoding", "jpeg_quality"]);
    let p = put("i", json!({"type": "binarize", "groupings": [["a", [1]]],
        "source_array_config": {"type": "zarr", "name": "x", "file_name": "labels.zarr", "dataset": "labels", "encoding": "png"}})).await;
    assert_eq!(p["problems"][0]["field"], "source_array_config.encoding");
    let p = put("n", json!({"type": "zarr", "file_name": "img.zarr", "dataset": "raw", "segment_names": {"1": "a"}})).await;
    assert_eq!(p["problems"][0]["field"], "segment_names");
    assert_eq!(
        s.get("/v1/arrays/l").await.status(),
        404,
        "a refused config is not registered"
    );
    // --image-encoding jpeg: uint8 images become jpeg, labels and floats keep theirs.
    s.register(
        "norm",
        &json!({"type": "intensities", "source_array_config": "raw", "min": 0, "max": 255}),
    )
    .await;
    s.register(
        "asked-raw",
        &json!({"type": "zarr", "file_name": "img.zarr", "dataset": "raw", "encoding": "raw"}),
    )
    .await;
    for (name, want) in [
        ("raw", "jpeg"),
        ("norm", "raw"),
        ("labels", "compressed_segmentation"),
        ("asked-raw", "raw"),
    ] {
        let info = json_of(&s, &format!("/v1/arrays/{name}/precomputed/info")).await;
        assert_eq!(info["scales"][0]["encoding"], want, "{name}");
    }
}

#[tokio::test]
async fn segment_properties_list_present_ids_with_counts_and_names() {
    let (s, _root) = server(|_| {}).await;
    let info = json_of(&s, "/v1/arrays/annotated/precomputed/info").await;
    assert_eq!(info["segment_properties"], "segment_properties");
    let raw_info = json_of(&s, "/v1/arrays/raw/precomputed/info").await;
    assert!(raw_info.get("segment_properties").is_none());
    let props = json_of(
        &s,
        "/v1/arrays/annotated/precomputed/segment_properties/info",
    )
    .await;
    assert_eq!(props["@type"], "neuroglancer_segment_properties");
    // The reference: counts of every id in the coarsest level, here level 0 (one chunk).
    let scales = info["scales"].as_array().unwrap();
    assert_eq!(scales.len(), 1);
    let meta = json_of(&s, "/v1/arrays/annotated").await;
    let roi = |k: &str| -> Vec<i64> {
        meta["metadata"]["roi"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect()
    };
    let v = s.roi_npy("annotated", &roi("offset"), &roi("shape")).await;
    let mut want: BTreeMap<u64, u64> = BTreeMap::new();
    for c in v
        .cast(arrayd::dtype::DType::U64)
        .to_le_bytes()
        .chunks_exact(8)
    {
        let id = u64::from_le_bytes(c.try_into().unwrap());
        if id != 0 {
            *want.entry(id).or_default() += 1;
        }
    }
    let inline = &props["inline"];
    let ids: Vec<String> = inline["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let by_id = |pid: &str| -> Vec<Value> {
        let p = inline["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == pid)
            .unwrap();
        assert_eq!(p["values"].as_array().unwrap().len(), ids.len());
        p["values"].as_array().unwrap().clone()
    };
    let counts = by_id("voxels");
    let got: BTreeMap<u64, u64> = ids
        .iter()
        .zip(&counts)
        .filter(|(_, c)| c.as_u64() != Some(0))
        .map(|(i, c)| (i.parse().unwrap(), c.as_u64().unwrap()))
        .collect();
    assert_eq!(got, want);
    let sorted: Vec<u64> = counts.iter().map(|c| c.as_u64().unwrap()).collect();
    assert!(
        sorted.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {sorted:?}"
    );
    let labels = by_id("label");
    let label_of = |id: &str| labels[ids.iter().position(|i| i == id).unwrap()].clone();
    // cellmap name.short, the config's segment_names over it, names of absent ids too.
    assert_eq!(label_of("1"), "c1");
    assert_eq!(label_of("2"), "renamed");
    assert_eq!(label_of("999"), "absent");
    let desc = by_id("description");
    assert_eq!(desc[ids.iter().position(|i| i == "1").unwrap()], "class 1");
    // Cached and conditional.
    let r = s
        .get("/v1/arrays/annotated/precomputed/segment_properties/info")
        .await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = s
        .client
        .get(s.url("/v1/arrays/annotated/precomputed/segment_properties/info"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_problem(
        s.get("/v1/arrays/raw/precomputed/segment_properties/info")
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn preview_png_is_a_slice_of_a_level() {
    let (s, _root) = server(|_| {}).await;
    let r = s.get("/v1/arrays/raw/preview.png").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(r.headers().contains_key("etag"));
    let (w, h, color, px) = decode_png(&r.bytes().await.unwrap());
    assert_eq!((w, h, color), (90, 70, png::ColorType::Grayscale));
    // The middle z slice of level 0 (it fits in 256 px), window 0..255: the voxels.
    let want = smooth(SHAPE);
    let z = SHAPE[0] / 2;
    assert_eq!(px, want[z * 70 * 90..(z + 1) * 70 * 90]);
    // axis=x at index 50 of scale 0 (absolute voxel 60): z down, y across.
    let (w, h, _, px) = decode_png(
        &s.get_bytes("/v1/arrays/raw/preview.png?axis=x&index=60&scale=0")
            .await,
    );
    assert_eq!((w, h), (70, 40));
    assert_eq!(px[3 * 70 + 5], want[(3 * 70 + 5) * 90 + 50]);
    // Labels: a hash colour per id, 0 black, equal ids equal colours.
    let (w, h, color, px) = decode_png(&s.get_bytes("/v1/arrays/labels/preview.png?index=4").await);
    assert_eq!(color, png::ColorType::Rgb);
    let ids = s.roi_npy("labels", &[16, 8, 8], &[4, 104, 128]).await;
    let ids: Vec<u64> = ids
        .cast(arrayd::dtype::DType::U64)
        .to_le_bytes()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!((w * h) as usize, ids.len());
    let mut colour_of: BTreeMap<u64, &[u8]> = BTreeMap::new();
    for (id, rgb) in ids.iter().zip(px.chunks_exact(3)) {
        assert_eq!(*colour_of.entry(*id).or_insert(rgb), rgb, "id {id}");
        assert_eq!(*id == 0, rgb == [0, 0, 0], "id {id} {rgb:?}");
    }
    assert!(colour_of.len() > 2);
    for (bad, key) in [
        ("axis=w", "axis"),
        ("scale=9", "scale"),
        ("scale=s0&index=99", "index"),
        ("index=x", "index"),
        ("size=3", "size"),
    ] {
        let body = assert_problem(
            s.get(&format!("/v1/arrays/raw/preview.png?{bad}")).await,
            400,
        )
        .await;
        assert!(
            body["detail"].as_str().unwrap().contains(key),
            "{bad}: {body}"
        );
    }
    assert_problem(s.get("/v1/arrays/nope/preview.png").await, 404).await;
}
