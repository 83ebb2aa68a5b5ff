"""Write throughput of arrayd (PUT /roi, durable) next to tensorstore writing the same
blocks into the same kind of array (zarr v3, zstd, 64^3 chunks) directly, in one run,
to local files and to S3 (moto in-process, on loopback).

usage: python benches/writes.py ARRAYD_BINARY [--blocks N]
Aligned blocks cover whole chunks; unaligned ones are shifted by 32 voxels, so each
touches 8 chunks (read-modify-write). Prints MB/s per row and the ratio to tensorstore.
"""
import argparse, io, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
import boto3
import numpy as np
import tensorstore as ts
from moto.server import ThreadedMotoServer
import logging

logging.getLogger("werkzeug").setLevel(logging.ERROR)

KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


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
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    endpoint = "http://%s:%d" % moto.get_host_and_port()
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="bench")
    os.environ.update(KEYS)
    opts = ",".join(f"{k}={v}" for k, v in [("aws_endpoint", endpoint), ("aws_access_key_id", "testing"),
                                            ("aws_secret_access_key", "testing"), ("aws_region", "us-east-1")])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([a.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-root", tmp,
                            "--state-dir", os.path.join(tmp, "state"), "--allow-remote", "s3://bench",
                            "--store-option", opts], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        rows = []
        for store, shift, label in [("local", 0, "aligned"), ("local", 32, "unaligned"),
                                    ("s3", 0, "aligned"), ("s3", 32, "unaligned")]:
            name = f"w{store}{shift}"
            file_name = f"s3://bench/{name}.zarr" if store == "s3" else f"{name}.zarr"
            cfg = {"type": "zarr", "file_name": file_name, "dataset": "a", "create": {
                "roi": {"offset": [0, 0, 0], "shape": [320, 320, 320]}, "voxel_size": [1, 1, 1],
                "dtype": "uint8", "chunk_shape": [64, 64, 64], "codec": "zstd"}}
            put(f"{base}/v1/arrays/{name}", json.dumps(cfg).encode())
            bl = blocks(a.blocks, shift)
            bodies = []
            for off, v in bl:
                f = io.BytesIO(); np.save(f, v); bodies.append((off, f.getvalue()))
            t = time.perf_counter()
            for off, body in bodies:
                put(f"{base}/v1/arrays/{name}/roi?offset={','.join(map(str, off))}&shape=64,64,64", body)
            arrayd_s = time.perf_counter() - t
            kv = ({"driver": "s3", "bucket": "bench", "path": f"ts{shift}.zarr/", "endpoint": endpoint,
                   "aws_region": "us-east-1"} if store == "s3"
                  else {"driver": "file", "path": os.path.join(tmp, f"ts{shift}.zarr")})
            arr = ts.open({"driver": "zarr3", "kvstore": kv, "create": True,
                           "metadata": {"shape": [320, 320, 320], "data_type": "uint8",
                                        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [64, 64, 64]}},
                                        "codecs": [{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 3}}]}}).result()
            t = time.perf_counter()
            for (z, y, x), v in bl:
                arr[z:z + 64, y:y + 64, x:x + 64].write(v).result()
            ts_s = time.perf_counter() - t
            mb = a.blocks * 64 ** 3 / 1e6
            rows.append((f"{store}, {label}", mb / arrayd_s, mb / ts_s))
        print("| 64^3 uint8 blocks, sequential | arrayd MB/s (durable) | tensorstore MB/s (local: no fsync) | ratio |")
        print("|---|---|---|---|")
        for label, a_, t_ in rows:
            print(f"| {label} | {a_:.1f} | {t_:.1f} | {a_ / t_:.2f} |")
    finally:
        srv.terminate()
        srv.wait(10)
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
