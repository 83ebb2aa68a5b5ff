"""256^3 uint8 ROI from local disk, S3 (moto) and HTTP (moto's public object URLs), cold and
hot, in one run against one arrayd binary; and the upstream requests and bytes per 64^3
chunk. Usage: .venv/bin/python benches/remote_roi.py target/release/arrayd"""
import json, re, socket, statistics, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

import boto3, numpy as np, zarr
from moto.server import ThreadedMotoServer

binary = sys.argv[1]
tmp = Path(tempfile.mkdtemp())
rng = np.random.default_rng(1)
data = rng.integers(0, 255, size=(256, 256, 256), dtype=np.uint8)
z = zarr.create_array(store=str(tmp / "vol.zarr"), name="raw", shape=data.shape, chunks=(64, 64, 64),
                      dtype="uint8", zarr_format=3)
z[:] = data

moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
moto.start()
host, mport = moto.get_host_and_port()
endpoint = f"http://{host}:{mport}"
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                  aws_secret_access_key="testing", region_name="us-east-1")
s3.create_bucket(Bucket="bench")
for f in (tmp / "vol.zarr").rglob("*"):
    if f.is_file():
        s3.put_object(Bucket="bench", Key=str(f.relative_to(tmp)), Body=f.read_bytes(), ACL="public-read")

sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
base = f"http://127.0.0.1:{port}"
opts = ",".join(f"{k}={v}" for k, v in [("aws_endpoint", endpoint), ("aws_access_key_id", "testing"),
                                        ("aws_secret_access_key", "testing"), ("aws_region", "us-east-1")])
proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-root", str(tmp),
                         "--state-dir", str(tmp / "state"), "--cache-size", "1GiB",
                         "--allow-remote", f"s3://bench,{endpoint}/bench", "--store-option", opts],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/readyz", timeout=1); break
        except Exception:
            time.sleep(0.1)

    def put(name, file_name):
        body = json.dumps({"type": "zarr", "name": name, "file_name": file_name, "dataset": "raw"}).encode()
        req = urllib.request.Request(f"{base}/v1/arrays/{name}", data=body, method="PUT")
        urllib.request.urlopen(req).read()

    def metric(name, labels=""):
        text = urllib.request.urlopen(f"{base}/metrics").read().decode()
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                   if l.startswith(name) and labels in l and not l.startswith("#"))

    def read(name):
        t = time.perf_counter()
        body = urllib.request.urlopen(f"{base}/v1/arrays/{name}/roi?format=raw").read()
        dt = time.perf_counter() - t
        assert np.array_equal(np.frombuffer(body, np.uint8).reshape(data.shape), data), name
        return dt

    rows = []
    for name, file_name in [("local", "vol.zarr"), ("s3", "s3://bench/vol.zarr"),
                            ("http", f"{endpoint}/bench/vol.zarr")]:
        put(name, file_name)
        req0, bytes0 = metric("arrayd_storage_requests_total"), metric("arrayd_storage_read_bytes_total")
        cold = read(name)
        req1, bytes1 = metric("arrayd_storage_requests_total"), metric("arrayd_storage_read_bytes_total")
        hot = statistics.median(read(name) for _ in range(3))
        rows.append((name, cold, hot, (req1 - req0) / 64, (bytes1 - bytes0) / 64))
    print("| source | cold 256³ | hot 256³ | cold MB/s | hot MB/s | upstream requests / 64³ chunk | bytes read / 64³ chunk |")
    print("|---|---|---|---|---|---|---|")
    for name, cold, hot, reqs, nbytes in rows:
        mb = data.nbytes / 1e6
        print(f"| {name} | {cold * 1e3:.0f} ms | {hot * 1e3:.0f} ms | {mb / cold:.0f} | {mb / hot:.0f} | "
              f"{reqs:.2f} | {nbytes:.0f} |")
finally:
    proc.terminate(); proc.wait(); moto.stop()
