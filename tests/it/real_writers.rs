//! Arrays written by real writers — zarr-python (a v3 array whose `dimension_names` are
//! x,y,z; a 5-D t,c,z,y,x OME-Zarr 0.4 group) and tensorstore (an N5 dataset) — read back
//! through arrayd from disk, over HTTP and from S3, compared voxel for voxel with what the
//! writers themselves read.

use std::path::Path;
use std::process::Command;

use crate::support::TestServer;
use crate::support::stores::{FileServer, moto, moto_options, upload, venv_bin};
use serde_json::{Value, json};

/// Writes the three arrays under `root` and, for each, the C-order bytes (and shape) the
/// writer reads back in arrayd's order (c,z,y,x): `NAME.bin`, `NAME.json`.
const WRITE: &str = r#"
import json, sys, numpy as np, zarr, tensorstore as ts
root = sys.argv[1]
def dump(name, arr):
    arr = np.ascontiguousarray(arr)
    open(f"{root}/{name}.bin", "wb").write(arr.tobytes())
    json.dump({"shape": list(arr.shape), "dtype": str(arr.dtype)}, open(f"{root}/{name}.json", "w"))

# 1. zarr v3, stored x,y,z, named by dimension_names; funlib voxel_size in stored order.
x, y, z = np.indices((20, 12, 6))
data = ((x + 3 * y + 7 * z) % 251).astype("uint8")
a = zarr.create_array(store=f"{root}/xyz.zarr", name="raw", shape=data.shape, chunks=(8, 8, 4),
                      dtype="uint8", dimension_names=["x", "y", "z"], zarr_format=3,
                      attributes={"voxel_size": [4, 8, 40]})
a[:] = data
dump("xyz", zarr.open_array(f"{root}/xyz.zarr/raw")[:].transpose(2, 1, 0))

# 2. OME-Zarr 0.4 (zarr v2), t,c,z,y,x with t=1 and two channels.
t, c, zz, yy, xx = np.indices((1, 2, 6, 10, 12))
data = (1000 * c + 100 * zz + 10 * yy + xx).astype("uint16")
g = zarr.open_group(f"{root}/tczyx.zarr", mode="w", zarr_format=2)
g.attrs["multiscales"] = [{"version": "0.4", "axes": [
    {"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
    {"name": "z", "type": "space", "unit": "nanometer"}, {"name": "y", "type": "space", "unit": "nanometer"},
    {"name": "x", "type": "space", "unit": "nanometer"}],
    "datasets": [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [1, 1, 40, 8, 4]}, {"type": "translation", "translation": [0, 0, 80, 16, 8]}]}]}]
arr = g.create_array("0", shape=data.shape, chunks=(1, 1, 4, 8, 8), dtype="uint16")
arr[:] = data
dump("tczyx", zarr.open_array(f"{root}/tczyx.zarr/0")[0])

# 3. N5 by tensorstore (gzip blocks), uint16, with an edge block.
store = ts.open({"driver": "n5", "kvstore": {"driver": "file", "path": f"{root}/ts.n5/vol"},
                 "metadata": {"dimensions": [18, 11, 7], "blockSize": [8, 8, 4], "dataType": "uint16",
                              "compression": {"type": "gzip"}}}, create=True, delete_existing=True).result()
i0, i1, i2 = np.indices((18, 11, 7))
store[...] = ((i0 * 7 + i1 * 131 + i2 * 1031) % 65521).astype("uint16")
back = store.read().result()
# N5 dimensions are x,y,z (dim 0 fastest): arrayd serves z,y,x.
dump("n5", np.asarray(back).transpose(2, 1, 0))
"#;

fn expected(root: &Path, name: &str) -> (Vec<u64>, Vec<u8>) {
    let meta: Value =
        serde_json::from_slice(&std::fs::read(root.join(format!("{name}.json"))).unwrap()).unwrap();
    let shape = meta["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    (
        shape,
        std::fs::read(root.join(format!("{name}.bin"))).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_written_by_zarr_python_and_tensorstore_read_back_exactly_from_every_store() {
    let root = tempfile::tempdir().unwrap();
    let status = Command::new(venv_bin("python"))
        .args(["-c", WRITE])
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success(), "the writers failed");
    let files = FileServer::start(root.path().to_path_buf(), "127.0.0.1:0".parse().unwrap()).await;
    let m = moto().await;
    upload(&m.endpoint, "written", root.path()).await;
    let (http, options) = (files.url(), moto_options(&m.endpoint));
    let h = http.clone();
    let s = TestServer::start_with(root.path(), move |c| {
        c.allow_remote = vec![h, "s3://written".into()];
        c.store_options = options;
    })
    .await;
    let arrays = [
        ("xyz", "xyz.zarr", "raw", json!([40, 8, 4]), json!(null)),
        ("tczyx", "tczyx.zarr", "0", json!([40, 8, 4]), json!(2)),
        ("n5", "ts.n5", "vol", json!([1, 1, 1]), json!(null)),
    ];
    for (case, file, dataset, voxel_size, channels) in arrays {
        let (shape, want) = expected(root.path(), case);
        for (store, file_name) in [
            ("local", file.to_owned()),
            ("http", format!("{http}/{file}")),
            ("s3", format!("s3://written/{file}")),
        ] {
            let name = format!("{case}-{store}");
            s.register(
                &name,
                &json!({"type": "zarr", "name": name, "file_name": file_name, "dataset": dataset}),
            )
            .await;
            let shown: Value = s
                .get(&format!("/v1/arrays/{name}"))
                .await
                .json()
                .await
                .unwrap();
            let meta = &shown["metadata"];
            assert_eq!(meta["voxel_size"], voxel_size, "{name}: {meta}");
            assert_eq!(meta["num_channels"], channels, "{name}");
            let got_shape: Vec<u64> = serde_json::from_value(meta["shape"].clone()).unwrap();
            assert_eq!(got_shape, shape, "{name}: shape in c,z,y,x");
            let r = s.get(&format!("/v1/arrays/{name}/roi?format=raw")).await;
            assert_eq!(r.status(), 200, "{name}");
            assert_eq!(r.bytes().await.unwrap().to_vec(), want, "{name}: voxels");
        }
    }
}
