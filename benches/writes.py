"""Write throughput of arrayd (PUT /roi, durable) next to tensorstore writing the same
blocks into the same kind of array (zarr v3, zstd, 64^3 chunks) directly, in one run.

usage: python benches/writes.py ARRAYD_BINARY [--blocks N]
Aligned blocks cover whole chunks; unaligned ones are shifted by 32 voxels, so each
touches 8 chunks (read-modify-write). Prints MB/s per row and the ratio to tensorstore.
"""
import argparse, io, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
import numpy as np
import tensorstore as ts


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def put(url, data=b"", method="PUT"):
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def blocks(n, shift, seed=1):
    rng = np.random.default_rng(seed)
    side = 4  # 4x4xN grid of 64^3 blocks in a 320^3 array
    out = []
    for i in range(n):
        z, y, x = i // (side * side) % side, i // side % side, i % side
        out.append(((z * 64 + shift, y * 64 + shift, x * 64 + shift), rng.integers(0, 255, (64, 64, 64), dtype=np.uint8)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--blocks", type=int, default=48)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([a.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-root", tmp,
                            "--state-dir", os.path.join(tmp, "state")], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        rows = []
        for shift, label in [(0, "aligned"), (32, "unaligned")]:
            name = f"w{shift}"
            cfg = {"type": "zarr", "file_name": f"{name}.zarr", "dataset": "a", "create": {
                "roi": {"offset": [0, 0, 0], "shape": [320, 320, 320]}, "voxel_size": [1, 1, 1],
                "dtype": "uint8", "chunk_shape": [64, 64, 64], "codec": "zstd"}}
            import json
            put(f"{base}/v1/arrays/{name}", json.dumps(cfg).encode())
            bl = blocks(a.blocks, shift)
            bodies = []
            for off, v in bl:
                f = io.BytesIO(); np.save(f, v); bodies.append((off, f.getvalue()))
            t = time.perf_counter()
            for off, body in bodies:
                put(f"{base}/v1/arrays/{name}/roi?offset={','.join(map(str, off))}&shape=64,64,64", body)
            arrayd_s = time.perf_counter() - t
            path = os.path.join(tmp, f"ts{shift}.zarr")
            arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": path}, "create": True,
                           "metadata": {"shape": [320, 320, 320], "data_type": "uint8",
                                        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [64, 64, 64]}},
                                        "codecs": [{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 3}}]}}).result()
            t = time.perf_counter()
            for (z, y, x), v in bl:
                arr[z:z + 64, y:y + 64, x:x + 64].write(v).result()
            ts_s = time.perf_counter() - t
            mb = a.blocks * 64 ** 3 / 1e6
            rows.append((label, mb / arrayd_s, mb / ts_s))
        print("| 64^3 uint8 blocks, sequential | arrayd MB/s (durable) | tensorstore MB/s (no fsync) | ratio |")
        print("|---|---|---|---|")
        for label, a_, t_ in rows:
            print(f"| {label} | {a_:.1f} | {t_:.1f} | {a_ / t_:.2f} |")
    finally:
        srv.terminate()
        srv.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
