//! Seeds for the DVID tests: a fake DVID holding known volumes (two repos, grayscale,
//! labelmap with two scales and a missing block, labelarray, an empty instance) and
//! an arrayd server to read them through.

use arrayd::volume::Volume;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::fake_dvid::{FakeDvid, InstanceSpec};

/// Repo 1: root (locked) → child (master leaf, open); root → dev (branch "dev").
pub const ROOT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// The master leaf (open).
pub const CHILD: &str = "a1b2ffff000000000000000000000001";
/// The leaf of branch "dev" (open).
pub const DEV: &str = "d0d0e0e0000000000000000000000002";
/// Repo 2 holds a labelmap named "grayscale".
pub const OTHER: &str = "b7000000000000000000000000000000";

/// The grayscale volume: stored for z < 64 (the extents reach z = 70).
pub fn gray_value(z: i64, y: i64, x: i64) -> u64 {
    if z < 64 {
        ((x * 7 + y * 13 + z * 29) % 251 + 1) as u64
    } else {
        0
    }
}

/// Labels over x,y < 128, z < 64: block (0,1,0) solid 77, block (1,1,0) never stored.
pub fn label_value(z: i64, y: i64, x: i64) -> u64 {
    if y >= 64 && x < 64 {
        return 77;
    }
    if y >= 64 {
        return 0;
    }
    let salt = if (x + y + z) % 37 == 0 { 1 << 40 } else { 0 };
    (1 + x / 10 + (y / 12) * 20 + (z / 9) * 400 + salt) as u64
}

/// `f` over a box (z,y,x), C order.
pub fn fill(begin: [i64; 3], shape: [usize; 3], f: impl Fn(i64, i64, i64) -> u64) -> Vec<u64> {
    let mut v = Vec::with_capacity(shape.iter().product());
    for z in 0..shape[0] as i64 {
        for y in 0..shape[1] as i64 {
            for x in 0..shape[2] as i64 {
                v.push(f(begin[0] + z, begin[1] + y, begin[2] + x));
            }
        }
    }
    v
}

/// Seeds `f` over a box of the fake's instance `name`.
pub fn write(
    fake: &FakeDvid,
    repo: &str,
    name: &str,
    scale: usize,
    begin: [i64; 3],
    shape: [usize; 3],
    f: impl Fn(i64, i64, i64) -> u64,
) {
    fake.write(repo, name, scale, begin, shape, &fill(begin, shape, f));
}

/// A fake DVID holding every test volume.
pub async fn seeded_fake() -> FakeDvid {
    // Tests build reqwest clients of their own too.
    arrayd::init_tls();
    let fake = FakeDvid::start().await;
    fake.add_repo(ROOT, "test");
    fake.add_node(ROOT, CHILD, "");
    fake.add_node(ROOT, DEV, "dev");
    fake.lock(ROOT);
    fake.add_repo(OTHER, "other");
    // Grayscale: 32³ blocks, anisotropic, data z<64, explicit extents beyond it.
    fake.add_instance(
        ROOT,
        InstanceSpec::new("grayscale", "uint8blk", [32, 32, 32], [4.0, 4.0, 8.0]),
    );
    write(
        &fake,
        ROOT,
        "grayscale",
        0,
        [0, 0, 0],
        [64, 96, 128],
        gray_value,
    );
    fake.set_extents(ROOT, "grayscale", [5, 3, 2], [100, 90, 70]);
    // Labels: 64³ blocks, two scales, one block missing.
    let mut labels = InstanceSpec::new("labels", "labelmap", [64, 64, 64], [8.0, 8.0, 16.0]);
    labels.max_downres = 1;
    fake.add_instance(ROOT, labels);
    for (by, bx) in [(0, 0), (0, 1), (1, 0)] {
        write(
            &fake,
            ROOT,
            "labels",
            0,
            [0, by * 64, bx * 64],
            [64, 64, 64],
            label_value,
        );
    }
    write(
        &fake,
        ROOT,
        "labels",
        1,
        [0, 0, 0],
        [32, 64, 64],
        |z, y, x| label_value(2 * z, 2 * y, 2 * x),
    );
    fake.add_instance(
        ROOT,
        InstanceSpec::new("labelarr", "labelarray", [32, 32, 32], [8.0, 8.0, 8.0]),
    );
    write(
        &fake,
        ROOT,
        "labelarr",
        0,
        [0, 0, 0],
        [32, 64, 64],
        label_value,
    );
    fake.add_instance(
        ROOT,
        InstanceSpec::new("empty", "labelmap", [64, 64, 64], [8.0, 8.0, 8.0]),
    );
    fake.add_instance(
        OTHER,
        InstanceSpec::new("grayscale", "labelmap", [64, 64, 64], [8.0, 8.0, 8.0]),
    );
    write(
        &fake,
        OTHER,
        "grayscale",
        0,
        [0, 0, 0],
        [64, 64, 64],
        label_value,
    );
    fake
}

/// The seeded fake and an arrayd server (over an empty data root).
pub struct Env {
    pub fake: FakeDvid,
    pub s: TestServer,
    _data: tempfile::TempDir,
}

/// A fresh fake and server for one test (each has its own breaker and cache).
pub async fn env() -> Env {
    let fake = seeded_fake().await;
    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(data.path(), |_| {}).await;
    Env {
        fake,
        s,
        _data: data,
    }
}

impl Env {
    pub fn config(&self, uuid: &str, instance: &str) -> Value {
        json!({"type": "dvid", "source": [self.fake.url(), uuid, instance]})
    }

    /// Reads a box of voxels (z,y,x) of a registered array with voxel size `vs`.
    pub async fn read(&self, name: &str, vs: [i64; 3], begin: [i64; 3], shape: [i64; 3]) -> Volume {
        let off: Vec<i64> = (0..3).map(|d| begin[d] * vs[d]).collect();
        let shp: Vec<i64> = (0..3).map(|d| shape[d] * vs[d]).collect();
        self.s.roi_npy(name, &off, &shp).await
    }

    pub async fn roi_get(
        &self,
        name: &str,
        vs: [i64; 3],
        begin: [i64; 3],
        shape: [i64; 3],
    ) -> reqwest::Response {
        let q = |v: [i64; 3]| {
            (0..3)
                .map(|d| (v[d] * vs[d]).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        self.s
            .get(&format!(
                "/v1/arrays/{name}/roi?offset={}&shape={}",
                q(begin),
                q(shape)
            ))
            .await
    }
}

/// The voxels `f` gives over a box (z,y,x).
pub fn expected(begin: [i64; 3], shape: [i64; 3], f: impl Fn(i64, i64, i64) -> u64) -> Vec<u64> {
    fill(begin, shape.map(|s| s as usize), f)
}

/// A uint8 or uint64 volume's voxels as u64, C order.
pub fn as_u64(v: &Volume) -> Vec<u64> {
    match v {
        Volume::U8(a) => a.iter().map(|&x| u64::from(x)).collect(),
        Volume::U64(a) => a.iter().copied().collect(),
        other => panic!("unexpected dtype {:?}", other.dtype()),
    }
}
