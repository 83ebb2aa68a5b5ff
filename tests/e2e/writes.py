"""What arrayd writes, read by the clients people use: arrays created and written over
HTTP (zarr v3 and v2, with stored levels) and an `arrayd export` of a chain, opened from
disk with tensorstore and zarr-python and compared with what the server serves.

usage: python tests/e2e/writes.py ARRAYD_BINARY
Prints `PASS name` / `FAIL name: reason` per check and, last, `N passed, M failed`.
"""
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorstore as ts
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clients as c  # noqa: E402  (shared reporting, HTTP and process helpers)

ROOT = Path(__file__).resolve().parents[2]


def start(binary, data):
    port = c.free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-root", data,
                             "--state-dir", os.path.join(data, ".state")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    c._cleanups.append(lambda: c.kill_group(proc))
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if c.http(base + "/readyz", timeout=2)[0] == 200:
                return base
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("arrayd did not become ready")


def npy(a):
    f = io.BytesIO()
    np.save(f, a)
    return f.getvalue()


def put_json(base, path, body, method="PUT"):
    st, _, resp = c.http(base + path, method, {"Content-Type": "application/json"}, data=json.dumps(body).encode())
    assert st in (200, 201), f"{method} {path} -> {st} {resp[:300]!r}"
    return json.loads(resp)


def written(base, data, fmt):
    name = f"w{fmt}"
    put_json(base, f"/v1/arrays/{name}", {"type": "zarr", "file_name": f"{name}.zarr", "dataset": "img/s0",
             "create": {"roi": {"offset": [40, 80, 80], "shape": [256, 512, 512]}, "voxel_size": [8, 4, 4],
                        "dtype": "uint16", "chunk_shape": [32, 64, 64], "levels": 2, "zarr_format": fmt}})
    rng = np.random.default_rng(fmt)
    block = rng.integers(0, 4000, (20, 70, 90), dtype=np.uint16)
    st, _, resp = c.http(f"{base}/v1/arrays/{name}/roi?offset=48,96,100&shape=160,280,360", "PUT",
                         {"Content-Type": "application/x-npy"}, data=npy(block))
    assert st == 200, f"PUT roi -> {st} {resp[:300]!r}"
    put_json(base, f"/v1/arrays/{name}/attrs", {"model": "unet"}, "PATCH")
    served = np.load(io.BytesIO(c.get_ok(f"{base}/v1/arrays/{name}/roi?offset=40,80,80&shape=256,512,512")[1]))
    want = np.zeros((32, 128, 128), np.uint16)
    want[1:21, 4:74, 5:95] = block
    assert np.array_equal(served, want), "the server does not serve the written voxels"
    driver = "zarr3" if fmt == 3 else "zarr"
    path = os.path.join(data, f"{name}.zarr")
    t = ts.open({"driver": driver, "kvstore": {"driver": "file", "path": path + "/img/s0"}}).result().read().result()
    z = zarr.open_array(path + "/img/s0", mode="r")
    assert np.array_equal(t, want), "tensorstore reads other voxels"
    assert np.array_equal(z[...], want), "zarr-python reads other voxels"
    assert z.attrs["model"] == "unet" and z.attrs["voxel_size"] == [8, 4, 4], dict(z.attrs)
    g = zarr.open_group(path + "/img", mode="r")
    ms = (g.attrs["ome"] if fmt == 3 else g.attrs)["multiscales"][0]
    assert [d["path"] for d in ms["datasets"]] == ["s0", "s1"], ms
    s1 = ts.open({"driver": driver, "kvstore": {"driver": "file", "path": path + "/img/s1"}}).result().read().result()
    assert s1.shape == (32, 64, 64) and s1.any(), f"s1 {s1.shape}"
    return f"{block.nbytes} bytes written and read back"


def exported(binary, base, data):
    put_json(base, "/v1/arrays/chain", {"type": "binarize", "groupings": [["hi", [1, 2]]],
             "source_array_config": {"type": "zarr", "name": "src", "file_name": "w3.zarr", "dataset": "img/s0"}})
    out = os.path.join(data, "chain.zarr")
    r = subprocess.run([binary, "export", "chain", "--server", base, "--to", out, "--levels", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-600:]
    served = np.load(io.BytesIO(c.get_ok(f"{base}/v1/arrays/chain/roi?offset=40,80,80&shape=256,512,512")[1]))
    t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": out + "/s0"}}).result().read().result()
    if served.ndim == 4 and served.shape[0] == 1:
        served = served[0]   # a single channel is stored without a c axis
    assert t.shape == served.shape and np.array_equal(t, served), f"the export differs from /roi: {t.shape} {served.shape}"
    return f"export {t.shape} {t.dtype}"


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/debug/arrayd")
    data = tempfile.mkdtemp(prefix="arrayd-e2e-writes-")
    c._cleanups.append(lambda: shutil.rmtree(data, ignore_errors=True))
    box = {}
    c.check("server.start", lambda: box.setdefault("base", start(binary, data)))
    if "base" in box:
        c.check("written.v3", written, box["base"], data, 3)
        c.check("written.v2", written, box["base"], data, 2)
        c.check("export", exported, binary, box["base"], data)
    c.summary_and_exit(ROOT / "target/e2e/writes")


if __name__ == "__main__":
    main()
