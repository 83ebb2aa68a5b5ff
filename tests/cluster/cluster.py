"""Cluster test: a real PostgreSQL, three arrayd replicas sharing it, and nginx in front
with docker/nginx/arrayd.conf (the compose file's config), all on loopback.

    python tests/cluster/cluster.py target/debug/arrayd

Prints one line per test, the measured figures, and "N passed, M failed". Every wait is
bounded in count and time. Stdlib only.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PASSWORD = "pw-" + os.urandom(6).hex()
CHUNK = 32
SIDE = 128  # vol: 128³ uint8 in 32³ chunks (64 chunks)
CACHE = 4 << 20  # each replica's --cache-size
RESULTS = []
FIGURES = {}
SEEN = []  # every response body, checked for the password at the end


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, headers=None, timeout=10, raw=None):
    """(status, headers, body bytes); transport errors raise. `raw` is sent as is."""
    data = json.dumps(body).encode() if body is not None else raw
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            out = (r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        out = (e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
    SEEN.append(out[2][:4096])
    return out


def get_json(url):
    status, _, body = request("GET", url)
    return status, (json.loads(body) if body else None)


def wait(pred, seconds, step=0.05):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False


def test(fn):
    t = time.monotonic()
    try:
        fn()
        RESULTS.append((fn.__name__, None))
        print(f"ok    {fn.__name__} ({time.monotonic() - t:.1f}s)", flush=True)
    except Exception as e:  # noqa: BLE001 (a test's failure, reported)
        RESULTS.append((fn.__name__, e))
        print(f"FAIL  {fn.__name__}: {e!r}", flush=True)


class Cluster:
    def __init__(self, binary):
        self.binary = os.path.abspath(binary)
        self.tmp = tempfile.mkdtemp(prefix="arrayd-cluster-")
        os.chmod(self.tmp, 0o755)
        self.procs = {}
        self.logs = {}
        self.pg_port = free_port()
        self.ports = [free_port() for _ in range(3)]
        self.lb_port, self.rr_port = free_port(), free_port()
        self.url = f"postgres://arrayd:{PASSWORD}@127.0.0.1:{self.pg_port}/postgres"

    # PostgreSQL, as an unprivileged user when run as root
    def as_pg(self, args):
        pre = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(pre + args, check=True, capture_output=True, timeout=60)

    def pg_init(self):
        self.pgdata = os.path.join(self.tmp, "pg")
        pw = os.path.join(self.tmp, "pgpw")
        with open(pw, "w") as f:
            f.write(PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
            shutil.chown(pw, "postgres")
        self.as_pg([f"{PG_BIN}/initdb", "-D", self.pgdata, "-U", "arrayd", "--pwfile", pw,
                    "--auth=scram-sha-256", "-E", "UTF8"])
        os.remove(pw)
        self.pg_start()

    def pg_start(self):
        opts = f"-p {self.pg_port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.as_pg([f"{PG_BIN}/pg_ctl", "-D", self.pgdata, "-o", opts,
                    "-l", os.path.join(self.tmp, "pg.log"), "-w", "start"])

    def pg_stop(self):
        self.as_pg([f"{PG_BIN}/pg_ctl", "-D", self.pgdata, "-m", "fast", "-w", "stop"])

    def write_volume(self):
        """A zarr v2 uint8 array, uncompressed, voxel (z*7 + y*3 + x) % 251."""
        d = os.path.join(self.tmp, "data", "vol.zarr", "raw")
        os.makedirs(d)
        with open(os.path.join(os.path.dirname(d), ".zgroup"), "w") as f:
            json.dump({"zarr_format": 2}, f)
        with open(os.path.join(d, ".zarray"), "w") as f:
            json.dump({"zarr_format": 2, "shape": [SIDE] * 3, "chunks": [CHUNK] * 3,
                       "dtype": "|u1", "compressor": None, "fill_value": 0, "order": "C",
                       "filters": None}, f)
        n = SIDE // CHUNK
        for cz in range(n):
            for cy in range(n):
                for cx in range(n):
                    buf = bytearray(CHUNK ** 3)
                    i = 0
                    for z in range(cz * CHUNK, (cz + 1) * CHUNK):
                        for y in range(cy * CHUNK, (cy + 1) * CHUNK):
                            base = z * 7 + y * 3
                            for x in range(cx * CHUNK, (cx + 1) * CHUNK):
                                buf[i] = (base + x) % 251
                                i += 1
                    with open(os.path.join(d, f"{cz}.{cy}.{cx}"), "wb") as f:
                        f.write(buf)

    def start(self, i):
        port = self.ports[i]
        log = open(os.path.join(self.tmp, f"arrayd-{i}.log"), "ab")
        env = dict(os.environ, ARRAYD_REGISTRY=self.url, ARRAYD_LOG="info")
        self.procs[i] = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-root",
             os.path.join(self.tmp, "data"), "--state-dir", os.path.join(self.tmp, f"s{i}"),
             "--cache-size", str(CACHE), "--log-format", "json", "--compute-threads", "1"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)

    def ready(self, i, seconds=30):
        return wait(lambda: request("GET", self.base(i) + "/readyz", timeout=2)[0] == 200, seconds)

    def base(self, i):
        return f"http://127.0.0.1:{self.ports[i]}"

    def nginx(self):
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d)
        conf = open(os.path.join(ROOT, "docker", "nginx", "arrayd.conf")).read()
        assert "listen 8080;" in conf
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{self.lb_port};")
        ups = "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n" for p in self.ports)
        open(os.path.join(d, "upstreams.conf"), "w").write(ups)
        open(os.path.join(d, "arrayd.conf"), "w").write(conf)
        # the same proxying, round robin, for the cache comparison
        rr = ("upstream arrayd_rr {\n" + ups + "keepalive 32;\n}\n"
              f"server {{ listen 127.0.0.1:{self.rr_port}; location / {{ proxy_pass http://arrayd_rr;"
              " proxy_http_version 1.1; proxy_set_header Connection \"\"; } }\n")
        main = (f"daemon off; pid {d}/nginx.pid; error_log {d}/error.log warn; worker_processes 1;\n"
                "events { worker_connections 512; }\n"
                f"http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n"
                f"include {d}/arrayd.conf;\n{rr}}}\n")
        open(os.path.join(d, "nginx.conf"), "w").write(main)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.nginx_proc = subprocess.Popen([nginx, "-p", d, "-c", os.path.join(d, "nginx.conf"),
                                            "-e", os.path.join(d, "error.log")])
        lb = f"http://127.0.0.1:{self.lb_port}"
        assert wait(lambda: request("GET", lb + "/healthz", timeout=2)[0] == 200, 10), "nginx"

    def close(self):
        for p in list(self.procs.values()) + [getattr(self, "nginx_proc", None)]:
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        try:
            self.pg_stop()
        except (subprocess.SubprocessError, OSError):
            pass


def metric(base, name):
    _, _, body = request("GET", base + "/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head = line.split(" ")[0]
            if head == name or head.startswith(name + "{") or head == name + "_total":
                total += float(line.split(" ")[1])
    return total


def roi(base, name, c, timeout=10):
    off = ",".join(str(v * CHUNK) for v in c)
    return request("GET", f"{base}/v1/arrays/{name}/roi?offset={off}&shape={CHUNK},{CHUNK},{CHUNK}",
                   headers={"Accept": "application/octet-stream"}, timeout=timeout)


def put_block(base, at, value):
    """Writes one chunk of `pred` at voxel (at, at, at), every voxel `value`."""
    return request("PUT", f"{base}/v1/arrays/pred/roi?offset={at},{at},{at}&shape={CHUNK},{CHUNK},{CHUNK}",
                   headers={"X-Array-Dtype": "uint8", "X-Array-Shape": f"{CHUNK},{CHUNK},{CHUNK}",
                            "Content-Type": "application/octet-stream"},
                   raw=bytes([value]) * CHUNK ** 3)


def chunks():
    n = SIDE // CHUNK
    return [(z, y, x) for z in range(n) for y in range(n) for x in range(n)]


class Load:
    """Bounded read load through nginx: `threads` clients for at most `seconds`."""

    def __init__(self, base, name, seconds, threads=4):
        self.base, self.name, self.seconds, self.threads = base, name, seconds, threads
        self.ok = self.failed = 0
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self, k):
        cs = chunks()
        end = time.monotonic() + self.seconds
        i = k
        while time.monotonic() < end and not self.stop.is_set() and i < 100_000:
            try:
                status = roi(self.base, self.name, cs[i % len(cs)])[0]
                good = status == 200
                why = status
            except OSError as e:
                good, why = False, repr(e)
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors.append(why)
            i += self.threads

    def __enter__(self):
        self.ts = [threading.Thread(target=self.run, args=(k,)) for k in range(self.threads)]
        for t in self.ts:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.ts:
            t.join(60)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/arrayd"
    c = Cluster(binary)
    lb = f"http://127.0.0.1:{c.lb_port}"
    try:
        c.pg_init()
        c.write_volume()
        for i in range(3):
            c.start(i)
        assert all(c.ready(i) for i in range(3)), "replicas not ready"
        c.nginx()
    except Exception as e:  # noqa: BLE001
        print(f"FAIL  setup: {e!r}")
        c.close()
        print("0 passed, 1 failed")
        return 1
    vol = {"type": "zarr", "file_name": "vol.zarr", "dataset": "raw"}

    def put_through_nginx_readable_everywhere():
        status, _, body = request("PUT", lb + "/v1/arrays/vol", vol)
        assert status == 201, (status, body)
        for i in range(3):  # at once: no wait
            s, doc = get_json(c.base(i) + "/v1/arrays/vol")
            assert s == 200 and doc["metadata"]["shape"] == [SIDE] * 3, (i, s, doc)
            s, _, data = roi(c.base(i), "vol", (0, 0, 1))
            assert s == 200 and data[:3] == bytes([32, 33, 34]), (i, s, data[:3])

    def replacement_everywhere_within_1s():
        delays = []
        for k in range(100):
            cfg = {"type": "constant", "constant": k + 1, "source_array_config": "vol"}
            if k == 0:
                assert request("PUT", c.base(0) + "/v1/arrays/prop", cfg)[0] == 201
                assert wait(lambda: all(roi(c.base(i), "prop", (0, 0, 0))[0] == 200
                                        for i in (1, 2)), 2)
                continue
            t0 = time.monotonic()
            s, _, body = request("PUT", c.base(0) + "/v1/arrays/prop", cfg)
            assert s == 200, (s, body)
            seen = {}

            def caught_up():
                for i in (1, 2):
                    if i not in seen and roi(c.base(i), "prop", (1, 1, 1))[2][:1] == bytes([k + 1]):
                        seen[i] = time.monotonic() - t0
                return len(seen) == 2

            assert wait(caught_up, 2, step=0.005), f"change {k} not everywhere after 2 s: {seen}"
            delays.extend(seen.values())
        FIGURES["propagation (ms) median/max over 100 changes x 2 replicas"] = (
            f"{statistics.median(delays) * 1000:.0f} / {max(delays) * 1000:.0f}")
        assert max(delays) < 1.0, max(delays)

    def conflicting_put_delete_end_consistent():
        outcomes = set()
        for r in range(15):
            src, user = f"c-src-{r}", f"c-user-{r}"
            assert request("PUT", c.base(0) + f"/v1/arrays/{src}", vol)[0] == 201
            with ThreadPoolExecutor(2) as ex:
                f1 = ex.submit(request, "PUT", c.base(1) + f"/v1/arrays/{user}",
                               {"type": "ones", "source_array_config": src})
                f2 = ex.submit(request, "DELETE", c.base(2) + f"/v1/arrays/{src}")
                put_s, del_s = f1.result()[0], f2.result()[0]
            outcomes.add((put_s, del_s))
            assert (put_s, del_s) in {(201, 409), (422, 204)}, (put_s, del_s)
        time.sleep(1.0)
        lists = []
        for i in range(3):
            _, doc = get_json(c.base(i) + "/v1/arrays")
            names = {a["name"] for a in doc["arrays"]}
            for n in names:
                _, d = get_json(c.base(i) + f"/v1/arrays/{n}")
                assert set(d["references"]) <= names, (i, n, d["references"])
            lists.append(names)
        assert lists[0] == lists[1] == lists[2], lists
        FIGURES["conflict outcomes (PUT, DELETE)"] = sorted(outcomes)

    def kill9_replica_under_load_no_failed_request():
        with Load(lb, "vol", seconds=8) as load:
            time.sleep(1.5)
            c.procs[1].send_signal(signal.SIGKILL)
            c.procs[1].wait(10)
            time.sleep(2)
            c.start(1)
            assert c.ready(1), "restarted replica not ready"
        assert load.failed == 0, (load.failed, load.errors[:5])
        assert load.ok > 50, load.ok
        _, a = get_json(c.base(0) + "/v1/arrays")
        _, b = get_json(c.base(1) + "/v1/arrays")
        assert [x["name"] for x in a["arrays"]] == [x["name"] for x in b["arrays"]]
        FIGURES["kill -9 under load: requests ok/failed"] = f"{load.ok}/{load.failed}"

    def down_checks(cfg):
        assert wait(lambda: all(get_json(c.base(i) + "/readyz")[1]["registry"]["stale"]
                                for i in range(3)), 12), "readyz never said stale"
        s, doc = get_json(c.base(0) + "/readyz")
        assert s == 200 and "serving the last registry" in doc["registry"]["detail"], doc
        s, h, body = request("PUT", lb + "/v1/arrays/while-down", cfg)
        assert s == 503 and h.get("retry-after") and h.get("content-type") == "application/problem+json", (s, h, body)
        s, _, body = request("DELETE", c.base(2) + "/v1/arrays/prop")
        assert s == 503, (s, body)

    def postgres_down_reads_work_writes_503_then_succeed():
        pids = [c.procs[i].pid for i in range(3)]
        cfg = {"type": "ones", "source_array_config": "vol"}
        with Load(lb, "vol", seconds=30) as load:
            c.pg_stop()
            try:
                down_checks(cfg)
            finally:
                c.pg_start()
            t0 = time.monotonic()
            assert wait(lambda: request("PUT", lb + "/v1/arrays/while-down", cfg)[0] == 201, 15, 0.2)
            FIGURES["first write accepted after PostgreSQL restart (s)"] = f"{time.monotonic() - t0:.1f}"
            assert wait(lambda: not any(get_json(c.base(i) + "/readyz")[1]["registry"]["stale"]
                                        for i in range(3)), 12), "still stale"
            load.stop.set()
        assert load.failed == 0 and load.ok > 50, (load.ok, load.failed, load.errors[:5])
        assert [c.procs[i].pid for i in range(3)] == pids and all(c.procs[i].poll() is None for i in range(3))
        for i in range(3):
            assert get_json(c.base(i) + "/v1/arrays/while-down")[0] == 200

    def cache_hit_ratio_consistent_hash_vs_round_robin():
        # float32 chunks: 128 KiB each, 64 of them: 8 MiB = 2 x one replica's cache. Each
        # balancer is measured on freshly started replicas (moka admits by frequency:
        # chunks of earlier tests would skew whichever runs second).
        ratios = {}
        for label, port, name in (("consistent hash", c.lb_port, "ws-hash"),
                                  ("round robin", c.rr_port, "ws-rr")):
            cfg = {"type": "intensities", "min": 0, "max": 250 if label == "round robin" else 251,
                   "source_array_config": "vol"}
            assert request("PUT", lb + f"/v1/arrays/{name}", cfg)[0] == 201
            base = f"http://127.0.0.1:{port}"
            for i in range(3):  # cold caches for each balancer: a fresh start of every replica
                c.procs[i].send_signal(signal.SIGTERM)
                c.procs[i].wait(30)
                c.start(i)
            assert all(c.ready(i) for i in range(3))
            time.sleep(2.2)  # nginx's fail_timeout for replicas refused while restarting
            assert wait(lambda: all(get_json(c.base(i) + f"/v1/arrays/{name}")[0] == 200 for i in range(3)), 2)
            for ch in chunks():  # warm pass
                assert roi(base, name, ch)[0] == 200
            h0 = sum(metric(c.base(i), "arrayd_cache_hits") for i in range(3))
            m0 = sum(metric(c.base(i), "arrayd_cache_misses") for i in range(3))
            for ch in chunks():
                assert roi(base, name, ch)[0] == 200
            h = sum(metric(c.base(i), "arrayd_cache_hits") for i in range(3)) - h0
            m = sum(metric(c.base(i), "arrayd_cache_misses") for i in range(3)) - m0
            assert h + m >= len(chunks()), (h, m)
            ratios[label] = h / (h + m)
        FIGURES["cache hit ratio, 2nd pass, working set 2x --cache-size"] = {
            k: f"{v:.0%}" for k, v in ratios.items()}
        assert ratios["consistent hash"] >= 0.9, ratios
        assert ratios["round robin"] <= 0.6, ratios

    def latency_through_nginx_vs_direct():
        lat = {}
        for label, base in (("direct", c.base(0)), ("nginx", lb)):
            ts = []
            for _ in range(200):
                t0 = time.monotonic()
                assert request("GET", base + "/v1/arrays/vol")[0] == 200
                ts.append(time.monotonic() - t0)
            ts.sort()
            lat[label] = f"p50 {ts[100] * 1000:.2f} ms, p99 {ts[198] * 1000:.2f} ms"
        FIGURES["GET /v1/arrays/vol latency"] = lat

    def write_on_one_replica_seen_by_all():
        # A created array and a chain over it, read (and cached) on replicas 1 and 2, then
        # written through replica 0: the others serve the new voxels within 1 s, and an
        # untouched chunk keeps its ETag there.
        create = {"roi": {"offset": [0, 0, 0], "shape": [SIDE] * 3}, "voxel_size": [1, 1, 1],
                  "dtype": "uint8", "chunk_shape": [CHUNK] * 3, "levels": 2}
        pred = {"type": "zarr", "file_name": "pred.zarr", "dataset": "s0", "create": create}
        fg = {"type": "binarize", "source_array_config": "pred", "groupings": [["fg", [7]]]}
        assert request("PUT", c.base(0) + "/v1/arrays/pred", pred)[0] == 201
        assert request("PUT", c.base(0) + "/v1/arrays/fg", fg)[0] == 201
        untouched = "/v1/arrays/pred/zarr/c/3/3/3"
        assert put_block(c.base(0), 96, 5)[0] == 200
        tags = {}
        for i in (1, 2):
            assert wait(lambda: roi(c.base(i), "fg", (0, 0, 0))[0] == 200, 2), i
            assert roi(c.base(i), "pred", (0, 0, 0))[2][:1] == b"\0"
            s, h, _ = request("GET", c.base(i) + untouched)
            assert s == 200, (i, s)
            tags[i] = h["etag"]
        delays = []
        for k in range(20):
            value = 7 if k % 2 == 0 else 3
            t0 = time.monotonic()
            s, _, body = put_block(c.base(0), 0, value)
            assert s == 200, (s, body)
            seen = {}

            def caught_up():
                for i in (1, 2):
                    if i in seen:
                        continue
                    data = roi(c.base(i), "pred", (0, 0, 0))[2]
                    mask = roi(c.base(i), "fg", (0, 0, 0))[2]
                    if data[:1] == bytes([value]) and mask[:1] == bytes([value == 7]):
                        seen[i] = time.monotonic() - t0
                return len(seen) == 2

            assert wait(caught_up, 2, step=0.005), f"write {k} not everywhere after 2 s: {seen}"
            delays.extend(seen.values())
        for i in (1, 2):
            s, h, _ = request("GET", c.base(i) + untouched)
            assert s == 200 and h["etag"] == tags[i], (i, h.get("etag"), tags[i])
        FIGURES["write visible elsewhere (ms) median/max over 20 writes x 2 replicas"] = (
            f"{statistics.median(delays) * 1000:.0f} / {max(delays) * 1000:.0f}")
        assert max(delays) < 1.0, max(delays)

    def password_never_in_logs_or_responses():
        assert len(SEEN) > 100
        assert not any(PASSWORD.encode() in b for b in SEEN), "password in a response"
        for i in range(3):
            text = open(os.path.join(c.tmp, f"arrayd-{i}.log"), "rb").read()
            assert b"postgres://arrayd@127.0.0.1" in text or b"registry" in text
            assert PASSWORD.encode() not in text, f"password in arrayd-{i}.log"

    for t in (put_through_nginx_readable_everywhere, replacement_everywhere_within_1s,
              conflicting_put_delete_end_consistent, kill9_replica_under_load_no_failed_request,
              postgres_down_reads_work_writes_503_then_succeed, write_on_one_replica_seen_by_all,
              cache_hit_ratio_consistent_hash_vs_round_robin, latency_through_nginx_vs_direct,
              password_never_in_logs_or_responses):
        test(t)
    c.close()
    for k, v in FIGURES.items():
        print(f"figure: {k}: {v}")
    failed = sum(1 for _, e in RESULTS if e)
    if failed:
        print(f"logs kept in {c.tmp}")
    else:
        shutil.rmtree(c.tmp, ignore_errors=True)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
