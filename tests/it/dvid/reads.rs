//! Reads through `/roi` are voxel-exact: grayscale and labels, unaligned, across blocks,
//! from shuffled multi-block streams, at other scales and stored levels (labelmap scales, grayscale `NAME_k` instances), through the
//! raw-lz4 fallback, and split into requests of at most 256³ voxels.

use arrayd::geometry::Roi;
use arrayd::volume::Volume;
use serde_json::{Value, json};

use super::seed::*;
use crate::support::fake_dvid::{Fault, InstanceSpec, Scope};

#[tokio::test]
async fn grayscale_reads_are_voxel_exact() {
    let e = env().await;
    e.s.register("gray", &e.config(ROOT, "grayscale")).await;
    let vs = [8, 4, 4];
    // The whole array: z 64..71 lies inside the extents but was never written (zeros).
    for (begin, shape) in [
        ([2, 3, 5], [69, 88, 96]),
        ([30, 10, 33], [40, 50, 37]),
        ([63, 31, 31], [2, 2, 2]),
    ] {
        let v = e.read("gray", vs, begin, shape).await;
        assert_eq!(v.shape(), shape.map(|s| s as usize));
        assert_eq!(
            as_u64(&v),
            expected(begin, shape, gray_value),
            "{begin:?} {shape:?}"
        );
    }
    // Block-aligned raw requests only, at most 256³ each, DVID's x,y,z order.
    let raws: Vec<String> = e
        .fake
        .log()
        .into_iter()
        .filter(|l| l.endpoint == "raw")
        .map(|l| l.path)
        .collect();
    assert!(!raws.is_empty());
    for p in &raws {
        let parts: Vec<&str> = p.rsplit('/').take(2).collect();
        for n in parts.iter().flat_map(|s| s.split('_')) {
            assert_eq!(n.parse::<i64>().unwrap() % 32, 0, "{p}");
        }
    }
}

#[tokio::test]
async fn labelmap_and_labelarray_reads_are_voxel_exact() {
    let e = env().await;
    e.s.register("seg", &e.config(ROOT, "labels")).await;
    let vs = [16, 8, 8];
    for (begin, shape) in [
        ([0, 0, 0], [64, 128, 128]),
        ([5, 40, 60], [45, 60, 10]),
        ([7, 100, 100], [3, 20, 20]),
    ] {
        let v = e.read("seg", vs, begin, shape).await;
        assert_eq!(
            as_u64(&v),
            expected(begin, shape, label_value),
            "{begin:?} {shape:?}"
        );
    }
    let log = e.fake.log();
    let blocks: Vec<_> = log.iter().filter(|l| l.endpoint == "blocks").collect();
    assert!(!blocks.is_empty());
    assert!(
        blocks
            .iter()
            .all(|l| l.query.contains("compression=blocks")),
        "{blocks:?}"
    );
    assert_eq!(e.fake.count("raw"), 0, "no fallback was needed");

    // labelarray takes the same path; supervoxels are asked for on labelmap only.
    e.s.register("arr", &e.config(ROOT, "labelarr")).await;
    let v = e.read("arr", [8, 8, 8], [3, 10, 20], [20, 50, 40]).await;
    assert_eq!(as_u64(&v), expected([3, 10, 20], [20, 50, 40], label_value));
    let mut sv = e.config(ROOT, "labels");
    sv["supervoxels"] = json!(true);
    e.s.register("sv", &sv).await;
    e.read("sv", vs, [0, 0, 0], [8, 8, 8]).await;
    let last = e
        .fake
        .log()
        .into_iter()
        .rfind(|l| l.endpoint == "blocks")
        .unwrap();
    assert!(last.query.contains("supervoxels=true"), "{}", last.query);
}

#[tokio::test]
async fn labelmap_scales_are_levels() {
    let e = env().await;
    let mut c = e.config(ROOT, "labels");
    c["scale"] = json!(1);
    e.s.register("s1", &c).await;
    let want = |z, y, x| label_value(2 * z, 2 * y, 2 * x);
    let v = e.read("s1", [32, 16, 16], [0, 0, 0], [32, 64, 64]).await;
    assert_eq!(as_u64(&v), expected([0, 0, 0], [32, 64, 64], want));
    assert!(
        e.fake
            .log()
            .iter()
            .any(|l| l.endpoint == "blocks" && l.query.contains("scale=1"))
    );
    let s1 = e.s.state.registry.get("s1").unwrap();
    assert!(s1.array().unwrap().stored_levels().is_empty());

    e.s.register("s0", &e.config(ROOT, "labels")).await;
    let entry = e.s.state.registry.get("s0").unwrap();
    let levels = entry.array().unwrap().stored_levels();
    assert_eq!(levels.len(), 1);
    let m = levels[0].meta();
    assert_eq!(m.voxel_size.to_vec(), [32, 16, 16]);
    assert_eq!(m.roi, Roi::new([0, 0, 0], [1024, 1024, 1024]));
    let roi = Roi::new([64, 160, 0], [320, 480, 1024]);
    let v = arrayd::eval::read_roi(&e.s.state.ctx, &levels[0], &roi, None)
        .await
        .unwrap();
    assert_eq!(as_u64(&v), expected([2, 10, 0], [10, 30, 64], want));

    // The precomputed pyramid uses DVID's own scale 1 as its level 1 (not a computed
    // 2x of the finest axes, which would be 16x16x16 nm here).
    let info: serde_json::Value =
        e.s.get("/v1/arrays/s0/precomputed/info")
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(info["scales"][1]["resolution"], json!([16, 16, 32]));
    assert_eq!(info["scales"][1]["voxel_offset"], json!([0, 0, 0]));
    let size: Vec<i64> = serde_json::from_value(info["scales"][1]["size"].clone()).unwrap();
    let chunk: Vec<i64> =
        serde_json::from_value(info["scales"][1]["chunk_sizes"][0].clone()).unwrap();
    let end: Vec<i64> = (0..3).map(|d| chunk[d].min(size[d])).collect();
    let url = format!(
        "/v1/arrays/s0/precomputed/s1/0-{}_0-{}_0-{}",
        end[0], end[1], end[2]
    );
    let r = e.s.get(&url).await;
    assert_eq!(r.status(), 200, "{url}");
    let bytes = r.bytes().await.unwrap();
    let ext = [end[0] as usize, end[1] as usize, end[2] as usize];
    let got =
        arrayd::encode::compressed_segmentation::decode::<u64>(&bytes, ext, 1, [8, 8, 8]).unwrap();
    assert_eq!(got, expected([0, 0, 0], [end[2], end[1], end[0]], want));
}

#[tokio::test]
async fn broken_block_streams_fall_back_to_raw_lz4() {
    let e = env().await;
    e.s.register("seg", &e.config(ROOT, "labels")).await;
    e.fake.set_fault(Scope::Blocks, Fault::Garbage);
    // Includes the never-stored block (1,1,0), which DVID's single-block path refuses.
    let v = e.read("seg", [16, 8, 8], [0, 0, 0], [64, 128, 128]).await;
    assert_eq!(as_u64(&v), expected([0, 0, 0], [64, 128, 128], label_value));
    let raws: Vec<_> = e
        .fake
        .log()
        .into_iter()
        .filter(|l| l.endpoint == "raw")
        .collect();
    assert_eq!(raws.len(), 4, "one fallback per chunk");
    assert!(raws.iter().all(|l| l.query.contains("compression=lz4")));
}

#[tokio::test]
async fn reads_above_256_cubed_are_split() {
    let e = env().await;
    e.fake.add_instance(
        ROOT,
        InstanceSpec::new("big", "uint8blk", [32, 32, 32], [1.0, 1.0, 1.0]),
    );
    e.fake.set_extents(ROOT, "big", [0, 0, 0], [575, 255, 127]);
    let corner = |z: i64, y: i64, x: i64| ((x + 2 * y + 3 * z) % 200 + 1) as u64;
    write(
        &e.fake,
        ROOT,
        "big",
        0,
        [96, 224, 544],
        [32, 32, 32],
        corner,
    );
    let mut c = e.config(ROOT, "big");
    c["chunk_shape"] = json!([128, 256, 576]);
    e.s.register("big", &c).await;
    let v = e.read("big", [1, 1, 1], [0, 0, 0], [128, 256, 576]).await;
    let Volume::U8(a) = &v else {
        panic!("uint8 expected")
    };
    assert_eq!(a.shape(), [128, 256, 576]);
    assert_eq!(a[[100, 230, 550]] as u64, corner(100, 230, 550));
    assert_eq!(a[[127, 255, 575]] as u64, corner(127, 255, 575));
    let nonzero = a.iter().filter(|&&x| x != 0).count();
    assert_eq!(nonzero, 32 * 32 * 32);
    let mut sizes: Vec<String> = e
        .fake
        .log()
        .into_iter()
        .filter(|l| l.endpoint == "raw")
        .map(|l| l.path.split('/').nth(7).unwrap().to_owned())
        .collect();
    sizes.sort();
    // 128·256·576 voxels > 256³: two requests of whole blocks, each ≤ 256³.
    assert_eq!(
        sizes,
        ["576_256_32", "576_256_96"].map(String::from).to_vec(),
        "{sizes:?}"
    );
}

#[tokio::test]
async fn chains_read_dvid_sources() {
    let e = env().await;
    e.s.register("seg", &e.config(ROOT, "labels")).await;
    e.s.register(
        "fg",
        &json!({"type": "binarize", "source_array_config": "seg", "groupings": [["solid", [77]], ["any", []]]}),
    )
    .await;
    let (begin, shape) = ([10, 50, 50], [4, 30, 30]);
    let v = e.read("fg", [16, 8, 8], begin, shape).await;
    let labels = expected(begin, shape, label_value);
    let n = labels.len();
    let want: Vec<u64> = labels
        .iter()
        .map(|&l| u64::from(l == 77))
        .chain(labels.iter().map(|&l| u64::from(l != 0)))
        .collect();
    assert_eq!(v.shape(), [2, 4, 30, 30]);
    assert_eq!(as_u64(&v), want);
    assert!(want[..n].contains(&1) && want[n..].contains(&0));
}

#[tokio::test]
async fn multi_block_streams_are_placed_by_coordinate() {
    let e = env().await;
    let mut c = e.config(ROOT, "labels");
    c["chunk_shape"] = json!([64, 128, 128]);
    e.s.register("wide", &c).await;
    let v = e.read("wide", [16, 8, 8], [0, 0, 0], [64, 128, 128]).await;
    assert_eq!(as_u64(&v), expected([0, 0, 0], [64, 128, 128], label_value));
    let blocks: Vec<_> = e
        .fake
        .log()
        .into_iter()
        .filter(|l| l.endpoint == "blocks")
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "one request for four blocks (three stored, shuffled)"
    );
    assert!(
        blocks[0].path.ends_with("/labels/blocks/128_128_64/0_0_0"),
        "{}",
        blocks[0].path
    );
}

/// Stored level 1 of `em`: unlike a downsampling of level 0.
fn em1_value(z: i64, y: i64, x: i64) -> u64 {
    (200 - (x * 3 + y + z) % 50) as u64
}

/// Mean of 2³ voxels, rounded half to even (the `downsample` rule for integers).
fn mean8(f: impl Fn(i64, i64, i64) -> u64, z: i64, y: i64, x: i64) -> u8 {
    let mut sum = 0;
    for (dz, dy, dx) in (0..8).map(|i| (i / 4, (i / 2) % 2, i % 2)) {
        sum += f(2 * z + dz, 2 * y + dy, 2 * x + dx);
    }
    let (q, r) = (sum / 8, sum % 8);
    u8::try_from(if r > 4 || (r == 4 && q % 2 == 1) {
        q + 1
    } else {
        q
    })
    .unwrap()
}

#[tokio::test]
async fn grayscale_pyramid_instances_are_stored_levels() {
    let e = env().await;
    // em_2 covers a quarter of the level it claims to be: a misfit, computed instead.
    let instances = [
        (
            "em",
            4.0,
            [64, 256, 256],
            gray_value as fn(i64, i64, i64) -> u64,
        ),
        ("em_1", 8.0, [32, 128, 128], em1_value),
        ("em_2", 16.0, [8, 32, 32], |_, _, _| 9),
    ];
    for (name, vs, shape, f) in instances {
        let spec = InstanceSpec::new(name, "uint8blk", [32, 32, 32], [vs; 3]);
        e.fake.add_instance(ROOT, spec);
        write(&e.fake, ROOT, name, 0, [0, 0, 0], shape, f);
    }
    let r = e.s.put_json("/v1/arrays/em", &e.config(ROOT, "em")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        e.s.level_origins("em").await,
        ["array", "stored", "computed"]
    );
    let detail: Value = e.s.get("/v1/arrays/em").await.json().await.unwrap();
    assert_eq!(detail["levels"][1]["voxel_size"], json!([8, 8, 8]));

    let want1: Vec<u8> = fill([0, 0, 0], [32, 64, 64], em1_value)
        .into_iter()
        .map(|v| u8::try_from(v).unwrap())
        .collect();
    assert_eq!(
        e.s.get_bytes("/v1/arrays/em/precomputed/s1/0-64_0-64_0-32")
            .await,
        want1
    );
    let want2: Vec<u8> = (0..16 * 64 * 64)
        .map(|i| mean8(em1_value, i / 4096, (i / 64) % 64, i % 64))
        .collect();
    assert_eq!(
        e.s.get_bytes("/v1/arrays/em/precomputed/s2/0-64_0-64_0-16")
            .await,
        want2
    );
    // Level 1 was read from em_1 itself.
    assert!(
        e.fake
            .log()
            .iter()
            .any(|l| l.path.contains("/em_1/") && l.endpoint != "info"),
        "no read of em_1"
    );
}
