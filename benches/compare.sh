#!/usr/bin/env bash
# Every row of issue 12 in one run, each next to its baseline (loopback only).
#
#   benches/compare.sh [--rounds N] [--duration S] [--rss-duration S] [--coarsest-n N]
#                      [--binary PATH] [--skip-kernels]
#
#   --rounds        rounds per row, medians reported (default 3, at least 3 for the issue)
#   --duration      seconds per wrk run (default 5)
#   --rss-duration  seconds of the c=64 memory/latency run (default 60)
#   --coarsest-n    edge of the cubic array of the coarsest-chunk row (default 1024;
#                   its data, 2 x 1 GiB, is written once to /tmp/arrayd-coarsest-N)
#   --binary        an arrayd binary to use instead of building target/release/arrayd
#   --skip-kernels  leave out `cargo bench --bench eval` (the rows say "not measured")
#
# Rows (the table in docs/benchmarks.md, "All rows in one run"):
#   serving     nginx (1 worker, sendfile) and arrayd (--compute-threads 1) each pinned to
#               CPU 0, wrk on CPU 1, c=1 and c=32, random keys (benches/wrk_paths.lua):
#               zarr v2 pass-through vs nginx same files; hot one-chunk ROI vs nginx the
#               same 262,144 bytes; hot computed chunk (crop over blosc, zarr v3) vs nginx
#               blosc. Ratio = arrayd / nginx req/s.
#   miss        first pass over a newly registered crop: ms per computed chunk, next to
#               xpublish's recorded 34.4 ms (a recorded figure, not measured here).
#   big ROIs    hot 256^3 float32 ROI (64 MiB, intensities over blosc, format=raw) bytes/s
#               vs nginx sending a 64 MiB static file (same pinning, wrk c=1); 256^3 uint8
#               ROI as npy, cold (fresh server) and hot, vs tensorstore reading the same
#               zarr from disk (both cores each). Ratio = arrayd time / tensorstore time.
#   chains      whole 512^3 arrays over /roi (raw), cold (fresh server per read) and hot
#               (the same read again, from the cache), both cores: zarr, intensities,
#               binarize (3 groups over a uint32 label volume), Mvox/s, vs tensorstore
#               reading the zarr in this run and DaCapo in-process 463 / 283 / 166 Mvox/s
#               (recorded; targets 1x cold, 10x hot).
#   coarsest    benches/coarsest.py: coarsest precomputed chunk of an N^3 uint8 array
#               without stored levels, cold, vs tensorstore reading all of s0.
#   memory      arrayd --cache-size 256MiB under wrk c=64 on hot computed chunks for
#               --rss-duration s: peak RSS (VmHWM) vs the budget, p99 latency.
#   kernels     cargo bench --bench eval (criterion medians, one 64^3 chunk; 32^3 output
#               for the 2x-down ones), voxels of output per second vs the issue's targets.
#
# Writes the table to target/bench/compare.md and keeps the raw figures in
# $BENCH_ROOT (default /tmp/arrayd-compare)/results.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ROUNDS=3 DUR=5 RSS_DUR=60 CN=1024 BIN="" KERNELS=1
ARGS="$*"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2;;
    --duration) DUR=$2; shift 2;;
    --rss-duration) RSS_DUR=$2; shift 2;;
    --coarsest-n) CN=$2; shift 2;;
    --binary) BIN=$2; shift 2;;
    --skip-kernels) KERNELS=0; shift;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
for v in "$ROUNDS" "$DUR" "$RSS_DUR" "$CN"; do
  [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "options take positive integers" >&2; exit 2; }
done
[ "$ROUNDS" -le 50 ] || { echo "--rounds is at most 50" >&2; exit 2; }
T0=$(date +%s)
ROOT=${BENCH_ROOT:-/tmp/arrayd-compare}
RES=$ROOT/results
rm -rf "$RES" "$ROOT/state"*
mkdir -p "$ROOT/nginx/tmp" "$ROOT/data" "$RES"

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}"
fi
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || { python3 -m venv .venv && .venv/bin/pip install -q -r tests/e2e/requirements.txt; PY=.venv/bin/python; }
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/arrayd
fi
BIN=$(realpath "$BIN")
log() { echo "[compare $(( $(date +%s) - T0 ))s] $*" >&2; }
# One measured figure: rec KEY VALUE (one line per round; the table takes medians).
rec() { echo "$1 $2" >> "$RES/figures.txt"; }

# ---------------------------------------------------------------- data (written once)
D=$ROOT/data
[ -f "$D/test.zarr/raw/.zarray" ] || "$PY" benches/make_data.py "$D/test.zarr"
[ -f "$D/static64.bin" ] || head -c $((64 << 20)) /dev/urandom > "$D/static64.bin"
[ -f "$D/labels.zarr/labels/.zarray" ] || "$PY" - "$D/labels.zarr" <<'EOF'
# A uint32 label volume, 512^3 in 64^3 blosc chunks: 16^3 blocks, ids 1..32768.
import sys
import numcodecs, numpy as np, zarr
n, c = 512, 64
g = zarr.open_group(sys.argv[1], mode="w", zarr_format=2)
a = g.create_array("labels", shape=(n, n, n), chunks=(c, c, c), dtype="uint32", fill_value=0,
                   compressors=numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE))
b = np.arange(n) // 16
for z0 in range(0, n, c):
    z = b[z0:z0 + c, None, None]
    a[z0:z0 + c] = (z * 1024 + b[None, :, None] * 32 + b[None, None, :] + 1).astype(np.uint32)
print("wrote", sys.argv[1])
EOF

# ---------------------------------------------------------------- processes
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# stop PID: SIGTERM, then SIGKILL after 10 s.
stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
# start_arrayd CPUS PORT ARGS... : sets SPID; CPUS "all" for no pinning.
start_arrayd() {
  local cpus=$1 port=$2; shift 2
  local state=$ROOT/state.$port
  rm -rf "$state"
  local pin=()
  [ "$cpus" = all ] || pin=(taskset -c "$cpus")
  "${pin[@]}" "$BIN" serve --listen "127.0.0.1:$port" --data-root "$D" --state-dir "$state" \
    --max-roi-bytes 2GiB --max-inflight-bytes 6GiB "$@" >> "$ROOT/arrayd.log" 2>&1 &
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 1 200); do curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/readyz" && return 0; sleep 0.05; done
  echo "arrayd did not become ready on $port (see $ROOT/arrayd.log)" >&2; exit 1
}
put() {
  local code
  code=$(curl -s --max-time 60 -X PUT "http://127.0.0.1:$1/v1/arrays/$2" -d "$3" -o "$ROOT/put.out" -w '%{http_code}')
  [[ $code == 20* ]] || { echo "PUT $2 -> $code: $(head -c 2000 "$ROOT/put.out")" >&2; exit 1; }
}
# wrk_run LABEL PORT PATHS CONNS DURATION: appends a RESULT line to $RES/wrk.txt
wrk_run() {
  WRK_LABEL="$1 c=$4" timeout $(( $5 + 60 )) taskset -c 1 wrk -t1 -c"$4" -d"$5s" --timeout 30s \
    -s benches/wrk_paths.lua "http://127.0.0.1:$2" -- "$ROOT/$3.paths" | grep '^RESULT' | tee -a "$RES/wrk.txt" >&2
}
# curl_time URL: seconds for the whole body, checked for 200
curl_time() {
  local out
  out=$(curl -s -o /dev/null --max-time 300 -w '%{http_code} %{time_total}' "$1")
  [ "${out%% *}" = 200 ] || { echo "GET $1 -> $out" >&2; exit 1; }
  echo "${out#* }"
}

"$PY" benches/paths.py "$ROOT"

NPORT=$(free_port)
sed -e "s#@ROOT@#$ROOT#g" -e "s#@PORT@#$NPORT#g" -e "s#@DATA@#$D#g" benches/nginx.conf.in > "$ROOT/nginx/nginx.conf"
taskset -c 0 nginx -c "$ROOT/nginx/nginx.conf" -g "daemon off;" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$NPORT/test.zarr/raw/.zarray" && break; sleep 0.05; done

# ---------------------------------------------------------------- 1+2. serving, misses, hot 64 MiB
APORT=$(free_port)
start_arrayd 0 "$APORT" --cache-size 2GiB --compute-threads 1
put "$APORT" blosc '{"type":"zarr","file_name":"test.zarr","dataset":"blosc"}'
put "$APORT" raw '{"type":"zarr","file_name":"test.zarr","dataset":"raw"}'
put "$APORT" computed '{"type":"crop","roi":{"offset":[0,0,0],"shape":[512,512,512]},"source_array_config":"blosc"}'
put "$APORT" f32 '{"type":"intensities","min":0,"max":255,"source_array_config":{"type":"zarr","name":"src","file_name":"test.zarr","dataset":"blosc"}}'
log "misses: $ROUNDS newly registered crops, 512 chunks each"
for r in $(seq 1 "$ROUNDS"); do
  # A different crop per round (z extent 512 - r): a new config hash, every chunk a miss.
  put "$APORT" "miss$r" "{\"type\":\"crop\",\"roi\":{\"offset\":[0,0,0],\"shape\":[512,512,$((512 - r))]},\"source_array_config\":\"blosc\"}"
  ms=$(taskset -c 1 timeout 300 "$PY" - "$APORT" "miss$r" <<'EOF'
import http.client, itertools, sys, time
port, name = sys.argv[1], sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
paths = [f"/v1/arrays/{name}/zarr/c/{i}/{j}/{k}" for i, j, k in itertools.product(range(8), repeat=3)]
t = time.perf_counter()
for p in paths:
    conn.request("GET", p)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, (p, r.status)
print(f"{(time.perf_counter() - t) / len(paths) * 1e3:.3f}")
EOF
)
  rec miss_ms "$ms"
done
# Warm the hot paths (every computed chunk, the one-chunk ROI, the 64 MiB ROI).
for p in $(cat "$ROOT/arrayd_computed.paths"); do curl -sf -o /dev/null --max-time 30 "http://127.0.0.1:$APORT$p"; done
curl_time "http://127.0.0.1:$APORT$(cat "$ROOT/arrayd_roi.paths")" > /dev/null
curl_time "http://127.0.0.1:$APORT$(cat "$ROOT/arrayd_f32.paths")" > /dev/null
log "serving: $ROUNDS rounds x 5 paths x 2 connection counts x ${DUR}s"
for r in $(seq 1 "$ROUNDS"); do
  for c in 1 32; do
    wrk_run nginx_blosc "$NPORT" nginx_blosc "$c" "$DUR"
    wrk_run arrayd_passthrough "$APORT" arrayd_blosc "$c" "$DUR"
    wrk_run nginx_one "$NPORT" nginx_one "$c" "$DUR"
    wrk_run arrayd_roi_one "$APORT" arrayd_roi "$c" "$DUR"
    wrk_run arrayd_computed "$APORT" arrayd_computed "$c" "$DUR"
  done
  wrk_run nginx_static64 "$NPORT" nginx_static64 1 "$DUR"
  wrk_run arrayd_f32 "$APORT" arrayd_f32 1 "$DUR"
done
stop "$SPID"

# ---------------------------------------------------------------- 3. 256^3 uint8 npy, cold / hot, vs tensorstore
log "256^3 uint8 npy ROI: $ROUNDS fresh servers"
U8="roi?offset=0,0,0&shape=256,256,256&format=npy"
for r in $(seq 1 "$ROUNDS"); do
  BPORT=$(free_port)
  start_arrayd all "$BPORT" --cache-size 2GiB
  put "$BPORT" u8 '{"type":"zarr","file_name":"test.zarr","dataset":"blosc"}'
  rec roi256_cold_s "$(curl_time "http://127.0.0.1:$BPORT/v1/arrays/u8/$U8")"
  for _ in 1 2 3; do rec roi256_hot_s "$(curl_time "http://127.0.0.1:$BPORT/v1/arrays/u8/$U8")"; done
  stop "$SPID"
done
timeout 600 "$PY" - "$D/test.zarr/blosc" "$ROUNDS" <<'EOF' >> "$RES/figures.txt"
# tensorstore, open included, cache off, reading from disk (files in the page cache)
import sys, time
import tensorstore as ts
path, rounds = sys.argv[1], int(sys.argv[2])
spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": path},
        "context": {"cache_pool": {"total_bytes_limit": 0}}}
for _ in range(rounds):
    t = time.perf_counter()
    a = ts.open(spec, read=True).result()[0:256, 0:256, 0:256].read().result()
    print("ts_roi256_s", time.perf_counter() - t)
    assert a.shape == (256, 256, 256)
for _ in range(rounds):
    t = time.perf_counter()
    a = ts.open(spec, read=True).result().read().result()
    print("ts_full512_s", time.perf_counter() - t)
    assert a.shape == (512, 512, 512)
EOF

# ---------------------------------------------------------------- 4. whole-array chains, cold and hot
log "chains: 3 chains x $ROUNDS fresh servers"
G=$("$PY" -c '
import json
print(json.dumps([[n, list(range(1 + 5000 * i, 1 + 5000 * i + 100))] for i, n in enumerate("abc")]))')
SRC='{"type":"zarr","name":"src","file_name":"test.zarr","dataset":"blosc"}'
declare -A CHAIN=(
  [zarr]='{"type":"zarr","file_name":"test.zarr","dataset":"blosc"}'
  [intensities]="{\"type\":\"intensities\",\"min\":0,\"max\":255,\"source_array_config\":$SRC}"
  [binarize]="{\"type\":\"binarize\",\"groupings\":$G,\"source_array_config\":{\"type\":\"zarr\",\"name\":\"labels\",\"file_name\":\"labels.zarr\",\"dataset\":\"labels\"}}"
)
for r in $(seq 1 "$ROUNDS"); do
  for ch in zarr intensities binarize; do
    BPORT=$(free_port)
    start_arrayd all "$BPORT" --cache-size 2GiB
    put "$BPORT" "$ch" "${CHAIN[$ch]}"
    url="http://127.0.0.1:$BPORT/v1/arrays/$ch/roi?offset=0,0,0&shape=512,512,512&format=raw"
    rec "chain_${ch}_s" "$(curl_time "$url")"
    # the same read twice more: every chunk is now in the cache (2 GiB holds each chain)
    for _ in 1 2; do rec "chain_${ch}_hot_s" "$(curl_time "$url")"; done
    stop "$SPID"
  done
done

# ---------------------------------------------------------------- 5. coarsest chunk
log "coarsest chunk of ${CN}^3: benches/coarsest.py ($ROUNDS rounds)"
timeout 3000 "$PY" benches/coarsest.py "$BIN" "" "$ROUNDS" "$CN" | tee "$RES/coarsest.txt" >&2
awk '/^RESULT coarsest_computed_s/ {print "coarsest_computed_s", $3} /^RESULT coarsest_stored_s/ {print "coarsest_stored_s", $3}
     /^RESULT tensorstore_full_s0_s/ {print "coarsest_ts_s", $3}' "$RES/coarsest.txt" >> "$RES/figures.txt"

# ---------------------------------------------------------------- 6. RSS and p99 under c=64
log "memory: --cache-size 256MiB, c=64 for ${RSS_DUR}s"
MPORT=$(free_port)
start_arrayd 0 "$MPORT" --cache-size 256MiB --compute-threads 1
put "$MPORT" blosc '{"type":"zarr","file_name":"test.zarr","dataset":"blosc"}'
put "$MPORT" computed '{"type":"crop","roi":{"offset":[0,0,0],"shape":[512,512,512]},"source_array_config":"blosc"}'
for p in $(cat "$ROOT/arrayd_computed.paths"); do curl -sf -o /dev/null --max-time 30 "http://127.0.0.1:$MPORT$p"; done
wrk_run arrayd_rss "$MPORT" arrayd_computed 64 "$RSS_DUR"
rec rss_hwm_kib "$(awk '/^VmHWM/ {print $2}' "/proc/$SPID/status")"
rec rss_now_kib "$(awk '/^VmRSS/ {print $2}' "/proc/$SPID/status")"
stop "$SPID"

# ---------------------------------------------------------------- 6b. cold overload
# Every request a miss (cache far smaller than the data), one compute thread, c=256 with
# the default --compute-queue (256 per thread): the excess must be shed as 503 +
# Retry-After at once, with bounded latency, no transport error and bounded memory.
log "cold overload: --cache-size 16MiB --compute-threads 1, c=256 for ${DUR}s"
OPORT=$(free_port)
start_arrayd 0 "$OPORT" --cache-size 16MiB --compute-threads 1
put "$OPORT" cold '{"type":"zarr","file_name":"test.zarr","dataset":"blosc"}'
WRK_CLASSIFY=1 wrk_run arrayd_overload "$OPORT" arrayd_cold 256 "$DUR"
rec overload_rss_hwm_kib "$(awk '/^VmHWM/ {print $2}' "/proc/$SPID/status")"
stop "$SPID"

# ---------------------------------------------------------------- 7. kernels
if [ "$KERNELS" = 1 ]; then
  log "kernels: cargo bench --bench eval (6 benchmarks)"
  export CRITERION_HOME=$ROOT/criterion
  rm -rf "$CRITERION_HOME"
  timeout 1800 cargo bench --quiet --bench eval -- \
    '^evaluate_64cubed_chunk/(binarize|resampled_order1_down2|merge_instances|sum|downsample_mean_down2|downsample_mode_down2)$' \
    > "$RES/criterion.txt" 2>&1 || { echo "cargo bench failed, see $RES/criterion.txt" >&2; tail -20 "$RES/criterion.txt" >&2; }
fi

# ---------------------------------------------------------------- table
mkdir -p target/bench
MINUTES=$(( ( $(date +%s) - T0 + 59 ) / 60 ))
"$PY" benches/compare_table.py "$RES" "${CRITERION_HOME:-}" \
  "benches/compare.sh${ARGS:+ $ARGS}" "$MINUTES" "$BIN" | tee target/bench/compare.md
log "done in $(( $(date +%s) - T0 ))s; table in target/bench/compare.md"
