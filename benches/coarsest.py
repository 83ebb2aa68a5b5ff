"""Time to the first coarsest-scale precomputed chunk of an N^3 uint8 array (N = 512 unless
given), cold (a
fresh arrayd each round), with and without stored levels, next to tensorstore reading
all of s0 (what a client without the pyramid would read to compute it).

Data (written once to ROOT, zarr v2, blosc zstd, 64^3 chunks): `ms.zarr/raw`, an
OME-NGFF 0.4 group with s0 (N^3) and stored s1.. (mean by 2, down to one 64^3 chunk), and
`plain.zarr/s0`,
the same s0 alone. Files are in the page cache after the first write; "cold" means
arrayd's chunk cache is empty. Every coarsest chunk is checked against numpy.

usage: python benches/coarsest.py ARRAYD_BINARY [ROOT] [ROUNDS] [N]
(ROOT defaults to /tmp/arrayd-coarsest for N = 512, /tmp/arrayd-coarsest-N otherwise;
N is a power of two >= 128; 1024 is 1 GiB per copy, written once and reused.)
Prints RESULT lines and a table; appends it to target/bench/coarsest.md.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numcodecs
import numpy as np
import tensorstore as ts
import zarr

binary = sys.argv[1]
N = int(sys.argv[4]) if len(sys.argv) > 4 else 512
C = 64
LEVELS = (N // C).bit_length() - 1  # stored levels after s0, down to one chunk
root = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else (
    "/tmp/arrayd-coarsest" if N == 512 else f"/tmp/arrayd-coarsest-{N}")
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def volume():
    # Slab by slab (the same voxels as one draw: the generator's stream is sequential),
    # so a 1024^3 volume never holds more than one float slab.
    rng = np.random.default_rng(1)
    ax = np.arange(N, dtype=np.float32)
    out = np.empty((N, N, N), dtype=np.uint8)
    for z0 in range(0, N, C):
        z = ax[z0:z0 + C, None, None]
        field = 96 + 60 * np.sin(z / 23.0) * np.cos(ax[None, :, None] / 31.0) \
            + 40 * np.sin((ax[None, None, :] + z) / 17.0)
        out[z0:z0 + C] = np.clip(field + rng.normal(0, 3, size=field.shape), 0, 255).astype(np.uint8)
    return out


def mean2(a):
    n = a.shape[0] // 2
    return np.round(a.reshape(n, 2, n, 2, n, 2).mean(axis=(1, 3, 5))).astype(np.uint8)


def write(levels):
    comp = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    kw = dict(chunks=(C, C, C), dtype="uint8", fill_value=0, compressors=comp)
    g = zarr.open_group(f"{root}/ms.zarr/raw", mode="w", zarr_format=2)
    for k, a in enumerate(levels):
        g.create_array(f"s{k}", shape=a.shape, **kw)[:] = a
    axes = [{"name": n, "type": "space", "unit": "nanometer"} for n in "zyx"]
    datasets = [{"path": f"s{k}", "coordinateTransformations": [
        {"type": "scale", "scale": [4 << k] * 3}, {"type": "translation", "translation": [0, 0, 0]}]}
        for k in range(len(levels))]
    g.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]
    p = zarr.open_group(f"{root}/plain.zarr", mode="w", zarr_format=2)
    p.create_array("s0", shape=levels[0].shape, **kw)[:] = levels[0]
    p["s0"].attrs.update({"resolution": [4, 4, 4], "offset": [0, 0, 0]})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.read()


def round_once(name, config, want):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as state:
        proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-root", root,
                                 "--state-dir", state], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    call("GET", f"{base}/readyz")
                    break
                except OSError:
                    time.sleep(0.05)
            call("PUT", f"{base}/v1/arrays/{name}", json.dumps(config).encode())
            info = json.loads(call("GET", f"{base}/v1/arrays/{name}/precomputed/info"))
            top = info["scales"][-1]
            size = top["size"]
            key = f"{top['key']}/0-{size[0]}_0-{size[1]}_0-{size[2]}"
            t = time.perf_counter()
            body = call("GET", f"{base}/v1/arrays/{name}/precomputed/{key}")
            dt = time.perf_counter() - t
            levels = json.loads(call("GET", f"{base}/v1/arrays/{name}"))["levels"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    got = np.frombuffer(body, dtype=np.uint8).reshape(size[2], size[1], size[0])
    origins = [lv["origin"] for lv in levels]
    if want is not None:
        assert np.array_equal(got, want), f"{name}: coarsest chunk differs from numpy"
    return dt, origins, got


def main():
    levels = [volume()]
    for _ in range(LEVELS):
        levels.append(mean2(levels[-1]))
    if not os.path.exists(f"{root}/ms.zarr/raw/s{LEVELS}/.zarray"):
        write(levels)
    rows = []
    stored = {"type": "zarr", "file_name": "ms.zarr", "dataset": "raw/s0"}
    plain = {"type": "zarr", "file_name": "plain.zarr", "dataset": "s0"}
    times = {"stored": [], "computed": []}
    for _ in range(rounds):
        dt, origins, _ = round_once("ms", stored, levels[LEVELS])
        times["stored"].append(dt)
        so = origins
        dt, origins, got = round_once("plain", plain, None)
        times["computed"].append(dt)
        po = origins
        # Computed means round at each level: within one grey value of numpy's.
        assert np.abs(got.astype(int) - levels[LEVELS]).max() <= 1, "computed coarsest chunk is off"
    ts_times = []
    for _ in range(rounds):
        t = time.perf_counter()
        spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{root}/plain.zarr/s0"},
                "context": {"cache_pool": {"total_bytes_limit": 0}}}
        a = ts.open(spec, read=True).result().read().result()
        ts_times.append(time.perf_counter() - t)
        assert a.shape == (N, N, N)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_ts = statistics.median(ts_times)
    rows.append(("with stored levels (" + ",".join(so) + ")", med["stored"]))
    rows.append(("without (" + ",".join(po) + ")", med["computed"]))
    rows.append(("tensorstore reads all of s0 from disk", med_ts))
    out = ["| coarsest chunk of %d^3 uint8, cold | median of %d (s) |" % (N, rounds), "|---|---|"]
    out += ["| %s | %.3f |" % r for r in rows]
    out.append("| ratio without / with stored levels | %.1f |" % (med["computed"] / med["stored"]))
    for k, v in times.items():
        print(f"RESULT coarsest_{k}_s {statistics.median(v):.4f} rounds={v}")
    print(f"RESULT tensorstore_full_s0_s {med_ts:.4f}")
    print("\n".join(out))
    os.makedirs("target/bench", exist_ok=True)
    with open("target/bench/coarsest.md", "a") as f:
        f.write(f"\n{time.strftime('%Y-%m-%d %H:%M')} {binary}\n\n" + "\n".join(out) + "\n")


main()
