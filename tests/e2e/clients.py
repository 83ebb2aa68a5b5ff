#!/usr/bin/env python3
"""End-to-end tests of arrayd through real clients nobody on the team wrote (issues 4 and 5).

    clients.py [ARRAYD_BINARY] [--out DIR] [--no-browser] [--only SUBSTR] [--deadline S]

Starts the real `arrayd serve` binary (default target/debug/arrayd, or $ARRAYD_BIN) on a free
loopback port over tests/fixtures/golden with --demo, registers golden-fixture arrays and chains,
and reads every array through:

- the neuroglancer precomputed view: `info`, every scale with tensorstore and cloud-volume,
  every chunk fetched by name and decoded here (raw with numpy, compressed_segmentation with the
  `compressed-segmentation` package), all compared voxel-exactly with an independent numpy
  pyramid of the array's whole ROI (from the ROI endpoint); gzip, CORS, Range, ETag/304, HEAD
  and 4xx for bad chunk names;
- the Zarr v3 and v2 views: zarr-python and tensorstore (zarr3 / zarr drivers) compared with the
  ROI endpoint, OME-NGFF metadata, pyramid levels s1..sN, group roots, HTTP behaviour;
- the neuroglancer web client (the `neuroglancer` wheel) in headless Chromium, cross-origin:
  precomputed://, zarr:// and zarr2:// layers; the chunks the browser fetched and decoded are
  handed back and compared, every scale; one screenshot per layer.

Browser read-back is neuroglancer's own test technique (viewer.volume_info / _volume_chunk), with
workarounds for neuroglancer-python 2.41.2: compressed_segmentation chunks come back still
encoded (decoded here: the server's block size for precomputed, neuroglancer's transcoding block
size for uint32/uint64 zarr), gridOrigin is misreported for precomputed offsets (the grid is
walked from lower_bound), and coarser scales are read by asking for their voxel size. Neuroglancer
2.41.2 reads OME-NGFF only on groups: an array node at .../zarr/ shows with the voxel size of its
`dimension_units` attribute, at index origin 0.

Prints `PASS name` or `FAIL name: reason` per check and, last, `N passed, M failed`; exits 1 on
any failure. Everything has a timeout; the server and Chromium are killed on every exit path.
Artifacts (screenshots, report.json, arrayd.log) go to DIR (default target/e2e).
"""
import argparse
import gzip
import io
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
ORIGIN = "http://viewer.example"

# Golden-fixture arrays: name, case directory, expected neuroglancer type.
GOLDEN_ARRAYS = [
    ("raw", "01-zarr-raw-funlib", "image"),                 # uint8, zarr v2 blosc
    ("labels", "02-zarr-labels-voxel-size-style", "segmentation"),  # uint64, whole ROI
    ("mask", "05-zarr-mask-4d", "image"),                   # 3-channel uint8
    ("seg", "03-zarr-ome-ngff-s0", "segmentation"),         # OME-NGFF seg/s0
    ("binarize", "10-binarize-empty-group", "image"),       # binarize over labels, c axis
    ("intensities", "20-intensities-no-clip", "image"),     # float32
    ("ones", "23-ones-labels", "image"),                    # bool
    ("ones-mask", "24-ones-mask-4d", "image"),              # bool, 3 channels
    ("const300", "27-constant-300", "image"),               # int64 (served as int32)
    ("merge", "40-merge-instances-two", "segmentation"),    # merge_instances, uint64
    ("resampled", "16-resampled-order1-whole", "image"),    # order 1, two pyramid scales
]
# Registered by --demo: 128x256x256, voxel 8x4x4 nm, several pyramid scales.
DEMO_ARRAYS = [("demo-raw", "image"), ("demo-labels", "segmentation"), ("demo-raw-norm", "image")]
# Browser layers: (label, array, source kind).
BROWSER_LAYERS = [
    ("precomputed-demo-raw", "demo-raw", "precomputed"),
    ("precomputed-demo-labels", "demo-labels", "precomputed"),
    ("precomputed-mask", "mask", "precomputed"),
    ("zarr-demo-raw", "demo-raw", "zarr"),
    ("zarr2-resampled", "resampled", "zarr2"),
    ("zarr-merge", "merge", "zarr"),
    ("ome-zarr2-demo-raw", "demo-raw", "ome-zarr2"),     # OME-NGFF 0.4 group: offset + scales
    ("ome-zarr-demo-raw-norm", "demo-raw-norm", "ome-zarr"),  # OME-NGFF 0.5 group (zarr v3)
]

RESULTS = []
_cleanups = []          # callables run once on every exit path
_print_lock = threading.Lock()


# ------------------------------------------------------------------ reporting
def emit(name, ok, detail, seconds):
    line = f"PASS {name}" if ok else f"FAIL {name}: {detail}"
    with _print_lock:
        print(line, flush=True)
        RESULTS.append({"name": name, "ok": ok, "detail": detail, "seconds": round(seconds, 2)})


def check(name, fn, *args, timeout=300):
    """Runs fn(*args) in a thread with a timeout; any exception or a timeout is a FAIL line."""
    box = {}

    def run():
        try:
            box["detail"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - every failure is a FAIL line, never a crash
            box["error"] = " ".join(f"{type(e).__name__}: {e}".split())[:600]
            box["trace"] = traceback.format_exc()

    t0 = time.time()
    t = threading.Thread(target=run, daemon=True, name=name)
    t.start()
    t.join(timeout)
    if t.is_alive():
        emit(name, False, f"timed out after {timeout:.0f}s", time.time() - t0)
        return False
    ok = "error" not in box
    detail = box.get("error") if not ok else ("" if box.get("detail") is None else str(box["detail"]))
    emit(name, ok, detail, time.time() - t0)
    return ok


def summary_and_exit(out_dir, code=None):
    passed = sum(r["ok"] for r in RESULTS)
    failed = len(RESULTS) - passed
    run_cleanups()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps({"checks": RESULTS}, indent=1))
    except OSError:
        pass
    with _print_lock:
        print(f"{passed} passed, {failed} failed", flush=True)
    sys.stdout.flush()
    # neuroglancer's tornado threads and tensorstore's pools must not keep the process alive
    os._exit(code if code is not None else (0 if failed == 0 and passed > 0 else 1))


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:  # noqa: BLE001
            pass


# ------------------------------------------------------------------ HTTP
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(url, method="GET", headers=None, timeout=60, data=None):
    """(status, headers, body); never raises on 4xx/5xx, never decodes gzip."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_ok(url, **kw):
    st, h, body = http(url, **kw)
    assert st == 200, f"GET {url} -> {st} {body[:300]!r}"
    ce = (h.get("Content-Encoding") or "identity").lower()
    assert ce == "identity", f"GET {url}: Content-Encoding {ce} although the request did not accept it"
    return h, body


def get_json(url):
    return json.loads(get_ok(url)[1])


def ts_open(url, driver, **kw):
    import tensorstore as ts
    spec = {"driver": driver, "kvstore": {"driver": "http", "base_url": url.rstrip("/") + "/"},
            "context": {"cache_pool": {"total_bytes_limit": 0}}, **kw}
    return ts.open(spec, read=True).result(timeout=120)


# ------------------------------------------------------------------ comparisons
def compare(got, exp, what, axes="czyx"):
    got = np.asarray(got)
    if got.shape != exp.shape:
        raise AssertionError(f"{what}: shape {got.shape}, expected {exp.shape} ({axes})")
    eq = got == exp
    if exp.dtype.kind == "f":
        eq |= np.isnan(got) & np.isnan(exp)
    if not eq.all():
        bad = np.argwhere(~eq)
        i = tuple(int(v) for v in bad[0])
        raise AssertionError(f"{what}: {len(bad)} of {exp.size} values differ; first at {axes}={i}: "
                             f"got {got[i].tolist()!r}, expected {exp[i].tolist()!r}")


def same_dtype(got, want, what):
    assert np.dtype(got) == np.dtype(want), f"{what}: dtype {np.dtype(got)}, expected {np.dtype(want)}"


# ------------------------------------------------------------------ the server
def kill_group(p):
    """Stops the process group of `p` (started with start_new_session): TERM, then KILL."""
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, out_dir, start_timeout):
        self.binary, self.out_dir, self.start_timeout = binary, out_dir, start_timeout
        self.proc = None
        self.state = tempfile.mkdtemp(prefix="arrayd-e2e-state-")
        self.log_path = out_dir / "arrayd.log"
        _cleanups.append(self.stop)

    def start(self):
        for attempt in range(3):
            port = free_port()
            self.base = f"http://127.0.0.1:{port}"
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-root", str(GOLDEN),
                 "--state-dir", self.state, "--demo"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**{k: v for k, v in os.environ.items() if not k.startswith("ARRAYD_")},
                     "ARRAYD_LOG": "info,tower_http=debug"})   # an access log in the artifact
            log.close()
            deadline = time.time() + self.start_timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if http(self.base + "/readyz", timeout=2)[0] == 200:
                        return f"{self.base} ready (pid {self.proc.pid})"
                except OSError:
                    pass
                time.sleep(0.2)
            if self.proc.poll() is None:
                self.stop()
                raise AssertionError(f"/readyz not 200 within {self.start_timeout:.0f}s; see {self.log_path}")
            tail = self.log_path.read_text(errors="replace")[-600:]
            if "cannot listen" not in tail:   # a port race is retried, anything else is fatal
                raise AssertionError(f"arrayd exited with {self.proc.returncode}: {tail}")
        raise AssertionError("could not bind a free port three times")

    def stop(self):
        p, self.proc = self.proc, None
        kill_group(p)
        shutil.rmtree(self.state, ignore_errors=True)

    def put(self, name, config):
        body = json.dumps(config).encode()
        st, _, resp = http(f"{self.base}/v1/arrays/{name}", "PUT",
                           {"Content-Type": "application/json"}, data=body)
        assert st in (200, 201), f"PUT {name} -> {st} {resp[:400]!r}"


# ------------------------------------------------------------------ expected data and pyramid
def served(a):
    """The dtype the precomputed view (and pyramid levels) serve: bool -> uint8,
    float64 -> float32, int64 -> int32 saturating."""
    if a.dtype == np.bool_:
        return a.astype(np.uint8)
    if a.dtype == np.float64:
        return a.astype(np.float32)
    if a.dtype == np.int64:
        i = np.iinfo(np.int32)
        return np.clip(a, i.min, i.max).astype(np.int32)
    return a


class Level:
    def __init__(self, res, off, size, data, factor):
        self.res, self.off, self.size, self.data, self.factor = res, off, size, data, factor

    def xyz(self, v):
        return [int(x) for x in v[::-1]]


def downsample(level, f, segmentation):
    """Next level: voxel i covers [i*f, i*f+f) of the finer level, clipped to its bounds;
    bounds [floor(lo/f), ceil(hi/f)); mean (integers rounded half to even, floats in float64
    then cast) or most frequent non-zero label (ties to the smallest, 0 if all zero)."""
    data, off, size = level.data, level.off, level.size
    lo = [off[d] // f[d] for d in range(3)]
    hi = [-((-(off[d] + size[d])) // f[d]) for d in range(3)]
    n = [hi[d] - lo[d] for d in range(3)]
    start = [off[d] - lo[d] * f[d] for d in range(3)]
    padded = np.zeros((data.shape[0],) + tuple(n[d] * f[d] for d in range(3)), data.dtype)
    valid = np.zeros(tuple(n[d] * f[d] for d in range(3)), bool)
    inner = tuple(slice(start[d], start[d] + size[d]) for d in range(3))
    padded[(slice(None),) + inner] = data
    valid[inner] = True
    # block elements in z, y, x order (x fastest), as the blocks are reduced
    parts = [(padded[:, dz::f[0], dy::f[1], dx::f[2]], valid[dz::f[0], dy::f[1], dx::f[2]])
             for dz in range(f[0]) for dy in range(f[1]) for dx in range(f[2])]
    if segmentation:
        best = np.zeros(parts[0][0].shape, data.dtype)
        best_n = np.zeros(parts[0][0].shape, np.int64)
        for vk, mk in parts:
            cnt = sum(((vj == vk) & mj).astype(np.int64) for vj, mj in parts)
            cnt = np.where(mk & (vk != 0), cnt, 0)
            better = (cnt > best_n) | ((cnt == best_n) & (cnt > 0) & (vk < best))
            best = np.where(better, vk, best)
            best_n = np.where(better, cnt, best_n)
        out = best
    else:
        acc = np.zeros(parts[0][0].shape, np.float64)
        cnt = np.zeros(parts[0][1].shape, np.int64)
        for v, m in parts:
            acc = acc + np.where(m, v.astype(np.float64), 0.0)
            cnt += m
        mean = acc / cnt
        out = mean.astype(data.dtype) if data.dtype.kind == "f" else np.round(mean).astype(data.dtype)
    return Level([level.res[d] * f[d] for d in range(3)], lo, n, out, f)


def pyramid(level0, chunk_of, segmentation):
    """Levels until one chunk covers the volume; each halves the axes whose resolution is
    finest among the axes longer than one voxel."""
    levels = [level0]
    while len(levels) < 24:
        last = levels[-1]
        chunk = chunk_of(len(levels) - 1)
        if all(last.size[d] <= chunk[d] for d in range(3)):
            break
        finest = min(last.res[d] for d in range(3) if last.size[d] > 1)
        f = [2 if last.size[d] > 1 and last.res[d] == finest else 1 for d in range(3)]
        levels.append(downsample(last, f, segmentation))
    return levels


class Arr:
    """One registered array: metadata, the whole ROI (expected values), the numpy pyramid."""

    def __init__(self, srv, name, ng_type, case=None):
        self.name, self.ng_type, self.case = name, ng_type, case
        self.url = f"{srv.base}/v1/arrays/{urllib.parse.quote(name)}"
        self.meta = get_json(self.url)["metadata"]
        m = self.meta
        self.axes = "".join(m["axes"])
        self.has_c = self.axes[0] == "c"
        assert len(m["voxel_size"]) == 3, "these tests use arrays with three spatial axes"
        self.vs = [int(v) for v in m["voxel_size"]]
        self.off_world = [int(v) for v in m["roi"]["offset"]]
        self.off = [o // v for o, v in zip(self.off_world, self.vs)]
        self.sp = [s // v for s, v in zip(m["roi"]["shape"], self.vs)]
        q = urllib.parse.urlencode({"offset": ",".join(map(str, self.off_world)),
                                    "shape": ",".join(map(str, m["roi"]["shape"])), "format": "npy"})
        _, body = get_ok(f"{self.url}/roi?{q}", timeout=300)
        self.arr = np.load(io.BytesIO(body), allow_pickle=False)
        assert self.arr.dtype == np.dtype(m["dtype"]), f"ROI npy dtype {self.arr.dtype} != {m['dtype']}"
        assert list(self.arr.shape) == list(m["shape"]), f"ROI npy shape {self.arr.shape} != {m['shape']}"
        self.czyx = self.arr if self.has_c else self.arr[None]
        self.C = self.czyx.shape[0]
        self.served_dtype = served(np.zeros(0, self.arr.dtype)).dtype
        self.levels = None   # computed once the info gives the chunk sizes

    def build_pyramid(self, info_scales):
        def chunk_of(k):
            s = info_scales[min(k, len(info_scales) - 1)]
            return [int(v) for v in s["chunk_sizes"][0][::-1]]
        l0 = Level(self.vs, self.off, self.sp, served(self.czyx), [1, 1, 1])
        self.levels = pyramid(l0, chunk_of, self.ng_type == "segmentation")
        return self.levels


# ------------------------------------------------------------------ HTTP behaviour (one check per view)
def http_behaviour(meta_url, chunk_url, bad, gzip_required):
    """CORS, gzip, Range (206/416), ETag/304, HEAD and the statuses of bad keys."""
    errs = []
    h, ident = get_ok(chunk_url)
    # CORS on a GET and on the preflight
    hm, _ = get_ok(meta_url, headers={"Origin": ORIGIN})
    acao = hm.get("Access-Control-Allow-Origin")
    if acao not in ("*", ORIGIN):
        errs.append(f"GET with Origin: Access-Control-Allow-Origin={acao!r}")
    expose = (hm.get("Access-Control-Expose-Headers") or "").lower()
    if not ("*" in expose or all(k in expose for k in ("content-range", "etag", "content-length"))):
        errs.append(f"Access-Control-Expose-Headers={expose!r} lacks Content-Range/ETag/Content-Length")
    st, hp, _ = http(chunk_url, "OPTIONS", {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                                            "Access-Control-Request-Headers": "range"})
    methods, allowed = hp.get("Access-Control-Allow-Methods") or "", hp.get("Access-Control-Allow-Headers") or ""
    if not (200 <= st < 300 and hp.get("Access-Control-Allow-Origin") in ("*", ORIGIN)
            and ("*" in methods or "GET" in methods.upper()) and ("*" in allowed or "range" in allowed.lower())):
        errs.append(f"preflight -> {st}, Allow-Origin {hp.get('Access-Control-Allow-Origin')!r}, "
                    f"Allow-Methods {methods!r}, Allow-Headers {allowed!r}")
    # gzip when accepted
    st, hg, body = http(chunk_url, headers={"Accept-Encoding": "gzip"})
    ce = (hg.get("Content-Encoding") or "identity").lower()
    if st != 200:
        errs.append(f"GET with Accept-Encoding: gzip -> {st}")
    elif ce == "gzip":
        if gzip.decompress(body) != ident:
            errs.append("gunzipped body differs from the identity body")
    elif ce != "identity" or body != ident:
        errs.append(f"Content-Encoding {ce!r}: body differs from the identity body")
    elif gzip_required and len(ident) >= 1024:
        errs.append(f"no gzip for a {len(ident)}-byte chunk although the client accepts it")
    # Range
    n = min(10, len(ident))
    st, hr, body = http(chunk_url, headers={"Range": f"bytes=0-{n - 1}"})
    if st != 206 or hr.get("Content-Range") != f"bytes 0-{n - 1}/{len(ident)}" or body != ident[:n]:
        errs.append(f"Range bytes=0-{n - 1} -> {st}, Content-Range {hr.get('Content-Range')!r}")
    st, _, _ = http(chunk_url, headers={"Range": f"bytes={len(ident) + 100}-"})
    if st != 416:
        errs.append(f"unsatisfiable Range -> {st}, need 416")
    # ETag / If-None-Match
    tag = h.get("ETag")
    if not tag or tag.startswith("W/"):
        errs.append(f"no strong ETag ({tag!r})")
    else:
        st, _, body = http(chunk_url, headers={"If-None-Match": tag})
        if st != 304 or body:
            errs.append(f"If-None-Match {tag} -> {st} with {len(body)} bytes")
    # HEAD
    st, hh, body = http(chunk_url, "HEAD")
    if st != 200 or body or hh.get("ETag") != tag:
        errs.append(f"HEAD -> {st}, {len(body)} body bytes, ETag {hh.get('ETag')!r}")
    # bad keys
    got = {}
    for url, want in bad:
        st = http(url)[0]
        got[url.split("/v1/arrays/", 1)[-1].split("/", 1)[-1]] = st
        if not (want(st) if callable(want) else st == want):
            errs.append(f"{url.split('/v1/arrays/', 1)[-1]} -> {st}, need {getattr(want, 'desc', want)}")
    assert not errs, "; ".join(errs)
    return f"{len(ident)}-byte chunk, gzip {ce}; bad keys {got}"


def any4xx(st):
    return 400 <= st < 500


any4xx.desc = "4xx"


# ------------------------------------------------------------------ precomputed (issue 4)
def chunk_name(lo, hi):
    return "_".join(f"{a}-{b}" for a, b in zip(lo, hi))


def grid_cells(scale):
    """(lo, hi) x,y,z of every chunk of a scale, in global voxel coordinates."""
    cs, vo, size = scale["chunk_sizes"][0], scale.get("voxel_offset", [0, 0, 0]), scale["size"]
    for g in np.ndindex(*[math.ceil(n / c) for n, c in zip(size, cs)]):
        lo = [o + i * c for o, i, c in zip(vo, g, cs)]
        yield lo, [min(a + c, o + n) for a, c, o, n in zip(lo, cs, vo, size)]


def level_slice(level, lo_xyz, hi_xyz):
    """The czyx slice of a level's data for a chunk given in x,y,z global coordinates."""
    lo, hi = lo_xyz[::-1], hi_xyz[::-1]
    return level.data[(slice(None),) + tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, level.off))]


def decode_chunk(body, scale, lo, hi, a):
    ext = [b - l for l, b in zip(lo, hi)]                   # x,y,z
    dt = a.served_dtype
    if scale["encoding"] == "raw":
        want = int(np.prod(ext)) * a.C * dt.itemsize
        assert len(body) == want, f"raw chunk has {len(body)} bytes, expected {want}"
        return np.frombuffer(body, dt.newbyteorder("<")).reshape([a.C] + ext[::-1])
    if scale["encoding"] == "compressed_segmentation":
        import compressed_segmentation as cseg
        assert a.C == 1
        v = cseg.decompress(bytes(body), tuple(ext), dt, tuple(scale["compressed_segmentation_block_size"]),
                            order="F")
        return np.asarray(v).reshape(ext).transpose(2, 1, 0)[None]
    raise AssertionError(f"no decoder for encoding {scale['encoding']!r}")


def precomputed_checks(a, max_chunks):
    url = a.url + "/precomputed"
    p = f"[{a.name}]"
    info = {}

    def c_info():
        info.update(get_json(url + "/info"))
        errs = []
        if info.get("@type", "neuroglancer_multiscale_volume") != "neuroglancer_multiscale_volume":
            errs.append(f"@type {info['@type']!r}")
        if info.get("type") != a.ng_type:
            errs.append(f"type {info.get('type')!r}, expected {a.ng_type!r}")
        if str(info.get("data_type", "")).lower() != a.served_dtype.name:
            errs.append(f"data_type {info.get('data_type')!r}, expected {a.served_dtype.name!r}")
        if info.get("arrayd_dtype") != a.meta["dtype"]:
            errs.append(f"arrayd_dtype {info.get('arrayd_dtype')!r}, expected {a.meta['dtype']!r}")
        if info.get("num_channels") != a.C:
            errs.append(f"num_channels {info.get('num_channels')}, expected {a.C}")
        scales = info.get("scales") or []
        assert scales, f"no scales in info: {info}"
        for i, s in enumerate(scales):
            cs = s.get("chunk_sizes")
            if not (isinstance(cs, list) and len(cs) == 1 and len(cs[0]) == 3 and min(cs[0]) >= 1):
                errs.append(f"scale {i}: chunk_sizes {cs} (need exactly one [x,y,z])")
        assert not errs, "; ".join(errs)
        levels = a.build_pyramid(scales)
        if len({s.get("key") for s in scales}) != len(scales):
            errs.append("scale keys are not unique")
        if len(scales) != len(levels):
            errs.append(f"{len(scales)} scales, the pyramid rule gives {len(levels)}")
        cseg = a.ng_type == "segmentation" and a.served_dtype in (np.uint32, np.uint64)
        for i, (s, lv) in enumerate(zip(scales, levels)):
            want = {"size": lv.xyz(lv.size), "resolution": lv.xyz(lv.res), "voxel_offset": lv.xyz(lv.off)}
            got = {k: [float(v) if k == "resolution" else v for v in s.get(k, [0, 0, 0])] for k in want}
            if got != {k: [float(v) if k == "resolution" else v for v in w] for k, w in want.items()}:
                errs.append(f"scale {i}: {got}, expected {want} (x,y,z)")
            enc = s.get("encoding")
            if enc != ("compressed_segmentation" if cseg else "raw"):
                errs.append(f"scale {i}: encoding {enc!r}")
            if (enc == "compressed_segmentation") != ("compressed_segmentation_block_size" in s):
                errs.append(f"scale {i}: compressed_segmentation_block_size iff compressed_segmentation")
        last = scales[-1]
        if any(n > c for n, c in zip(last["size"], last["chunk_sizes"][0])):
            errs.append(f"coarsest scale {last['size']} does not fit in one chunk {last['chunk_sizes'][0]}")
        assert not errs, "; ".join(errs)
        return f"{len(scales)} scales, {a.ng_type} {info['data_type']}"

    def c_direct():
        n = 0
        for k, (s, lv) in enumerate(zip(info["scales"], a.levels)):
            cells = list(grid_cells(s))
            if len(cells) > max_chunks:
                pick = np.random.default_rng(k).choice(len(cells), max_chunks - 2, replace=False)
                cells = [cells[i] for i in sorted(set(pick.tolist()) | {0, len(cells) - 1})]
            for lo, hi in cells:
                _, body = get_ok(f"{url}/{s['key']}/{chunk_name(lo, hi)}")
                compare(decode_chunk(body, s, lo, hi, a), level_slice(lv, lo, hi),
                        f"scale {k} chunk {s['key']}/{chunk_name(lo, hi)}")
                n += 1
        return f"{n} chunks of {len(info['scales'])} scales decoded ({info['scales'][0]['encoding']})"

    def c_tensorstore():
        for k, lv in enumerate(a.levels):
            st = ts_open(url, "neuroglancer_precomputed", scale_index=k)
            same_dtype(st.dtype.numpy_dtype, a.served_dtype, f"scale {k}")
            dom = (list(st.domain.inclusive_min), list(st.domain.shape))
            want = (lv.xyz(lv.off) + [0], lv.xyz(lv.size) + [a.C])
            assert dom == want, f"scale {k}: domain {st.domain}, expected min {want[0]} shape {want[1]}"
            compare(np.asarray(st.read().result(timeout=300)).transpose(3, 2, 1, 0), lv.data,
                    f"tensorstore scale {k}")
        return f"{len(a.levels)} scales"

    def c_cloudvolume():
        from cloudvolume import CloudVolume
        for k, lv in enumerate(a.levels):
            cv = CloudVolume("precomputed://" + url, mip=k, cache=False, progress=False,
                             fill_missing=False, parallel=1)
            vo = [int(v) for v in cv.voxel_offset]
            assert vo == lv.xyz(lv.off), f"mip {k}: voxel_offset {vo}, expected {lv.xyz(lv.off)}"
            got = np.asarray(cv[cv.bounds])
            same_dtype(got.dtype, a.served_dtype, f"mip {k}")
            compare(got.transpose(3, 2, 1, 0), lv.data, f"cloud-volume mip {k}")
        return f"{len(a.levels)} mips"

    def c_http():
        s0 = info["scales"][0]
        key, cs = s0["key"], s0["chunk_sizes"][0]
        lo, hi = next(grid_cells(s0))
        end = [o + n for o, n in zip(s0["voxel_offset"], s0["size"])]
        bad = [(f"{url}/{key}/{chunk_name([lo[0] + 1] + lo[1:], hi)}", any4xx),            # misaligned
               (f"{url}/{key}/{chunk_name(lo, [hi[0] - 1] + hi[1:])}", any4xx),            # short end
               (f"{url}/{key}/{chunk_name(end, [e + c for e, c in zip(end, cs)])}", any4xx),  # outside
               (f"{url}/{key}/not-a-chunk", any4xx),
               (f"{url}/{key}/0-1_0-1", any4xx),
               (f"{url}/no_such_scale/{chunk_name(lo, hi)}", any4xx),
               (f"{url}/provenance", 404)]        # cloud-volume accepts only 404/403 as absent
        return http_behaviour(url + "/info", f"{url}/{key}/{chunk_name(lo, hi)}", bad, True)

    if not check(f"precomputed.info{p}", c_info) or a.levels is None:
        return
    check(f"precomputed.chunks_direct{p}", c_direct)
    check(f"precomputed.tensorstore{p}", c_tensorstore)
    check(f"precomputed.cloudvolume{p}", c_cloudvolume)
    check(f"precomputed.http{p}", c_http)


# ------------------------------------------------------------------ zarr views (issue 5)
def ome_transform(m, ds):
    """Scale and translation of a dataset, its own transforms then the multiscale's."""
    n = len(m["axes"])
    scale, trans = [1.0] * n, [0.0] * n
    for t in ds.get("coordinateTransformations", []) + m.get("coordinateTransformations", []):
        if t["type"] == "scale":
            scale = [s * k for s, k in zip(scale, t["scale"])]
            trans = [o * k for o, k in zip(trans, t["scale"])]
        elif t["type"] == "translation":
            trans = [o + k for o, k in zip(trans, t["translation"])]
    return scale, trans


def check_ome(attrs, a, version):
    ms = attrs.get("multiscales") if version == 2 else (attrs.get("ome") or {}).get("multiscales")
    assert ms, f"no OME-NGFF multiscales ({'top level' if version == 2 else 'attributes.ome'}); keys {sorted(attrs)}"
    m = ms[0]
    names = [x["name"] if isinstance(x, dict) else x for x in m["axes"]]
    assert "".join(names) == a.axes, f"OME axes {names}, expected {list(a.axes)}"
    dsets = m["datasets"]
    want_n = len(a.levels) if a.levels else 1
    assert len(dsets) == want_n, f"{len(dsets)} OME datasets, expected {want_n} (s0 + pyramid levels)"
    for k, ds in enumerate(dsets):
        lv = a.levels[k] if a.levels else None
        res = lv.res if lv else a.vs
        origin = [o * r for o, r in zip(lv.off, lv.res)] if lv else a.off_world
        want_path = "." if k == 0 else f"s{k}"
        assert ds["path"] in ((want_path, "", "s0") if k == 0 else (want_path,)), f"dataset {k} path {ds['path']!r}"
        scale, trans = ome_transform(m, ds)
        sp = slice(1, None) if a.has_c else slice(None)
        assert (scale[sp], trans[sp]) == ([float(v) for v in res], [float(v) for v in origin]), \
            f"dataset {k}: scale {scale} translation {trans}, expected {res} {origin} (z,y,x)"


def zarr_checks(a, fmt, multiscale):
    v = "zarr3" if fmt == 3 else "zarr2"
    url = f"{a.url}/{'zarr' if fmt == 3 else 'zarr2'}"
    p = f"[{a.name}]"
    md = {}

    def c_meta():
        if fmt == 3:
            m = get_json(url + "/zarr.json")
            assert m.get("zarr_format") == 3 and m.get("node_type") == "array", \
                f"zarr_format {m.get('zarr_format')} node_type {m.get('node_type')}"
            assert m.get("dimension_names") == list(a.axes), f"dimension_names {m.get('dimension_names')}"
            assert m.get("data_type") == a.meta["dtype"], f"data_type {m.get('data_type')}"
            attrs = m.get("attributes") or {}
        else:
            m = get_json(url + "/.zarray")
            assert m.get("zarr_format") == 2, f"zarr_format {m.get('zarr_format')}"
            assert np.dtype(m["dtype"]) == a.arr.dtype, f"dtype {m['dtype']}"
            attrs = get_json(url + "/.zattrs")
            assert attrs.get("_ARRAY_DIMENSIONS") == list(a.axes), f"_ARRAY_DIMENSIONS {attrs.get('_ARRAY_DIMENSIONS')}"
        md.update(m)
        assert list(m.get("shape", [])) == list(a.arr.shape), f"shape {m.get('shape')}, expected {list(a.arr.shape)}"
        units = [None] * a.has_c + [f"{v} nm" for v in a.vs]   # what neuroglancer reads on an array
        assert attrs.get("dimension_units") == units, f"dimension_units {attrs.get('dimension_units')}, expected {units}"
        check_ome(attrs, a, fmt)
        return f"OME {'0.5' if fmt == 3 else '0.4'}, {len(a.levels or [0])} datasets"

    def c_zarr_python():
        import zarr
        z = zarr.open_array(url + "/", mode="r", zarr_format=fmt)
        same_dtype(z.dtype, a.arr.dtype, "zarr-python")
        compare(z[...], a.arr, f"zarr-python v{fmt}", a.axes)
        return f"zarr {zarr.__version__}, {a.arr.dtype} {list(a.arr.shape)}"

    def c_tensorstore():
        st = ts_open(url, "zarr3" if fmt == 3 else "zarr")
        same_dtype(st.dtype.numpy_dtype, a.arr.dtype, "tensorstore")
        compare(st.read().result(timeout=300), a.arr, f"tensorstore {'zarr3' if fmt == 3 else 'zarr'}", a.axes)

    def c_levels():
        driver = "zarr3" if fmt == 3 else "zarr"
        for k in range(1, len(a.levels)):
            lv = a.levels[k]
            st = ts_open(f"{url}/s{k}", driver)
            same_dtype(st.dtype.numpy_dtype, a.served_dtype, f"s{k}")
            got = np.asarray(st.read().result(timeout=300))
            got = got if a.has_c else got[None]
            compare(got, lv.data, f"tensorstore {driver} s{k} vs the numpy pyramid")
            pre = ts_open(a.url + "/precomputed", "neuroglancer_precomputed", scale_index=k)
            compare(got, np.asarray(pre.read().result(timeout=300)).transpose(3, 2, 1, 0),
                    f"{driver} s{k} vs precomputed scale {k}")
        return f"s1..s{len(a.levels) - 1} equal the precomputed scales"

    def c_http():
        if fmt == 3:
            cs = md["chunk_grid"]["configuration"]["chunk_shape"]
            sep = ((md.get("chunk_key_encoding") or {}).get("configuration") or {}).get("separator", "/")
            key = lambda g: "c" + sep + sep.join(map(str, g))  # noqa: E731
        else:
            cs, sep = md["chunks"], md.get("dimension_separator") or "."
            key = lambda g: sep.join(map(str, g))  # noqa: E731
        gshape = [math.ceil(n / c) for n, c in zip(a.arr.shape, cs)]
        chunk_url = None
        for i, g in enumerate(np.ndindex(*gshape)):
            if i >= 64:
                break
            if http(f"{url}/{key(g)}")[0] == 200:
                chunk_url = f"{url}/{key(g)}"
                break
        assert chunk_url, "no stored chunk among the first 64"
        bad = [(f"{url}/{key(gshape)}", 404),                               # outside the grid
               (f"{url}/{key([n + 5 for n in gshape])}", 404),
               (f"{url}/{key([0] + ['x'] * (len(gshape) - 1))}", 400),      # malformed chunk key
               (f"{url}/{key(['x'] * len(gshape))}", any4xx),               # not a chunk key at all
               (f"{url}/{key([0] * (len(gshape) + 1))}", any4xx)]           # wrong rank
        return http_behaviour(url + ("/zarr.json" if fmt == 3 else "/.zarray"), chunk_url, bad, False)

    check(f"{v}.metadata{p}", c_meta)
    check(f"{v}.zarr_python{p}", c_zarr_python)
    check(f"{v}.tensorstore{p}", c_tensorstore)
    if multiscale:
        check(f"{v}.levels{p}", c_levels)
    if md:
        check(f"{v}.http{p}", c_http)


def group_checks(srv, arrays):
    import zarr

    names = sorted(a.name for a in arrays)
    probe = next(a for a in arrays if a.name == "labels")

    def c_group(fmt):
        url = f"{srv.base}/v1/{'zarr' if fmt == 3 else 'zarr2'}/"
        g = zarr.open_group(url, mode="r", zarr_format=fmt)
        keys = sorted(g.array_keys())
        missing = sorted(set(names) - set(keys))
        assert not missing, f"group lists {keys}; missing {missing}"
        z = g[probe.name]
        compare(z[...], probe.arr, f"{probe.name} read through the v{fmt} group", probe.axes)
        return f"{len(keys)} arrays listed; {probe.name} read through the group"

    check("zarr3.group_root", c_group, 3)
    check("zarr2.group_root", c_group, 2)


# ------------------------------------------------------------------ ROI endpoint vs golden
def golden_check(a):
    case = GOLDEN / "cases" / a.case
    exp_meta = json.loads((case / "expected.json").read_text())
    roi = json.loads((case / "roi.json").read_text())
    want = np.load(case / "expected.npy", allow_pickle=False)
    for k in ("dtype", "axes", "num_channels", "voxel_size", "roi"):
        assert a.meta[k] == exp_meta[k], f"metadata {k} {a.meta[k]!r}, expected {exp_meta[k]!r}"
    req = exp_meta["request_roi"]
    sl = tuple(slice((o - ao) // v, (o - ao) // v + s // v)
               for o, ao, s, v in zip(req["offset"], a.off_world, req["shape"], a.vs))
    got = a.arr[(slice(None),) * a.has_c + sl]
    what = "whole ROI" if roi is None else f"sub-ROI {req['offset']}+{req['shape']} of the whole read"
    same_dtype(got.dtype, want.dtype, what)
    if "atol" in exp_meta:   # interpolated uint8 (fixtures README): off by at most atol at <= 0.1 %
        assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
        d = np.abs(got.astype(np.int64) - want.astype(np.int64))
        assert d.max() <= exp_meta["atol"] and (d > 0).mean() <= 0.001, \
            f"{what}: max |diff| {d.max()}, {(d > 0).sum()} voxels differ"
        return f"{what} equals expected.npy within atol {exp_meta['atol']} ({(d > 0).sum()} voxels differ)"
    if want.dtype.kind == "f" and not np.array_equal(got, want):
        assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
        rel = np.abs(got.astype(np.float64) - want) / np.maximum(np.abs(want), 1e-30)
        assert rel.max() <= 1e-5, f"{what}: max relative difference {rel.max():.3g}"
        return f"{what} equals expected.npy within 1e-5 relative"
    compare(got, want, what, a.axes)
    return f"{what} equals expected.npy exactly"


# ------------------------------------------------------------------ neuroglancer in headless Chromium
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1280,900"]


def ng_transcode_block(chunk_xyz, shape_xyz):
    """The block size neuroglancer transcodes uint32/uint64 chunks of a zarr array node to
    compressed_segmentation with (getNearIsotropicBlockSize in sliceview/base.ts, at most 2^9
    voxels, for the volume-request path whose chunk-to-view transform is the identity): double
    the smallest dimension (the first on ties) below min(chunk, largest power of two <= size)."""
    bound = [min(2 ** int(math.floor(math.log2(n))), c) for n, c in zip(shape_xyz, chunk_xyz)]
    block = [1] * len(chunk_xyz)
    for _ in range(9):
        open_dims = [d for d in range(len(block)) if block[d] < bound[d]]
        if not open_dims:
            break
        d = min(open_dims, key=lambda d: (block[d], d))
        block[d] *= 2
    return block


class Browser:
    def __init__(self, out_dir, timeout):
        import neuroglancer
        import neuroglancer.viewer_base as vb
        self.ng, self.out_dir, self.timeout = neuroglancer, out_dir, timeout
        self.cseg_block = None      # block size of the layer being read, if compressed_segmentation
        orig = vb.ViewerCommonBase._handle_volume_chunk_reply
        outer = self

        def reply(viewer, request_id, params, data):
            # neuroglancer-python 2.41.2 hands compressed_segmentation chunks back still encoded
            # (the stock handler then fails on the length): decode them with the PyPI package.
            # Precomputed cseg chunks arrive as the server encoded them; uint32/uint64 zarr
            # chunks arrive as the browser transcoded them (see ng_transcode_block).
            if (isinstance(params, dict) and "error" not in params and not params.get("isFillValue")
                    and outer.cseg_block is not None):
                dt, shape = np.dtype(params["dtype"]), params["chunkDataSize"]
                if len(data) != int(np.prod(shape)) * dt.itemsize:
                    import compressed_segmentation as cseg
                    v = cseg.decompress(bytes(data), tuple(shape[:3]), dt, tuple(outer.cseg_block), order="F")
                    data = np.asarray(v).tobytes(order="F")
            return orig(viewer, request_id, params, data)

        vb.ViewerCommonBase._handle_volume_chunk_reply = reply
        neuroglancer.set_server_bind_address("127.0.0.1")
        self.viewer = neuroglancer.Viewer()
        self.prof = tempfile.mkdtemp(prefix="arrayd-e2e-chrome-")
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        self.proc = subprocess.Popen(
            [chromium, f"--user-data-dir={self.prof}", *CHROME_FLAGS, self.viewer.get_viewer_url()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.prof, "chromium.log"), "w"), start_new_session=True,
            env=dict(os.environ, HOME=self.prof, XDG_CONFIG_HOME=self.prof, XDG_CACHE_HOME=self.prof,
                     XDG_DATA_HOME=self.prof, TMPDIR=self.prof))
        _cleanups.append(self.close)

    def close(self):
        p, self.proc = self.proc, None
        kill_group(p)     # Chromium's own process group
        log = os.path.join(self.prof, "chromium.log")
        if os.path.exists(log):
            shutil.copy(log, self.out_dir / "chromium.log")
        shutil.rmtree(self.prof, ignore_errors=True)

    def show(self, label, a, kind):
        ng = self.ng
        if kind == "precomputed":
            source = f"precomputed://{a.url}/precomputed"
        elif kind == "zarr":
            source = f"zarr://{a.url}/zarr/"
        elif kind == "zarr2":
            source = f"zarr2://{a.url}/zarr2/"
        elif kind == "ome-zarr":
            source = f"zarr://{a.url}/ome-zarr/"
        else:
            source = f"zarr2://{a.url}/ome-zarr2/"
        l0 = a.levels[0]
        # neuroglancer reads OME-NGFF only on groups: an array node has its origin at 0
        origin = [0, 0, 0] if kind in ("zarr", "zarr2") else l0.xyz(l0.off)
        with self.viewer.txn() as s:
            s.layers.clear()
            s.dimensions = ng.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=l0.xyz(l0.res))
            if a.ng_type == "segmentation":   # the segments that cross the three centre planes
                mid = [n // 2 for n in l0.size]
                planes = [l0.data[:, mid[0]], l0.data[:, :, mid[1]], l0.data[..., mid[2]]]
                ids = np.unique(np.concatenate([p.ravel() for p in planes]))
                s.layers[label] = ng.SegmentationLayer(source=source, segments=[int(i) for i in ids if i][:500])
            else:
                lo, hi = float(l0.data.min()), float(l0.data.max())
                if a.C == 3:   # the dimmest channel's maximum is full brightness (masks: 0/1, 0/255)
                    hi = float(min(c.max() for c in l0.data))
                    kw = {"shader": "#uicontrol invlerp normalized\nvoid main(){emitRGB(vec3("
                                    "toNormalized(getDataValue(0)),toNormalized(getDataValue(1)),"
                                    "toNormalized(getDataValue(2))));}",
                          "shader_controls": {"normalized": {"range": [lo, hi if hi > lo else lo + 1]}}}
                else:
                    kw = {"shader_controls": {"normalized": {"range": [lo, hi if hi > lo else lo + 1]}}}
                s.layers[label] = ng.ImageLayer(source=source, **kw)
            s.position = [o + n / 2 for o, n in zip(origin, l0.xyz(l0.size))]
            s.cross_section_scale = max(l0.size[1:]) / 400
            s.layout = "4panel"
            s.cross_section_background_color = "#000000"   # so lit pixels mean rendered data

    def read_level(self, label, a, k, vi0, origin_at_zero):
        """Every chunk of pyramid level k as the browser fetched and decoded it, as czyx."""
        ng = self.ng
        lv, l0 = a.levels[k], a.levels[0]
        names = list(vi0.dimensions.names)
        spatial = [names.index(ax) for ax in "zyx"]
        if k == 0:
            vi = vi0
            units = [vi0.dimensions.units[i] for i in spatial]
            scales = [round(float(vi0.dimensions.scales[i]) * 1e9, 6) for i in spatial]
            assert units == ["m"] * 3 and scales == [float(v) for v in lv.res], \
                f"browser voxel size {scales} {units} (z,y,x), expected {lv.res} nm"
        else:   # request the coarser scale by asking for its voxel size
            fz = {ax: lv.res[i] // l0.res[i] for i, ax in enumerate("zyx")}
            scales = [float(sc) * fz.get(n, 1) for n, sc in zip(names, vi0.dimensions.scales)]
            dims = ng.CoordinateSpace(names=names, units=list(vi0.dimensions.units), scales=scales)
            vi = self.viewer.volume_info(label, dimensions=dims).result(timeout=self.timeout)
        lo, hi, cs = (np.array(x, dtype=np.int64) for x in (vi.lower_bound, vi.upper_bound, vi.chunk_shape))
        want_lo = [0, 0, 0] if origin_at_zero else lv.off
        assert [int(lo[i]) for i in spatial] == want_lo, \
            f"scale {k}: browser lower bound {lo.tolist()} ({names}), expected {want_lo} (z,y,x)"
        assert [int(hi[i] - lo[i]) for i in spatial] == lv.size, \
            f"scale {k}: browser extent {(hi - lo).tolist()} ({names}), expected {lv.size} (z,y,x)"
        # walk the grid from lower_bound: neuroglancer-python 2.41.2 reports gridOrigin as
        # 2*voxel_offset for precomputed sources (a bug of the bridge, not of the data)
        grid = [-(-int(n) // int(c)) for n, c in zip(hi - lo, cs)]
        futs = {g: self.viewer._volume_chunk(label, vi, [int(v) for v in g]) for g in np.ndindex(*grid)}
        got = np.zeros([int(v) for v in hi - lo], dtype=np.dtype(vi.data_type))
        for g, f in futs.items():
            arr = f.result(timeout=self.timeout)
            sl = tuple(slice(int(i * c), min(int(i * c) + n, int(e)))
                       for i, c, n, e in zip(g, cs, arr.shape, hi - lo))
            got[sl] = arr[tuple(slice(0, s.stop - s.start) for s in sl)]
        others = [i for i in range(len(names)) if i not in spatial]   # the channel dimension, if shown
        got = got.transpose(others + spatial)
        if not others:
            got = got[None]
        compare(got, lv.data, f"browser scale {k}", "czyx")
        return len(futs)

    def screenshot(self, label, a, wait):
        box = {}
        t = threading.Thread(target=lambda: box.update(
            png=self.viewer.screenshot(size=(1000, 700)).screenshot.image), daemon=True)
        t.start()
        t.join(wait)   # screenshot() waits for every visible chunk, forever if one never loads
        assert "png" in box, f"no screenshot within {wait:.0f}s: neuroglancer never finished loading"
        path = self.out_dir / f"neuroglancer-{label}.png"
        path.write_bytes(box["png"])
        from PIL import Image
        im = np.asarray(Image.open(io.BytesIO(box["png"])).convert("RGB"))
        lit = float((im.max(axis=-1) > 16).mean())
        assert lit > 0.05 or not a.levels[0].data.any(), f"{path} looks blank ({lit:.1%} lit)"
        return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} {im.shape[1]}x{im.shape[0]}, {lit:.0%} lit"

    def layer_checks(self, label, a, kind):
        self.cseg_block = None
        if kind == "precomputed":
            s0 = get_json(a.url + "/precomputed/info")["scales"][0]
            self.cseg_block = s0.get("compressed_segmentation_block_size")
        elif a.arr.dtype in (np.uint32, np.uint64) and not a.has_c:
            md = get_json(f"{a.url}/zarr/zarr.json") if kind == "zarr" else get_json(f"{a.url}/zarr2/.zarray")
            chunk = md["chunk_grid"]["configuration"]["chunk_shape"] if kind == "zarr" else md["chunks"]
            self.cseg_block = ng_transcode_block(chunk[::-1], list(a.arr.shape[::-1]))
        self.show(label, a, kind)

        def c_data():
            vi0 = self.viewer.volume_info(label).result(timeout=self.timeout)
            if kind not in ("zarr", "zarr2"):   # every scale, by asking for each scale's voxel size
                n = sum(self.read_level(label, a, k, vi0, False) for k in range(len(a.levels)))
                return f"{n} chunks of {len(a.levels)} scales read back from the browser"
            # an array node: one scale, at index origin 0 (OME-NGFF is read only on groups)
            n = self.read_level(label, a, 0, vi0, True)
            return f"{n} chunks read back from the browser; voxel size from dimension_units"

        ok = check(f"browser.data[{label}]", c_data, timeout=self.timeout * 3)
        check(f"browser.screenshot[{label}]", self.screenshot, label, a, self.timeout if ok else 20,
              timeout=self.timeout + 30)


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", default=os.environ.get("ARRAYD_BIN", str(ROOT / "target/debug/arrayd")))
    ap.add_argument("--out", default=str(ROOT / "target" / "e2e"))
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium part")
    ap.add_argument("--only", default="", help="comma-separated array names to test (default: all)")
    ap.add_argument("--max-chunks", type=int, default=256, help="direct chunk decodes per scale (sampled)")
    ap.add_argument("--timeout", type=float, default=120, help="browser waits, seconds")
    ap.add_argument("--start-timeout", type=float, default=600, help="wait for /readyz, seconds")
    ap.add_argument("--deadline", type=float, default=2400, help="whole run, seconds")
    a = ap.parse_args()
    out_dir = Path(a.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in list(out_dir.glob("neuroglancer-*.png")) + [out_dir / "arrayd.log", out_dir / "report.json"]:
        stale.unlink(missing_ok=True)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    def on_signal(signum, _frame):
        emit("run.interrupted", False, f"signal {signum}", 0)
        summary_and_exit(out_dir, 1)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    def watchdog():
        emit("run.deadline", False, f"the whole run exceeded {a.deadline:.0f}s", a.deadline)
        summary_and_exit(out_dir, 1)

    dog = threading.Timer(a.deadline, watchdog)
    dog.daemon = True
    dog.start()

    try:
        binary = Path(a.binary).resolve()
        srv = Server(binary, out_dir, a.start_timeout)
        if not check("server.start", srv.start, timeout=a.start_timeout + 60):
            summary_and_exit(out_dir)
        only = {n for n in a.only.split(",") if n}
        golden = [g for g in GOLDEN_ARRAYS if not only or g[0] in only]
        demo = [d for d in DEMO_ARRAYS if not only or d[0] in only]

        def register():
            for name, case, _ in golden:
                d = GOLDEN / "cases" / case
                reg = d / "registry.json"
                if reg.exists():   # entries that the case's config names by string
                    for n, cfg in json.loads(reg.read_text()).items():
                        srv.put(n, cfg)
                cfg = json.loads((d / "config.json").read_text())
                cfg.pop("name", None)
                srv.put(name, cfg)
            return f"{len(golden)} golden arrays registered"

        if not check("server.register", register):
            summary_and_exit(out_dir)
        arrays = []
        for name, case, ng_type in golden:
            box = []
            if check(f"roi.read[{name}]", lambda n=name, c=case, t=ng_type: box.append(Arr(srv, n, t, c)) or
                     f"{box[0].arr.dtype} {list(box[0].arr.shape)}"):
                arrays.append(box[0])
        for name, ng_type in demo:
            box = []
            if check(f"roi.read[{name}]", lambda n=name, t=ng_type: box.append(Arr(srv, n, t)) or
                     f"{box[0].arr.dtype} {list(box[0].arr.shape)}"):
                arrays.append(box[0])
        for arr in arrays:
            if arr.case:
                check(f"roi.golden[{arr.name}]", golden_check, arr)
        for arr in arrays:
            precomputed_checks(arr, a.max_chunks)
        for arr in arrays:
            for fmt in (3, 2):
                zarr_checks(arr, fmt, bool(arr.levels) and len(arr.levels) > 1)
        if any(x.name == "labels" for x in arrays):
            group_checks(srv, arrays)

        if not a.no_browser:
            by_name = {x.name: x for x in arrays}
            layers = [b for b in BROWSER_LAYERS if b[1] in by_name and by_name[b[1]].levels]
            if layers:
                box = []
                if check("browser.start", lambda: box.append(Browser(out_dir, a.timeout)) or
                         "neuroglancer viewer + headless Chromium", timeout=120):
                    for label, name, kind in layers:
                        box[0].layer_checks(label, by_name[name], kind)
                    box[0].close()
    except Exception as e:  # noqa: BLE001 - a harness error is a failure, never a traceback exit
        emit("run.harness", False, f"{type(e).__name__}: {e}", 0)
        traceback.print_exc()
    summary_and_exit(out_dir)


if __name__ == "__main__":
    main()
