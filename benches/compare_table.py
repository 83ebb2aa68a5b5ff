"""The table of benches/compare.sh: medians of the figures it recorded, each row next to
its baseline, the issue 12 target and whether it is met.

usage: python benches/compare_table.py RESULTS_DIR CRITERION_HOME COMMAND MINUTES BINARY
RESULTS_DIR holds figures.txt ("KEY VALUE" per round) and wrk.txt (RESULT lines of
benches/wrk_paths.lua); CRITERION_HOME is where `cargo bench --bench eval` wrote (may be
empty: the kernel rows then say "not measured").
"""
import itertools
import json
import os
import statistics
import sys
import time

res, crit, command, minutes, binary = sys.argv[1:6]

figs = {}
if os.path.exists(f"{res}/figures.txt"):
    for line in open(f"{res}/figures.txt"):
        k, v = line.split()
        figs.setdefault(k, []).append(float(v))
wrk = {}
if os.path.exists(f"{res}/wrk.txt"):
    for line in open(f"{res}/wrk.txt"):
        r = json.loads(line.split(" ", 1)[1])
        wrk.setdefault(r["label"], []).append(r)


def med(key):
    v = figs.get(key)
    return statistics.median(v) if v else None


def wmed(label, field):
    v = wrk.get(label)
    return statistics.median(x[field] for x in v) if v else None


def n(key):
    return len(figs.get(key, []))


rows = []
NM = "not measured"


def row(path, a, b, ratio, target, met):
    rows.append((path, a, b, ratio, target, met))


def yes(ok):
    return "yes" if ok else "**no**"


# 1. serving
serving = [
    ("zarr v2 pass-through, random 64³ blosc chunks", "arrayd_passthrough", "nginx_blosc", "nginx, same files"),
    ("hot ROI of one 64³ chunk (`/roi?...&format=raw`)", "arrayd_roi_one", "nginx_one", "nginx, same 262,144 bytes (`raw/0.0.0`)"),
    ("computed chunk, hot (crop over blosc, zarr v3 view)", "arrayd_computed", "nginx_blosc", "nginx blosc files"),
]
non2xx = 0
for path, a, b, what in serving:
    for c in (1, 32):
        x, y = wmed(f"{a} c={c}", "rps"), wmed(f"{b} c={c}", "rps")
        non2xx += sum(r["non2xx"] + r["errors"] for k in (a, b) for r in wrk.get(f"{k} c={c}", []))
        if x is None or y is None:
            row(f"{path}, c={c}", f"{NM}: no wrk result", "", "", "≥ 1.0x nginx", "")
            continue
        p50a, p50b = wmed(f"{a} c={c}", "p50_ms"), wmed(f"{b} c={c}", "p50_ms")
        row(f"{path}, c={c}", f"{x:.0f} req/s (p50 {p50a:.2f} ms)", f"{y:.0f} req/s (p50 {p50b:.2f} ms), {what}",
            f"{x / y:.2f}", "≥ 1.0x nginx", yes(x / y >= 1.0))

# 2. miss
m = med("miss_ms")
if m is None:
    row("computed chunk on a miss", NM, "", "", "", "")
else:
    row(f"computed chunk on a miss (first pass over 512 chunks of a new crop over blosc, zstd; {n('miss_ms')} rounds)",
        f"{m:.2f} ms/chunk", "xpublish 34.4 ms/chunk (recorded in an earlier study, not this run)",
        f"{34.4 / m:.1f}x faster", "— (none in the issue)", "—")

# 3. big ROIs
x, y = wmed("arrayd_f32 c=1", "MBps"), wmed("nginx_static64 c=1", "MBps")
if x is None or y is None:
    row("hot 256³ float32 ROI (64 MiB)", NM, "", "", "≥ 0.5x nginx", "")
else:
    row("hot 256³ float32 ROI (64 MiB, intensities over blosc, `format=raw`), c=1", f"{x:.0f} MB/s",
        f"{y:.0f} MB/s, nginx sending a 64 MiB static file", f"{x / y:.2f}", "≥ 0.5x nginx", yes(x / y >= 0.5))
t = med("ts_roi256_s")
for kind, key, lim in (("cold (fresh server)", "roi256_cold_s", 1.2), ("hot", "roi256_hot_s", 1.0)):
    a = med(key)
    if a is None or t is None:
        row(f"256³ uint8 ROI, npy, {kind}", NM, "", "", f"≤ {lim}x tensorstore", "")
        continue
    row(f"256³ uint8 ROI, npy, {kind}", f"{a * 1e3:.0f} ms", f"{t * 1e3:.0f} ms, tensorstore reading the zarr from disk",
        f"{a / t:.2f} (time)", f"≤ {lim}x tensorstore", yes(a / t <= lim))

# 4. chains
vox = 512 ** 3
ts_full = med("ts_full512_s")
ts_rate = vox / ts_full / 1e6 if ts_full else None
chains = (("zarr", 463), ("intensities", 283), ("binarize", 166))
for (ch, dacapo), (kind, suffix, times) in itertools.product(chains, (("cold", "", 1), ("hot", "_hot", 10))):
    a = med(f"chain_{ch}{suffix}_s")
    label = {"zarr": "zarr", "intensities": "intensities over zarr",
             "binarize": "binarize, 3 groups over a uint32 label volume"}[ch]
    path = f"whole-array chain over `/roi`, {kind}, both cores: {label} (512³)"
    target = f"≥ {times}x DaCapo ({kind})"
    if a is None:
        row(path, NM, "", "", target, "")
        continue
    rate = vox / a / 1e6
    base = f"DaCapo in-process {dacapo} Mvox/s (recorded, earlier run)"
    ratio = f"{rate / dacapo:.2f} vs DaCapo"
    if ts_rate:
        base += f"; tensorstore from disk {ts_rate:.0f} Mvox/s (this run)"
        ratio += f"; {rate / ts_rate:.2f} vs tensorstore"
    row(path, f"{rate:.0f} Mvox/s ({a:.2f} s)", base, ratio, target, yes(rate >= times * dacapo))

# 5. coarsest
a, t = med("coarsest_computed_s"), med("coarsest_ts_s")
cn = None
if os.path.exists(f"{res}/coarsest.txt"):
    for line in open(f"{res}/coarsest.txt"):
        if line.startswith("| coarsest chunk of "):
            cn = line.split("of ")[1].split("^")[0]
if a is None or t is None:
    row("coarsest precomputed chunk, no stored levels, cold", f"{NM}: benches/coarsest.py gave no result", "", "",
        "≤ 1.5x tensorstore", "")
else:
    row(f"coarsest precomputed chunk of a {cn}³ uint8 array without stored levels, cold",
        f"{a:.2f} s", f"{t:.2f} s, tensorstore full read of s0 from disk", f"{a / t:.2f} (time)",
        "≤ 1.5x tensorstore", yes(a / t <= 1.5))

# 6. memory and latency
hwm = med("rss_hwm_kib")
p99 = wmed("arrayd_rss c=64", "p99_ms")
rps = wmed("arrayd_rss c=64", "rps")
if hwm is None:
    row("peak RSS, c=64 hot chunks, `--cache-size 256MiB`", NM, "", "", "≤ budget + 100 MB", "")
else:
    mib = hwm / 1024
    over = hwm * 1024 - 256 * 2 ** 20
    row(f"peak RSS (VmHWM), c=64 on hot computed chunks, `--cache-size 256MiB` (one run, {rps:.0f} req/s)",
        f"{mib:.0f} MiB", "the cache budget, 256 MiB", f"{over / 1e6:+.0f} MB", "≤ budget + 100 MB",
        yes(over <= 100e6))
if p99 is None:
    row("p99 latency in that run", NM, "", "", "≤ 50 ms", "")
else:
    row("p99 latency in that run", f"{p99:.1f} ms", "—", "—", "≤ 50 ms", yes(p99 <= 50))

# 6b. cold overload: shed as 503 + Retry-After, bounded latency and memory
ov = (wrk.get("arrayd_overload c=256") or [None])[0]
ohwm = med("overload_rss_hwm_kib")
if ov is None:
    row("cold overload (c=256, every request a miss)", NM, "", "", "503 + Retry-After, bounded", "")
else:
    total = max(ov["requests"], 1)
    bounded = ov["other"] == 0 and ov["errors"] == 0 and ov["max_ms"] <= 30_000
    row("cold overload: c=256 random 128³ ROIs, every request a miss, `--compute-threads 1` "
        f"(one run, {ov['rps']:.0f} req/s)",
        f"{ov['ok']} ok, {ov['shed']} shed as 503 + Retry-After ({100 * ov['shed'] / total:.0f}%), "
        f"{ov['other']} other, {ov['errors']} transport errors; p50 {ov['p50_ms']:.1f} ms, "
        f"p99 {ov['p99_ms']:.1f} ms, max {ov['max_ms']:.0f} ms; VmHWM {ohwm / 1024 if ohwm else 0:.0f} MiB",
        "queueing without bound (the issue's failure mode)", "—",
        "503 + Retry-After, no unbounded queue (max ≤ --compute-wait 30 s)", yes(bounded))

# 7. kernels
kernels = [("binarize", "binarize (2 groups)", 1e9, 262144),
           ("resampled_order1_down2", "resampled, order 1, 2x down", 100e6, 48 ** 3),
           ("merge_instances", "merge_instances (2 sources)", 1e9, 262144),
           ("sum", "sum (2 sources)", 1e9, 262144),
           ("downsample_mean_down2", "downsample mean, 2x (uint8)", 2e9, 32768),
           ("downsample_mode_down2", "downsample mode, 2x (uint64)", 300e6, 32768)]


def si(v):
    return f"{v / 1e9:.2f} G" if v >= 1e9 else f"{v / 1e6:.0f} M"


for name, label, target, out_vox in kernels:
    d = f"{crit}/evaluate_64cubed_chunk/{name}/new" if crit else ""
    path = f"kernel: {label}, one chunk (criterion median)"
    if not d or not os.path.exists(f"{d}/estimates.json"):
        row(path, f"{NM}: no criterion result", "", "", f"≥ {si(target)} voxels/s", "")
        continue
    ns = json.load(open(f"{d}/estimates.json"))["median"]["point_estimate"]
    try:
        out_vox = json.load(open(f"{d}/benchmark.json"))["throughput"]["Elements"]
    except (OSError, KeyError, TypeError):
        pass
    rate = out_vox / (ns * 1e-9)
    row(path, f"{si(rate)} voxels/s ({ns / 1e3:.0f} µs for {out_vox} output voxels)",
        f"target {si(target)} voxels/s (issue 12)", f"{rate / target:.2f}", f"≥ {si(target)} voxels/s",
        yes(rate >= target))

out = [f"`{command}` — {time.strftime('%Y-%m-%d %H:%M %Z')}, {minutes} min, binary `{binary}`", "",
       "| path | arrayd | baseline (what it is) | ratio | target (issue 12) | met? |",
       "|---|---|---|---|---|---|"]
out += ["| " + " | ".join(r) + " |" for r in rows]
out += ["",
        f"Medians over {n('miss_ms')} rounds (the hot npy row: 3 reads per round, the hot chains 2; the memory rows: one run); ratios of req/s and bytes/s are arrayd / baseline "
        "(higher is better), of times arrayd / baseline (lower is better). Recorded figures are from "
        "earlier runs, not this one. Non-2xx or socket errors in the serving runs: "
        f"{non2xx}. Kernel voxels/s count output voxels, as many as benches/eval.rs measures (criterion's benchmark.json)."]
print("\n".join(out))
