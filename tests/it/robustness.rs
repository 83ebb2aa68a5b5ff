//! Malformed input never crashes the server or yields a 5xx: arbitrary URLs under every
//! route, arbitrary query strings and arbitrary config documents get 4xx problems (or a
//! success), never a panic, a hang or a 500.

use std::sync::OnceLock;
use std::time::Duration;

use crate::support::TestServer;
use proptest::prelude::*;
use serde_json::{Value, json};

fn runtime() -> &'static (tokio::runtime::Runtime, TestServer) {
    static RT: OnceLock<(tokio::runtime::Runtime, TestServer)> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(async {
            let s = TestServer::golden().await;
            s.register(
                "raw",
                &json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw"}),
            )
            .await;
            s.register(
                "labels",
                &json!({"type": "zarr", "file_name": "data/labels.zarr", "dataset": "labels"}),
            )
            .await;
            s
        });
        (rt, server)
    })
}

/// Percent-encodes everything but unreserved characters and `/`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-z_]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "raw",
            "labels",
            "zarr",
            "binarize",
            "resampled",
            "crop",
            "concat",
            "dvid",
            "uint8"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "type",
                    "name",
                    "source_array_config",
                    "source_array_configs",
                    "groupings",
                    "roi",
                    "offset",
                    "shape",
                    "upsample",
                    "downsample",
                    "interp_order",
                    "min",
                    "max",
                    "channels",
                    "file_name",
                    "dataset",
                    "constant",
                    "dtype",
                    "chunk_shape",
                    "cache",
                    "background",
                    "source",
                    "x",
                ]),
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_urls_get_no_5xx(
        prefix in prop::sample::select(vec![
            "/v1/arrays/raw/roi?", "/v1/arrays/labels/precomputed/", "/v1/arrays/raw/zarr/", "/v1/arrays/raw/zarr2/",
            "/v1/arrays/raw/ome-zarr/", "/v1/zarr/", "/v1/zarr2/", "/v1/arrays/", "/v1/arrays/raw/neuroglancer?", "/",
        ]),
        tail in "[ -~]{0,40}",
        method in prop::sample::select(vec!["GET", "HEAD", "DELETE", "OPTIONS", "POST"]),
        range in proptest::option::of("[ -~]{0,20}"),
    ) {
        let (rt, s) = runtime();
        let url = format!("{}{prefix}{}", s.base, encode(&tail).replace("%3D", "=").replace("%26", "&"));
        rt.block_on(async {
            let mut req = s.client.request(method.parse().unwrap(), &url).timeout(Duration::from_secs(20));
            if let Some(r) = &range && let Ok(v) = reqwest::header::HeaderValue::from_str(r) {
                req = req.header("range", v);
            }
            let resp = req.send().await.expect("the server answered");
            prop_assert!(resp.status().as_u16() < 500, "{method} {url} -> {}", resp.status());
            Ok(())
        })?;
    }

    #[test]
    fn arbitrary_configs_get_no_5xx(config in json_value(), name in "[a-z]{1,8}") {
        let (rt, s) = runtime();
        rt.block_on(async {
            let resp = s.put_json(&format!("/v1/arrays/fz-{name}?dry_run=true"), &config).await;
            let status = resp.status().as_u16();
            prop_assert!(matches!(status, 200 | 201 | 400 | 422), "{config} -> {status}");
            if status >= 400 {
                let body: Value = resp.json().await.unwrap();
                prop_assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
            }
            Ok(())
        })?;
    }
}

/// Integers where arithmetic breaks: i64 limits, powers of two around the world bound,
/// and products that overflow.
fn extreme() -> impl Strategy<Value = i64> {
    prop_oneof![
        prop::sample::select(vec![
            i64::MIN,
            i64::MIN + 1,
            -(1 << 48) - 1,
            -1,
            0,
            1,
            2,
            3,
            4,
            1 << 31,
            1 << 32,
            (1 << 48) - 1,
            1 << 48,
            (1 << 48) + 1,
            1 << 62,
            i64::MAX - 1,
            i64::MAX,
        ]),
        -100i64..100,
    ]
}

fn triple() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(extreme(), 3)
}

fn csv(v: &[i64]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn extreme_integers_in_roi_queries_are_answered_exactly_or_refused(
        offset in triple(),
        shape in triple(),
        voxels in any::<bool>(),
        fill in any::<bool>(),
    ) {
        let (rt, s) = runtime();
        let mut q = format!("offset={}&shape={}&format=raw", csv(&offset), csv(&shape));
        if voxels { q.push_str("&units=voxels"); }
        if fill { q.push_str("&fill=0"); }
        rt.block_on(async {
            let resp = s.get(&format!("/v1/arrays/raw/roi?{q}")).await;
            let status = resp.status().as_u16();
            prop_assert!(matches!(status, 200 | 400 | 413), "{q} -> {status}");
            if status == 200 {
                let dims: Vec<u64> = resp.headers()["x-array-shape"].to_str().unwrap()
                    .split(',').map(|d| d.parse().unwrap()).collect();
                let body = resp.bytes().await.unwrap();
                prop_assert_eq!(body.len() as u64, dims.iter().product::<u64>(), "{}", q);
                prop_assert!(dims.iter().all(|&d| d > 0), "{q}: empty 200");
            }
            Ok(())
        })?;
    }

    #[test]
    fn extreme_integers_in_config_fields_are_refused_or_readable(
        kind in 0usize..5,
        a in triple(),
        b in triple(),
        n in extreme(),
    ) {
        let (rt, s) = runtime();
        let config = match kind {
            0 => json!({"type": "crop", "source_array_config": "raw", "roi": {"offset": a, "shape": b}}),
            1 => json!({"type": "zarr", "file_name": "data/raw.zarr", "dataset": "raw", "chunk_shape": a}),
            2 => json!({"type": "resampled", "source_array_config": "raw", "upsample": a, "downsample": b, "interp_order": 0}),
            3 => json!({"type": "constant", "source_array_config": "raw", "constant": n, "dtype": "int64"}),
            _ => json!({"type": "ones", "source_array_config": {"type": "crop", "name": "c", "source_array_config": "labels", "roi": {"offset": a, "shape": b}}, "chunk_shape": [n, 4, 4]}),
        };
        rt.block_on(async {
            let resp = s.put_json("/v1/arrays/xi", &config).await;
            let status = resp.status().as_u16();
            prop_assert!(matches!(status, 200 | 201 | 422), "{config} -> {status}");
            if status < 300 {
                let detail: Value = s.get("/v1/arrays/xi").await.json().await.unwrap();
                let m = &detail["metadata"];
                let q = format!("offset={}&shape={}", csv(&serde_json::from_value::<Vec<i64>>(m["roi"]["offset"].clone()).unwrap()),
                    csv(&serde_json::from_value::<Vec<i64>>(m["voxel_size"].clone()).unwrap()));
                let read = s.get(&format!("/v1/arrays/xi/roi?{q}")).await;
                prop_assert!(read.status().as_u16() < 500, "{config}: read {q} -> {}", read.status());
                let zarr = s.get("/v1/arrays/xi/zarr/zarr.json").await;
                prop_assert!(zarr.status().as_u16() < 500, "{config}: zarr.json -> {}", zarr.status());
                let resp = s.client.delete(s.url("/v1/arrays/xi")).send().await.unwrap();
                prop_assert_eq!(resp.status().as_u16(), 204);
            }
            Ok(())
        })?;
    }
}
