//! DVID as an upstream source (issue 6, `spec/dvid.md`), against the fake DVID of
//! `crate::support::fake_dvid` (§7) seeded with known volumes: registration pins the version
//! and reads the geometry exactly; reads through `/roi` are voxel-exact for grayscale
//! and labels (unaligned, across blocks, split above 256³, at other scales); the block
//! codec matches DVID's own fixtures; tokens reach DVID but never a problem detail or a
//! log; upstream faults give 502/504/503 problems, are never cached, and reads recover.

mod auth;
mod conformance;
mod fake;
mod faults;
mod reads;
mod seed;

use arrayd::array::Freshness;
use arrayd::geometry::Roi;
use serde_json::{Value, json};

use crate::support::assert_problem;
use seed::*;

#[tokio::test]
async fn registration_pins_the_node_and_reads_the_geometry() {
    let e = env().await;
    let r =
        e.s.put_json("/v1/arrays/gray", &e.config("a1b2c", "grayscale"))
            .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let m = &body["metadata"];
    assert_eq!(m["dtype"], "uint8");
    assert_eq!(m["axes"], json!(["z", "y", "x"]));
    // VoxelSize [4,4,8] and BlockSize reversed; MinPoint [5,3,2], MaxPoint [100,90,70] inclusive.
    assert_eq!(m["voxel_size"], json!([8, 4, 4]));
    assert_eq!(
        m["roi"],
        json!({"offset": [16, 12, 20], "shape": [552, 352, 384]})
    );
    assert_eq!(m["shape"], json!([69, 88, 96]));
    assert_eq!(m["chunk_shape"], json!([32, 32, 32]));
    assert_eq!(
        m["attrs"]["units"],
        json!(["nanometers", "nanometers", "nanometers"])
    );
    let d = &m["attrs"]["dvid"];
    assert_eq!(d["uuid"], ROOT);
    assert_eq!(d["locked"], true);
    assert_eq!(d["type"], "uint8blk");
    let entry = e.s.state.registry.get("gray").unwrap();
    assert_eq!(
        entry.array().unwrap().meta().freshness,
        Freshness::Immutable
    );

    e.s.register("seg", &e.config("a1b2c:master", "labels"))
        .await;
    let seg = e.s.state.registry.get("seg").unwrap();
    let m = seg.array().unwrap().meta();
    assert_eq!(m.dtype.name(), "uint64");
    assert!(m.labels);
    assert_eq!(m.voxel_size.to_vec(), [16, 8, 8]);
    assert_eq!(m.roi, Roi::new([0, 0, 0], [1024, 1024, 1024]));
    assert_eq!(m.attrs["dvid"]["uuid"], CHILD);
    assert_eq!(m.freshness, Freshness::MaxAge(10));
    // A different node is different data: a different hash (and ETag).
    e.s.register("seg-root", &e.config(ROOT, "labels")).await;
    let root = e.s.state.registry.get("seg-root").unwrap();
    assert_ne!(root.array().unwrap().meta().hash, m.hash);
    // The instance named "grayscale" in repo 2 is a labelmap: TypeName decides.
    e.s.register("named-gray", &e.config("b7", "grayscale"))
        .await;
    let ng = e.s.state.registry.get("named-gray").unwrap();
    assert_eq!(ng.array().unwrap().meta().dtype.name(), "uint64");
    let v = e
        .read("named-gray", [8, 8, 8], [0, 60, 0], [4, 4, 64])
        .await;
    assert_eq!(as_u64(&v), expected([0, 60, 0], [4, 4, 64], label_value));
}

#[tokio::test]
async fn version_references_resolve_as_dvid_does() {
    let e = env().await;
    let uuid_of = |name: &str| {
        let entry = e.s.state.registry.get(name).unwrap();
        entry.array().unwrap().meta().attrs["dvid"]["uuid"].clone()
    };
    for (name, reference, want) in [
        ("p", "a1b2ff", CHILD),
        ("full", DEV, DEV),
        ("dev", "a1b2c:dev", DEV),
        ("back", "a1b2c:master~1", ROOT),
    ] {
        e.s.register(name, &e.config(reference, "grayscale")).await;
        assert_eq!(uuid_of(name), want, "{reference}");
    }
    for (reference, needle) in [
        ("a1b2", "more than one UUID matches a1b2"),
        (
            ":master",
            "UUID must be specified if more than one repo exists",
        ),
        ("ffff", "could not find UUID with partial match to ffff"),
        ("a1b2c:nope", "branch \\\"nope\\\" not found"),
        ("a1:b:c", "bad UUID specification"),
    ] {
        let body = assert_problem(
            e.s.put_json("/v1/arrays/x", &e.config(reference, "grayscale"))
                .await,
            422,
        )
        .await;
        assert_eq!(body["problems"][0]["field"], "source[1]", "{body}");
        assert!(body.to_string().contains(needle), "{needle} not in {body}");
    }
}

#[tokio::test]
async fn bad_configs_are_422_naming_the_field() {
    let e = env().await;
    let body = assert_problem(
        e.s.put_json("/v1/arrays/x", &e.config(ROOT, "empty")).await,
        422,
    )
    .await;
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{body}");
    assert_eq!(problems[0]["field"], "source[2]");
    assert!(
        problems[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Extended.MinPoint is null")
    );
    assert!(
        problems[1]["reason"]
            .as_str()
            .unwrap()
            .contains("Extended.MaxPoint is null")
    );

    let body = assert_problem(
        e.s.put_json("/v1/arrays/x", &e.config(ROOT, "nosuch"))
            .await,
        422,
    )
    .await;
    assert_eq!(body["problems"][0]["field"], "source[2]");
    assert!(
        body.to_string().contains("invalid data instance name"),
        "{body}"
    );

    let mut c = e.config(ROOT, "grayscale");
    c["scale"] = json!(1);
    c["supervoxels"] = json!(true);
    c["bogus"] = json!(1);
    let body = assert_problem(e.s.put_json("/v1/arrays/x", &c).await, 422).await;
    assert_eq!(body["problems"][0]["field"], "bogus");
    c.as_object_mut().unwrap().remove("bogus");
    let body = assert_problem(e.s.put_json("/v1/arrays/x", &c).await, 422).await;
    let fields: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["scale", "supervoxels"]);

    let mut c = e.config(ROOT, "labels");
    c["scale"] = json!(2);
    let body = assert_problem(e.s.put_json("/v1/arrays/x", &c).await, 422).await;
    assert!(body.to_string().contains("MaxDownresLevel is 1"), "{body}");
    let c = json!({"type": "dvid", "source": ["ftp://h", ROOT, "labels"]});
    let body = assert_problem(e.s.put_json("/v1/arrays/x", &c).await, 422).await;
    assert_eq!(body["problems"][0]["field"], "source[0]");
    let c = json!({"type": "dvid", "source": [e.fake.url(), ROOT]});
    let body = assert_problem(e.s.put_json("/v1/arrays/x", &c).await, 422).await;
    assert_eq!(body["problems"][0]["field"], "source");
}
