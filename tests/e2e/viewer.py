#!/usr/bin/env python3
"""End-to-end tests of what people see (issue 14), in headless Chromium.

    viewer.py [ARRAYD_BINARY] [--out DIR] [--timeout S] [--deadline S]

Starts the real `arrayd serve --demo --neuroglancer-dir <the neuroglancer wheel's client>`
on a loopback port and checks, in Debian's chromium driven over the DevTools protocol:

- `/` at 1366x768: every thumbnail <img> loads (naturalWidth > 0, lazy ones scrolled
  into view) and the page does not overflow sideways (scrollWidth <= innerWidth);
  screenshot `index.png`;
- the combined view of three demo arrays (jpeg image, labels, binarize) opened through
  `/v1/neuroglancer?layers=...`, which redirects to the local client at `/neuroglancer/`:
  time from navigation to the first frame with data in the panels, screenshot
  `combined.png`, and chunks of each layer fetched from that page (cross-origin rules of
  the page apply) and compared with the raw chunks: jpeg decoded by the browser within a
  tolerance, png exactly; a two-channel binarize drawn one colour per channel
  (`channels.png`);
- neuroglancer's own decoding: the python bridge's volume read-back (as in clients.py) of
  the jpeg, png and label layers, compared with the ROI endpoint (jpeg within a tolerance);
- bytes per 64^3 chunk of the demo EM: raw, gzip (Content-Encoding), jpeg q85 and png.

Prints `PASS name` / `FAIL name: reason` per check and, last, `N passed, M failed`.
"""
import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clients as c  # noqa: E402  (shared reporting, HTTP, server and browser helpers)

ROOT = c.ROOT
LAYERS = ["demo-raw-jpeg", "demo-labels", "demo-foreground"]
JPEG_MEAN_TOLERANCE = 6.0     # mean |jpeg - raw| per voxel at quality 85 (the demo EM has ±15 noise)
JPEG_MAX_TOLERANCE = 96       # worst single voxel


def client_dir():
    import neuroglancer
    d = Path(neuroglancer.__file__).resolve().parent / "static" / "client"
    assert (d / "index.html").exists(), f"no neuroglancer client at {d}"
    return d


class Server(c.Server):
    """clients.Server with --neuroglancer-dir."""

    def start(self):
        port = c.free_port()
        self.base = f"http://127.0.0.1:{port}"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-root", str(c.GOLDEN),
             "--state-dir", self.state, "--demo", "--neuroglancer-dir", str(client_dir())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("ARRAYD_")})
        log.close()
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"arrayd exited: {self.log_path.read_text()[-600:]}"
            try:
                if c.http(self.base + "/readyz", timeout=2)[0] == 200:
                    return f"{self.base} ready"
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"/readyz not 200 within {self.start_timeout:.0f}s")


# ------------------------------------------------------------------ DevTools protocol
class Cdp:
    """One headless Chromium page over the DevTools protocol (aiohttp websocket)."""

    def __init__(self, out_dir):
        self.prof = tempfile.mkdtemp(prefix="arrayd-viewer-chrome-")
        self.port = c.free_port()
        self.out_dir = out_dir
        self.proc = subprocess.Popen(
            [shutil.which("chromium") or "/usr/bin/chromium", f"--user-data-dir={self.prof}",
             f"--remote-debugging-port={self.port}", *c.CHROME_FLAGS, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.prof, "chromium.log"), "w"), start_new_session=True,
            env=dict(os.environ, HOME=self.prof, XDG_CONFIG_HOME=self.prof, XDG_CACHE_HOME=self.prof))
        c._cleanups.append(self.close)
        self.loop = asyncio.new_event_loop()
        self.ws, self.session, self.next_id = None, None, 0

    def close(self):
        p, self.proc = self.proc, None
        c.kill_group(p)
        shutil.rmtree(self.prof, ignore_errors=True)

    def run(self, coro, timeout):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    async def connect(self):
        import aiohttp
        deadline = time.time() + 60
        while True:
            try:
                targets = json.loads(c.http(f"http://127.0.0.1:{self.port}/json/list", timeout=2)[2])
                page = next(t for t in targets if t.get("type") == "page")
                break
            except (OSError, StopIteration, ValueError):
                if time.time() > deadline:
                    raise AssertionError("chromium's DevTools endpoint did not come up")
                await asyncio.sleep(0.2)
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        await self.send("Page.enable")
        return "chromium DevTools page"

    async def send(self, method, **params):
        self.next_id += 1
        my = self.next_id
        await self.ws.send_json({"id": my, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json()
            if msg.get("id") == my:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def eval(self, expr):
        r = await self.send("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"page error: {r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    async def goto(self, url, width, height):
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        await self.send("Page.navigate", url=url)
        for _ in range(600):
            if await self.eval("document.readyState") == "complete":
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{url} did not finish loading")

    async def screenshot(self, name, full=False):
        r = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=full)
        png = base64.b64decode(r["data"])
        path = self.out_dir / name
        path.write_bytes(png)
        from PIL import Image
        im = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        return path, im


# ------------------------------------------------------------------ the checks
def index_check(cdp, srv):
    async def go():
        await cdp.goto(srv.base + "/", 1366, 768)
        n = await cdp.eval("document.images.length")
        assert n >= 6, f"{n} thumbnails on /"
        # lazy thumbnails load once scrolled into view
        await cdp.eval("(async () => { for (const i of document.images) { i.scrollIntoView(); "
                       "await new Promise(r => setTimeout(r, 50)); } window.scrollTo(0, 0); })()")
        for _ in range(300):
            imgs = await cdp.eval("[...document.images].map(i => [i.alt, i.complete, i.naturalWidth])")
            if all(done for _, done, _ in imgs):
                break
            await asyncio.sleep(0.1)
        broken = [alt for alt, done, w in imgs if not done or w == 0]
        assert not broken, f"thumbnails that did not load: {broken}"
        sw, iw = await cdp.eval("[document.documentElement.scrollWidth, window.innerWidth]")
        assert sw <= iw, f"the page overflows sideways: scrollWidth {sw} > innerWidth {iw}"
        boxes = await cdp.eval("document.querySelectorAll('input[name=layer]').length")
        assert boxes == n, f"{boxes} checkboxes for {n} cards"
        path, im = await cdp.screenshot("index.png", full=True)
        return f"{n} thumbnails loaded, scrollWidth {sw} <= {iw}; {path.relative_to(ROOT)} {im.shape[1]}x{im.shape[0]}"
    return cdp.run(go(), 120)


FETCH_JS = """
(async (url, kind) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(url + ' -> ' + r.status);
  if (kind === 'raw') return Array.from(new Uint8Array(await r.arrayBuffer()));
  const bmp = await createImageBitmap(await r.blob());
  const cv = new OffscreenCanvas(bmp.width, bmp.height);
  const cx = cv.getContext('2d');
  cx.drawImage(bmp, 0, 0);
  const px = cx.getImageData(0, 0, bmp.width, bmp.height).data;
  const grey = new Array(bmp.width * bmp.height);
  for (let i = 0; i < grey.length; i++) grey[i] = px[4 * i];
  return [bmp.width, bmp.height, grey];
})
"""


def combined_check(cdp, srv, timeout):
    url = f"{srv.base}/v1/neuroglancer?layers={','.join(LAYERS)}"

    async def go():
        t0 = time.time()
        await cdp.goto(url, 1366, 768)
        here = await cdp.eval("location.href")
        assert here.startswith(srv.base + "/neuroglancer/v/arrayd/#!"), f"landed at {here[:120]}"
        first = None
        while time.time() - t0 < timeout:   # the first frame with data drawn in the panels
            n = await cdp.eval("window.viewer ? window.viewer.layerManager.managedLayers.length : 0")
            if n == len(LAYERS):
                _, im = await cdp.screenshot("combined.png")
                if float((im[40:-40, :1000].max(axis=-1) > 48).mean()) > 0.25:
                    first = time.time() - t0
                    break
            await asyncio.sleep(0.05)
        assert first is not None, f"nothing drawn within {timeout:.0f}s"
        names = await cdp.eval("window.viewer.layerManager.managedLayers.map(l => l.name)")
        assert names == LAYERS, f"layers {names}"
        errors = await cdp.eval("window.viewer.layerManager.managedLayers.map(l => l.layer.shaderError "
                                "&& l.layer.shaderError.value ? l.name + ': ' + l.layer.shaderError.value.message : '')"
                                ".filter(e => e)")
        assert not errors, f"shader errors: {errors}"
        await asyncio.sleep(3)   # the finer chunks, for the picture
        path, im = await cdp.screenshot("combined.png")
        lit = float((im.max(axis=-1) > 16).mean())
        assert lit > 0.05, f"{path} looks blank ({lit:.1%} lit)"
        status = await cdp.eval("document.body.innerText.includes('Disconnected')")
        assert not status, "the client shows 'Disconnected from Python server'"
        return first, path, lit
    first, path, lit = cdp.run(go(), timeout + 60)
    print(f"MEASURE first rendered frame of the combined view ({','.join(LAYERS)}): {first:.2f} s", flush=True)
    return f"first rendered frame after {first:.2f}s; {path.relative_to(ROOT)} {lit:.0%} lit"


def channels_check(cdp, srv, timeout):
    """A two-channel binarize drawn one colour per channel: `corner` (two cells, red) and
    `cells` (every cell, green). Reading channel 0 as channel 1 would paint every cell
    red+green (yellow); drawn right, most cells are green alone."""
    srv.put("demo-two-channels", {"type": "binarize", "source_array_config": "demo-labels",
                                  "groupings": [["corner", [10102, 10103]], ["cells", []]]})

    async def go():
        await cdp.goto(f"{srv.base}/v1/neuroglancer?layers=demo-two-channels", 1366, 768)
        t0 = time.time()
        while time.time() - t0 < timeout:
            _, im = await cdp.screenshot("channels.png")
            px = im[60:380, 110:420].astype(int)   # the top-left (xy) panel
            green = float(((px[..., 1] > px[..., 0] + 60)).mean())
            yellow = float(((px[..., 0] > 200) & (px[..., 1] > 200)).mean())
            if green > 0.3:
                return f"green-only (cells) {green:.0%}, red+green {yellow:.0%} of the xy panel"
            await asyncio.sleep(0.2)
        raise AssertionError(f"cells are not drawn in the second channel's colour: green {green:.0%}, yellow {yellow:.0%}")
    return cdp.run(go(), timeout + 30)


def page_chunks_check(cdp, srv):
    """Chunks of every layer fetched from the viewer page and decoded there."""
    chunk = "s0/30-94_50-114_50-114"   # x,y,z: the first chunk, at the demo voxel_offset
    async def go():
        fetch = f"({FETCH_JS})"
        raw = np.array(await cdp.eval(f"{fetch}('{srv.base}/v1/arrays/demo-raw/precomputed/{chunk}', 'raw')"), np.uint8)
        w, h, grey = await cdp.eval(f"{fetch}('{srv.base}/v1/arrays/demo-raw-jpeg/precomputed/{chunk}', 'image')")
        assert (w, h) == (64, 64 * 64), f"jpeg chunk is {w}x{h}, expected 64x4096"
        err = np.abs(np.array(grey, np.int16) - raw.astype(np.int16))
        assert err.mean() < JPEG_MEAN_TOLERANCE and err.max() < JPEG_MAX_TOLERANCE, \
            f"jpeg decoded in the page: mean error {err.mean():.2f}, worst {err.max()}"
        w2, h2, grey2 = await cdp.eval(f"{fetch}('{srv.base}/v1/arrays/demo-raw-png/precomputed/{chunk}', 'image')")
        assert (w2, h2) == (64, 4096) and np.array_equal(np.array(grey2, np.uint8), raw), "png decoded in the page differs"
        out = [f"jpeg mean error {err.mean():.2f} (worst {err.max()}), png exact"]
        for name in LAYERS[1:]:
            body = await cdp.eval(f"{fetch}('{srv.base}/v1/arrays/{name}/precomputed/{chunk}', 'raw')")
            assert len(body) > 0, f"{name}: empty chunk"
            out.append(f"{name} {len(body)} B")
        return "; ".join(out)
    return cdp.run(go(), 120)


def chunk_sizes(srv):
    """Mean bytes per 64^3 chunk of the demo EM's level 0 in each encoding."""
    info = c.get_json(f"{srv.base}/v1/arrays/demo-raw/precomputed/info")
    s0 = info["scales"][0]
    names = [c.chunk_name(lo, hi) for lo, hi in c.grid_cells(s0)]
    sizes = {"raw": [], "gzip": [], "jpeg q85": [], "png": []}
    for n in names:
        sizes["raw"].append(len(c.get_ok(f"{srv.base}/v1/arrays/demo-raw/precomputed/s0/{n}")[1]))
        st, h, body = c.http(f"{srv.base}/v1/arrays/demo-raw/precomputed/s0/{n}", headers={"Accept-Encoding": "gzip"})
        assert st == 200 and h.get("Content-Encoding") == "gzip", f"no gzip for {n}"
        sizes["gzip"].append(len(body))
        sizes["jpeg q85"].append(len(c.get_ok(f"{srv.base}/v1/arrays/demo-raw-jpeg/precomputed/s0/{n}")[1]))
        sizes["png"].append(len(c.get_ok(f"{srv.base}/v1/arrays/demo-raw-png/precomputed/s0/{n}")[1]))
    assert all(v == 64 ** 3 for v in sizes["raw"]), "raw 64^3 uint8 chunks are 262144 bytes"
    line = ", ".join(f"{k} {np.mean(v):,.0f} B" for k, v in sizes.items())
    print(f"MEASURE bytes per 64^3 chunk of demo-raw (mean of {len(names)} s0 chunks): {line}", flush=True)
    assert np.mean(sizes["jpeg q85"]) < np.mean(sizes["gzip"]) < 64 ** 3
    return line


def bridge_checks(srv, out_dir, timeout):
    """neuroglancer's own decoding: the python bridge's read-back of level 0 (see clients.py)."""
    box = []
    if not c.check("bridge.start", lambda: box.append(c.Browser(out_dir, timeout)) or "viewer + chromium", timeout=120):
        return
    b = box[0]
    ng = b.ng
    # jpeg: neuroglancer's decoder (pdf.js) once failed on every chunk here (tables after the
    # frame header); both the decoded voxels and the drawn picture are checked.
    for name, kind, tol in [("demo-raw-png", "image", 0), ("demo-labels", "segmentation", 0),
                            ("demo-raw-jpeg", "image", JPEG_MEAN_TOLERANCE)]:
        def read(name=name, kind=kind, tol=tol):
            info = c.get_json(f"{srv.base}/v1/arrays/{name}/precomputed/info")
            s0 = info["scales"][0]
            b.cseg_block = s0.get("compressed_segmentation_block_size")
            meta = c.get_json(f"{srv.base}/v1/arrays/{name}")
            off, shape = meta["metadata"]["roi"]["offset"], meta["metadata"]["roi"]["shape"]
            q = f"offset={','.join(map(str, off))}&shape={','.join(map(str, shape))}"
            want = np.load(io.BytesIO(c.get_ok(f"{srv.base}/v1/arrays/{name}/roi?{q}")[1]))
            src = f"precomputed://{srv.base}/v1/arrays/{name}/precomputed"
            with b.viewer.txn() as s:
                s.layers.clear()
                s.dimensions = ng.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=s0["resolution"])
                s.layers[name] = ng.SegmentationLayer(source=src) if kind == "segmentation" else ng.ImageLayer(source=src)
                s.position = [o + n / 2 for o, n in zip(s0["voxel_offset"], s0["size"])]
            for attempt in range(5):   # the layer may not be attached in the page yet
                try:
                    vi = b.viewer.volume_info(name).result(timeout=timeout)
                    break
                except Exception:  # noqa: BLE001
                    if attempt == 4:
                        raise
                    time.sleep(2)
            lo, hi, cs = (np.array(x, dtype=np.int64) for x in (vi.lower_bound, vi.upper_bound, vi.chunk_shape))
            grid = [-(-int(n) // int(k)) for n, k in zip(hi - lo, cs)]
            got = np.zeros([int(v) for v in hi - lo], dtype=np.dtype(vi.data_type))
            for g in np.ndindex(*grid):
                arr = b.viewer._volume_chunk(name, vi, [int(v) for v in g]).result(timeout=timeout)
                sl = tuple(slice(int(i * k), int(i * k) + n) for i, k, n in zip(g, cs, arr.shape))
                got[sl] = arr
            got = got.transpose([list(vi.dimensions.names).index(a) for a in "zyx"])
            assert got.shape == want.shape, f"browser {got.shape}, ROI {want.shape}"
            err = np.abs(got.astype(np.int64) - want.astype(np.int64))
            if tol:
                assert err.mean() < tol, f"jpeg as neuroglancer decoded it: mean error {err.mean():.2f}"
                return f"{int(np.prod(grid))} chunks decoded by neuroglancer, mean error {err.mean():.2f}"
            assert err.max() == 0, f"{int((err > 0).sum())} voxels differ"
            return f"{int(np.prod(grid))} chunks decoded by neuroglancer, exact"
        c.check(f"bridge.read[{name}]", read, timeout=timeout * 3)
    c.check("bridge.render[demo-raw-jpeg]", render_check, b, srv, out_dir, timeout, timeout=timeout * 4)
    b.close()


def render_check(b, srv, out_dir, timeout):
    """neuroglancer draws the jpeg layer as it draws the raw one (same view, one voxel per
    pixel, grey 0..255); a view one z-slab away is the control that the compare can fail."""
    ng = b.ng
    s0 = c.get_json(f"{srv.base}/v1/arrays/demo-raw/precomputed/info")["scales"][0]
    centre = [o + n / 2 for o, n in zip(s0["voxel_offset"], s0["size"])]

    def shot(name, dz):
        with b.viewer.txn() as s:
            s.layers.clear()
            s.dimensions = ng.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=s0["resolution"])
            s.layers[name] = ng.ImageLayer(source=f"precomputed://{srv.base}/v1/arrays/{name}/precomputed",
                                           shader_controls={"normalized": {"range": [0, 255]}})
            s.position = [centre[0], centre[1], centre[2] + dz]
            s.layout = "xy"
            s.cross_section_scale = 1
            s.show_axis_lines = False
            s.show_scale_bar = False
        box = {}
        t = threading.Thread(target=lambda: box.update(png=b.viewer.screenshot(size=(256, 256)).screenshot.image),
                             daemon=True)
        t.start()
        t.join(timeout)
        assert "png" in box, f"no screenshot of {name} within {timeout:.0f}s"
        from PIL import Image
        return np.asarray(Image.open(io.BytesIO(box["png"])).convert("L")).astype(np.int16)

    raw, jpeg, other = shot("demo-raw", 0), shot("demo-raw-jpeg", 0), shot("demo-raw", 8)
    d, control = float(np.abs(raw - jpeg).mean()), float(np.abs(raw - other).mean())
    assert raw.std() > 10, f"the raw view is flat (std {raw.std():.1f}): nothing was drawn"
    assert d < JPEG_MEAN_TOLERANCE, f"jpeg drawn by neuroglancer differs from raw by {d:.2f} per pixel"
    assert control > 2 * d, f"control: a view 8 slices away differs by only {control:.2f} (jpeg {d:.2f})"
    return f"jpeg vs raw as neuroglancer drew them: {d:.2f} per pixel (control, 8 z-slices away: {control:.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", default=os.environ.get("ARRAYD_BIN", str(ROOT / "target/debug/arrayd")))
    ap.add_argument("--out", default=str(ROOT / "target" / "e2e"))
    ap.add_argument("--timeout", type=float, default=120, help="browser waits, seconds")
    ap.add_argument("--deadline", type=float, default=1200, help="whole run, seconds")
    a = ap.parse_args()
    out_dir = Path(a.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: (c.emit("run.interrupted", False, f"signal {s}", 0), c.summary_and_exit(out_dir, 1)))
    dog = threading.Timer(a.deadline, lambda: (c.emit("run.deadline", False, f"over {a.deadline:.0f}s", 0),
                                               c.summary_and_exit(out_dir, 1)))
    dog.daemon = True
    dog.start()
    try:
        srv = Server(Path(a.binary).resolve(), out_dir, 600)
        srv.log_path = out_dir / "arrayd-viewer.log"
        if not c.check("server.start", srv.start, timeout=660):
            c.summary_and_exit(out_dir)
        c.check("server.register png", lambda: srv.put("demo-raw-png", {
            "type": "zarr", "file_name": "@demo/em.zarr", "dataset": "raw", "encoding": "png"}) or "demo-raw-png")
        c.check("chunks.bytes", chunk_sizes, srv)
        box = []
        if c.check("cdp.start", lambda: box.append(Cdp(out_dir)) or box[0].run(box[0].connect(), 90), timeout=120):
            cdp = box[0]
            c.check("index", index_check, cdp, srv, timeout=180)
            if c.check("combined", combined_check, cdp, srv, a.timeout, timeout=a.timeout + 90):
                c.check("combined.page chunks", page_chunks_check, cdp, srv, timeout=180)
            c.check("combined.channels", channels_check, cdp, srv, a.timeout, timeout=a.timeout + 60)
            cdp.close()
        bridge_checks(srv, out_dir, a.timeout)
    except Exception as e:  # noqa: BLE001 - a harness error is a failure line
        c.emit("run.harness", False, f"{type(e).__name__}: {e}", 0)
    c.summary_and_exit(out_dir)


if __name__ == "__main__":
    main()
