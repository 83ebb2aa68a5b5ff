#!/usr/bin/env bash
# Chunk-serving benchmark, arrayd next to nginx in the same run (loopback only).
#
#   benches/serve.sh [--duration SECONDS] [--rounds N]
#
# Data: a zarr v2 group with uint8 512^3 arrays `blosc` (Blosc zstd) and `raw`
# (uncompressed), 64^3 chunks (benches/make_data.py). nginx (1 worker, sendfile) and
# arrayd (release build, --compute-threads 1) both run pinned to CPU 0; wrk runs on
# CPU 1 with 1 and 32 connections, random chunk keys. Measured:
#   pass-through  /v1/zarr2/{blosc,raw}/i.j.k  vs nginx /test.zarr/{blosc,raw}/i.j.k
#   ROI           /v1/arrays/raw/roi (one 64^3 chunk, raw bytes, hot) vs nginx raw/0.0.0
#   computed      a crop wrapper over blosc through the zarr v3 view (encode path, hot),
#                 and the first pass over its chunks (evaluate + encode on a miss)
#   tensorstore   a 256^3 ROI through the precomputed view at scales 0 and 2, cold and hot,
#                 next to nginx serving a tensorstore-written precomputed copy
# Prints RESULT lines and a table of req/s with arrayd/nginx ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=10 ROUNDS=1
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DUR=$2; shift 2;;
    --rounds) ROUNDS=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
ROOT=${BENCH_ROOT:-/tmp/arrayd-bench}
mkdir -p "$ROOT/nginx/tmp" "$ROOT/state"
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}"
fi
PY=.venv/bin/python
[ -x "$PY" ] || { python3 -m venv .venv && .venv/bin/pip install -q -r tests/e2e/requirements.txt; }
[ -f "$ROOT/data/test.zarr/raw/.zarray" ] || "$PY" benches/make_data.py "$ROOT/data/test.zarr"
cargo build --release --quiet
BIN=target/release/arrayd

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NPORT=$(free_port); APORT=$(free_port)
sed -e "s#@ROOT@#$ROOT#g" -e "s#@PORT@#$NPORT#g" -e "s#@DATA@#$ROOT/data#g" benches/nginx.conf.in > "$ROOT/nginx/nginx.conf"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 0 nginx -c "$ROOT/nginx/nginx.conf" -g "daemon off;" & PIDS+=($!)
rm -rf "$ROOT/state"
taskset -c 0 "$BIN" serve --listen "127.0.0.1:$APORT" --data-root "$ROOT/data" --state-dir "$ROOT/state" \
  --cache-size 2GiB --compute-threads 1 > "$ROOT/arrayd.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$APORT/readyz" && break; sleep 0.1; done
put() { curl -sf -X PUT "http://127.0.0.1:$APORT/v1/arrays/$1" -d "$2" -o /dev/null; }
put blosc '{"type":"zarr","file_name":"test.zarr","dataset":"blosc"}'
put raw '{"type":"zarr","file_name":"test.zarr","dataset":"raw"}'
put computed '{"type":"crop","roi":{"offset":[0,0,0],"shape":[512,512,512]},"source_array_config":"blosc"}'

"$PY" benches/paths.py "$ROOT"

# First pass over the computed chunks: every request is a miss (evaluate + encode).
"$PY" - "$APORT" "$ROOT" <<'EOF' | tee "$ROOT/cold.txt"
import sys, time, urllib.request
port, root = sys.argv[1], sys.argv[2]
paths = open(f"{root}/arrayd_computed.paths").read().split()
t = time.perf_counter()
for p in paths:
    urllib.request.urlopen(f"http://127.0.0.1:{port}{p}").read()
print(f"COLD computed chunk (crop over blosc, evaluate + zstd encode): {(time.perf_counter() - t) / len(paths) * 1e3:.2f} ms/chunk over {len(paths)} chunks")
EOF

: > "$ROOT/raw.log"
run() {  # label port paths conns
  WRK_LABEL="$1 c=$4" taskset -c 1 wrk -t1 -c"$4" -d"${DUR}s" -s benches/wrk_paths.lua "http://127.0.0.1:$2" -- "$ROOT/$3.paths" \
    | grep '^RESULT' | tee -a "$ROOT/raw.log"
}
for round in $(seq 1 "$ROUNDS"); do
  for c in 1 32; do
    run nginx_blosc "$NPORT" nginx_blosc "$c"
    run arrayd_blosc_passthrough "$APORT" arrayd_blosc "$c"
    run nginx_raw "$NPORT" nginx_raw "$c"
    run arrayd_raw_passthrough "$APORT" arrayd_raw "$c"
    run nginx_one_chunk "$NPORT" nginx_one "$c"
    run arrayd_roi_one_chunk "$APORT" arrayd_roi "$c"
    run arrayd_computed_hot "$APORT" arrayd_computed "$c"
  done
done
"$PY" - "$ROOT/raw.log" <<'EOF' | tee "$ROOT/summary.md"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line.split(" ", 1)[1])
    rows.setdefault(r["label"], []).append(r)
med = {k: {f: statistics.median(x[f] for x in v) for f in ("rps", "MBps", "p50_ms", "p99_ms", "non2xx", "errors")} for k, v in rows.items()}
pairs = [("arrayd_blosc_passthrough", "nginx_blosc"), ("arrayd_raw_passthrough", "nginx_raw"),
         ("arrayd_roi_one_chunk", "nginx_one_chunk"), ("arrayd_computed_hot", "nginx_blosc")]
print("| arrayd | vs | conns | arrayd req/s | nginx req/s | ratio | arrayd p50 ms | nginx p50 ms | non-2xx |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for a, n in pairs:
    for c in (1, 32):
        ka, kn = f"{a} c={c}", f"{n} c={c}"
        if ka in med and kn in med:
            x, y = med[ka], med[kn]
            print(f"| {a} | {n} | {c} | {x['rps']:.0f} | {y['rps']:.0f} | {x['rps'] / y['rps']:.2f} | {x['p50_ms']:.2f} | {y['p50_ms']:.2f} | {int(x['non2xx'] + y['non2xx'])} |")
EOF
cat "$ROOT/cold.txt"
taskset -c 1 "$PY" benches/precomputed_read.py "$ROOT" "$APORT" "$NPORT" | tee "$ROOT/tensorstore.md"
