//! The fake DVID itself follows `spec/dvid.md`, and the label-block codec matches DVID's
//! own fixtures (`../shared/fixtures/dvid-testdata`, skipped when absent).

use arrayd::dvid::blocks::{decode_block, decode_gzip_block, encode_block, gunzip, parse_stream};
use serde_json::{Value, json};

use super::seed::*;

fn u64s(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The fake itself follows spec/dvid.md §1-§8 (checked with independent decoders).
#[tokio::test]
async fn the_fake_speaks_dvid() {
    let fake = seeded_fake().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |p: String| http.get(format!("{}{p}", fake.url())).send();
    let info: Value = get("/api/server/info".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        info.as_object().unwrap().values().all(Value::is_string),
        "{info}"
    );
    let li: Value = get(format!("/api/node/{ROOT}/labels/info"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(li["Base"]["TypeName"], "labelmap");
    assert_eq!(li["Extended"]["Values"][0]["DataType"], "uint64");
    assert_eq!(li["Extended"]["VoxelSize"], json!([8.0, 8.0, 16.0]));
    assert_eq!(li["Extended"]["MaxPoint"], json!([127, 127, 63]));
    assert_eq!(li["Extended"]["MaxIndex"], json!([1, 1, 0]));
    assert_eq!(li["Extents"]["MinPoint"], json!([0, 0, 0]));
    assert_eq!(li["Extended"]["MaxDownresLevel"], 1);
    let empty: Value = get(format!("/api/node/{ROOT}/empty/info"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(empty["Extents"]["MaxPoint"].is_null() && empty["Extended"]["MinIndex"].is_null());
    let commit: Value = get("/api/node/a1b2c/commit".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(commit, json!({"Locked": true}));
    let versions: Value = get(format!("/api/repo/{DEV}/branch-versions/master"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions, json!([CHILD, ROOT]));
    let head = http
        .head(format!("{}/api/repo/a1b2c", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    // The four /blocks compressions carry the same blocks, in varying record order.
    let blocks = format!("/api/node/{ROOT}/labels/blocks/128_128_64/0_0_0");
    let mut orders = std::collections::HashSet::new();
    let mut decoded = Vec::new();
    for compression in ["lz4", "uncompressed", "gzip", "blocks", "lz4", "lz4", "lz4"] {
        let body = get(format!("{blocks}?compression={compression}"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let records = parse_stream(&body).unwrap();
        orders.insert(records.iter().map(|r| r.coord_xyz).collect::<Vec<_>>());
        let mut got: Vec<([i32; 3], Vec<u64>)> = records
            .iter()
            .map(|r| {
                let labels = match compression {
                    "lz4" => {
                        u64s(&lz4_flex::block::decompress(r.payload, 64 * 64 * 64 * 8).unwrap())
                    }
                    "uncompressed" => u64s(r.payload),
                    "gzip" => u64s(&gunzip(r.payload, 64 << 20).unwrap()),
                    _ => decode_gzip_block(r.payload, [64, 64, 64]).unwrap().labels,
                };
                (r.coord_xyz, labels)
            })
            .collect();
        got.sort();
        decoded.push(got);
    }
    assert!(orders.len() > 1, "records always came in the same order");
    let want: Vec<([i32; 3], Vec<u64>)> = [[0, 0, 0], [0, 1, 0], [1, 0, 0]]
        .into_iter()
        .map(|c: [i32; 3]| {
            let begin = [
                i64::from(c[2]) * 64,
                i64::from(c[1]) * 64,
                i64::from(c[0]) * 64,
            ];
            (c, expected(begin, [64, 64, 64], label_value))
        })
        .collect();
    assert!(decoded.iter().all(|d| *d == want));
    let specific = get(format!(
        "/api/node/{ROOT}/labels/specificblocks?blocks=1,0,0,1,1,0"
    ))
    .await
    .unwrap();
    let body = specific.bytes().await.unwrap();
    let records = parse_stream(&body).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        decode_gzip_block(records[0].payload, [64, 64, 64])
            .unwrap()
            .labels,
        want[2].1
    );

    // raw: any offset, zeros outside stored data; uint8blk block rows.
    let raw = get(format!("/api/node/{ROOT}/labels/raw/0_1_2/4_4_4/-2_-2_-2"))
        .await
        .unwrap();
    let raw = u64s(&raw.bytes().await.unwrap());
    assert_eq!(
        raw,
        expected([-2, -2, -2], [4, 4, 4], |z, y, x| {
            if z < 0 || y < 0 || x < 0 {
                0
            } else {
                label_value(z, y, x)
            }
        })
    );
    let row = get(format!("/api/node/{ROOT}/grayscale/blocks/1_0_0/2"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(row.len(), 2 * 32 * 32 * 32);
    assert_eq!(u64::from(row[32 * 32 * 32 + 5]), gray_value(0, 0, 64 + 5));

    // Errors: DVID's plain text, `<message> (<path>).`
    for (path, status, message) in [
        (format!("/api/node/{ROOT}/labels/blocks/100_128_64/0_0_0"), 400, "cannot use labels via 'blocks' endpoint in non-block aligned geometry 100_128_64 -> 0_0_0".to_owned()),
        (format!("/api/node/{ROOT}/labels/blocks/64_64_64/0_0_0?compression=zip"), 400, r#"compression must be "lz4" (default), "gzip", "blocks" or "uncompressed""#.to_owned()),
        (format!("/api/node/{ROOT}/labels/raw/0_1_2/0_4_4/0_0_0"), 400, "Illegal geometry requested".to_owned()),
        (format!("/api/node/{ROOT}/labels/raw/0_1_2/64_64_64/64_64_0?compression=lz4"), 400, "unable to get label block [1, 1, 0]".to_owned()),
        (format!("/api/node/{ROOT}/nosuch/info"), 400, "invalid data instance name".to_owned()),
        ("/api/node/a1b2/labels/info".to_owned(), 400, "more than one UUID matches a1b2".to_owned()),
    ] {
        let r = get(path.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        let at = path.split('?').next().unwrap();
        assert_eq!(r.text().await.unwrap(), format!("{message} ({at}).\n"));
    }
    let r = get(format!("/api/node/{ROOT}/labels/sparsevol/1"))
        .await
        .unwrap();
    assert!(r.text().await.unwrap().starts_with(&format!(
        "Bad API call (/api/node/{ROOT}/labels/sparsevol/1) for data \"labels\""
    )));
    let r = get(format!("/api/node/{ROOT}/labels")).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (404, "404 page not found\n".to_owned())
    );
}

#[test]
fn label_block_codec_matches_dvids_fixtures() {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/dvid-testdata"
    ));
    if !dir.is_dir() {
        println!("skipped: {} is absent", dir.display());
        return;
    }
    let read_gz = |name: &str| gunzip(&std::fs::read(dir.join(name)).unwrap(), 64 << 20).unwrap();
    let raw: Vec<u64> = read_gz("fib19-64x64x64-sample1.dat.gz")
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let block = read_gz("fib19-64x64x64-sample1-block.dat.gz");
    let decoded = decode_block(&block).unwrap();
    assert_eq!(decoded.shape, [64, 64, 64]);
    assert_eq!(
        decoded.labels, raw,
        "DVID's block decodes to DVID's raw volume"
    );
    // Our encoder writes the same layout (label order may differ, Go maps are unordered).
    let ours = encode_block(&raw, [64, 64, 64]).unwrap();
    assert_eq!(ours.len(), block.len());
    assert_eq!(&ours[..16], &block[..16]);
    assert_eq!(decode_block(&ours).unwrap().labels, raw);

    let stream = std::fs::read(dir.join("stream_1block.dat")).unwrap();
    let records = parse_stream(&stream).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].coord_xyz, [0, 0, 0]);
    assert_eq!(records[0].payload.len(), 114_168);
    let b = decode_gzip_block(records[0].payload, [64, 64, 64]).unwrap();
    let mut distinct = b.labels.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    let again = encode_block(&b.labels, [64, 64, 64]).unwrap();
    assert_eq!(decode_block(&again).unwrap(), b);
}
