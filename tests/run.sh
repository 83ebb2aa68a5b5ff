#!/usr/bin/env bash
# The project's test command. Works on a fresh machine:
#   1. .venv (created if missing) with the pinned clients of tests/e2e/requirements.txt
#   2. Debian's chromium + chromium-driver, installed only if /usr/bin/chromium is missing
#   3. cargo test: every Rust test
#   4. tests/e2e/clients.py against target/debug/arrayd, as cargo test built it (real clients:
#      tensorstore, cloud-volume, zarr-python, neuroglancer in headless Chromium)
#   4a. tests/e2e/viewer.py (then 4b. tests/e2e/writes.py, what arrayd writes): the index page and the combined neuroglancer view in headless
#       Chromium (jpeg/png chunks, thumbnails, screenshots index.png and combined.png)
#   4b. tests/cluster/cluster.py: PostgreSQL + three replicas + nginx (the shared registry)
#   4c. kubernetes-validate --strict on docker/k8s/*.yaml
#   5. schemathesis against openapi/openapi.yaml and a demo server (target/debug/arrayd)
#   6. cargo fuzz: each target of fuzz/ for $FUZZ_SECONDS (default 60) on nightly, from the
#      seed corpus fuzz/corpus/TARGET (new entries go to fuzz/target/corpus/, ignored)
# The soak test (tests/soak.rs) runs inside step 3.
# Logs and artifacts (screenshots, report.json, arrayd.log) go to target/e2e/. Ends with a
# summary per phase and "total: N passed, M failed"; exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/e2e
mkdir -p "$OUT"
PHASES=()
PASSED=0
FAILED=0

record() {  # record PHASE RESULT SECONDS [DETAIL]
  PHASES+=("$(printf '  %-12s %-11s %5ss  %s' "$1" "$2" "$3" "${4:-}")")
}

summary() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then FAILED=1; fi   # stopped during set-up
  echo
  echo "== tests/run.sh summary"
  if [ ${#PHASES[@]} -gt 0 ]; then printf '%s\n' "${PHASES[@]}"; fi
  echo "total: $PASSED passed, $FAILED failed"
}
trap summary EXIT

counts() {  # counts LOG: "passed failed" summed over cargo's "test result:" lines
  awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p += $(i - 1); if ($i ~ /^failed/) f += $(i - 1) } }
       END { print p + 0, f + 0 }' "$1"
}

py_suite() {  # py_suite PHASE TIMEOUT SCRIPT LOG: a Python suite ending "N passed, M failed"
  local t=$SECONDS rc line p f
  set +e
  timeout "$2" .venv/bin/python "$3" target/debug/arrayd 2>&1 | tee "$4"
  rc=${PIPESTATUS[0]}
  set -e
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$4" | tail -n 1 || true)
  p=$(echo "${line:-0 passed}" | awk '{print $1}')
  f=$(echo "${line:-0 passed, 0 failed}" | awk '{print $3}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  record "$1" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED($rc)")" $((SECONDS - t)) "$p passed, $f failed"
}

# 1. client venv
t=$SECONDS
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt
record "venv+pip" ok $((SECONDS - t))

# 2. Chromium for the browser part
t=$SECONDS
if [ -x /usr/bin/chromium ]; then
  record chromium present 0
else
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo > /dev/null || { echo "tests/run.sh: need root or sudo to install chromium" >&2; exit 1; }
    SUDO=(sudo)
  fi
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium chromium-driver
  record chromium installed $((SECONDS - t))
fi

# 2b. formatting, lints and doc links (each counted as one test)
for check in fmt clippy doc; do
  t=$SECONDS
  case $check in
    fmt) cmd=(cargo fmt --check) ;;
    clippy) cmd=(cargo clippy --all-targets -- -D warnings) ;;
    # rustdoc's merged search index can go stale in a kept target/ ("failed to read
    # column from disk"); it is rebuilt in seconds.
    doc) rm -rf target/doc/search.index; cmd=(env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps) ;;
  esac
  if "${cmd[@]}" > "$OUT/$check.log" 2>&1; then
    PASSED=$((PASSED + 1)); record "$check" ok $((SECONDS - t))
  else
    FAILED=$((FAILED + 1)); record "$check" FAILED $((SECONDS - t)) "see $OUT/$check.log"
    tail -n 40 "$OUT/$check.log"
  fi
done

# 3. every Rust test
t=$SECONDS
set +e
timeout 3600 cargo test --no-fail-fast 2>&1 | tee "$OUT/cargo-test.log"
rc=${PIPESTATUS[0]}
set -e
read -r p f < <(counts "$OUT/cargo-test.log")
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # did not build, or timed out
PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
record "cargo test" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED($rc)")" $((SECONDS - t)) "$p passed, $f failed"

# 4. the end-to-end client tests against the real binary (cargo test built it for the
#    integration tests; a build here would only re-resolve features and rebuild deps)
t=$SECONDS
if [ -x target/debug/arrayd ] || cargo build; then
  record "cargo build" ok $((SECONDS - t))
  t=$SECONDS
  py_suite "e2e clients" 2700 tests/e2e/clients.py "$OUT/clients.log"
  # 4a. what people see: the index page, the combined view from the local client
  #     (--neuroglancer-dir), jpeg/png chunks decoded in Chromium; screenshots in $OUT
  t=$SECONDS
  py_suite "e2e viewer" 1200 tests/e2e/viewer.py "$OUT/viewer.log"
  # 4b. what arrayd writes (created arrays, writes, an export), read by tensorstore and zarr
  t=$SECONDS
  py_suite "e2e writes" 600 tests/e2e/writes.py "$OUT/writes.log"
else
  FAILED=$((FAILED + 1))
  record "cargo build" FAILED $((SECONDS - t)) "e2e clients not run"
fi

# 4b. the cluster test: a real PostgreSQL (Debian's postgresql, initdb + pg_ctl in a temp dir,
#     as the postgres user), three target/debug/arrayd replicas sharing it, and nginx with
#     docker/nginx/arrayd.conf; each of its tests counts as one (tests/cluster/cluster.py).
t=$SECONDS
if [ -x target/debug/arrayd ] && [ -x /usr/lib/postgresql/15/bin/initdb ] && command -v nginx > /dev/null; then
  py_suite cluster 300 tests/cluster/cluster.py "$OUT/cluster.log"
else
  FAILED=$((FAILED + 1))
  record cluster FAILED $((SECONDS - t)) "needs target/debug/arrayd, postgresql-15 and nginx (.ci/run installs them)"
fi

# 4c. docker/k8s manifests, strictly validated (unknown fields refused) against the
#     Kubernetes 1.30 schemas bundled in PyPI's kubernetes-validate. One test.
t=$SECONDS
if .venv/bin/pip install -q --disable-pip-version-check -r tests/cluster/requirements-k8s.txt \
   && .venv/bin/kubernetes-validate --strict -k 1.30.0 docker/k8s/*.yaml > "$OUT/k8s.log" 2>&1; then
  PASSED=$((PASSED + 1)); record k8s ok $((SECONDS - t)) "$(grep -c passed "$OUT/k8s.log") manifests"
else
  FAILED=$((FAILED + 1)); record k8s FAILED $((SECONDS - t)) "see $OUT/k8s.log"
fi

# 5. schemathesis: every operation of openapi/openapi.yaml against a fresh demo server, with
#    every check but positive_data_acceptance (schema-valid requests the server rightly refuses
#    for reasons a schema cannot say: a ROI off the voxel grid, a key with the wrong number of
#    axes, a config naming no real type). Counted as one test.
schema_phase() {
  local state port pid i rc line
  state=$(mktemp -d "${TMPDIR:-/tmp}/arrayd-schema-state-XXXXXX")
  port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  target/debug/arrayd serve --demo --state-dir "$state" --listen "127.0.0.1:$port" \
    < /dev/null > "$OUT/schema-arrayd.log" 2>&1 &
  pid=$!
  for i in $(seq 1 600); do   # up to 120 s: the demo volume is written at the first start
    if ! kill -0 "$pid" 2> /dev/null; then break; fi
    if .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
         "http://127.0.0.1:$port/readyz" 2> /dev/null; then i=ready; break; fi
    sleep 0.2
  done
  if [ "$i" != ready ]; then
    echo "schemathesis: arrayd not ready on 127.0.0.1:$port; see $OUT/schema-arrayd.log" >&2
    kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null; rm -rf "$state"
    return 1
  fi
  set +e
  timeout 600 .venv/bin/schemathesis run openapi/openapi.yaml --url "http://127.0.0.1:$port" \
    --checks all --exclude-checks positive_data_acceptance --max-examples "${SCHEMA_EXAMPLES:-100}" \
    --workers 2 --request-timeout 30 --no-color --generation-database none \
    --report junit --report-junit-path "$OUT/schemathesis-junit.xml" 2>&1 | tee "$OUT/schemathesis.log"
  rc=${PIPESTATUS[0]}
  set -e
  kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null; rm -rf "$state"
  return "$rc"
}
t=$SECONDS
if [ -x target/debug/arrayd ] && .venv/bin/pip install -q --disable-pip-version-check -r tests/e2e/requirements-schema.txt; then
  set +e; schema_phase; rc=$?; set -e
  ops=$(grep -oE 'Tested: [0-9]+' "$OUT/schemathesis.log" | tail -n 1 | awk '{print $2}' || true)
  cases=$(grep -oE '^ *[0-9]+ generated' "$OUT/schemathesis.log" | tail -n 1 | awk '{print $1}' || true)
  fails=$(grep -oE '[0-9]+ unique failures' "$OUT/schemathesis.log" | tail -n 1 | awk '{print $1}' || true)
  detail="${ops:-?} operations, ${cases:-?} cases, ${fails:-0} failures"
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1)); record schemathesis ok $((SECONDS - t)) "$detail"
  else
    FAILED=$((FAILED + 1)); record schemathesis "FAILED($rc)" $((SECONDS - t)) "$detail"
  fi
else
  FAILED=$((FAILED + 1))
  record schemathesis FAILED $((SECONDS - t)) "no target/debug/arrayd, or pip failed"
fi

# 6. cargo fuzz (nightly; AddressSanitizer, sanitizer coverage, debug assertions and overflow
#    checks): each target from its seed corpus for a bounded time; a crash, a panic, a leak or
#    an out-of-memory is a failure. One test per target. The first build compiles every
#    dependency instrumented (about 16 min on 2 busy shared cores; fuzz/target/ caches it).
t=$SECONDS
fuzz_ready=yes
if ! cargo fuzz --version > /dev/null 2>&1; then
  cargo install cargo-fuzz --locked || fuzz_ready=no
  record "fuzz install" "$([ "$fuzz_ready" = yes ] && echo ok || echo FAILED)" $((SECONDS - t)) cargo-fuzz
fi
if [ "$fuzz_ready" = yes ] && ! rustup run nightly rustc --version > /dev/null 2>&1; then
  t=$SECONDS
  rustup toolchain install nightly --profile minimal || fuzz_ready=no
  record "nightly" "$([ "$fuzz_ready" = yes ] && echo ok || echo FAILED)" $((SECONDS - t)) "rustup toolchain install"
fi
FUZZ_TARGETS=(config roi_query)
if [ "$fuzz_ready" = yes ]; then
  t=$SECONDS
  set +e
  (cd fuzz && timeout 2400 cargo +nightly fuzz build --debug-assertions) 2>&1 | tee "$OUT/fuzz-build.log"
  rc=${PIPESTATUS[0]}
  set -e
  record "fuzz build" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED($rc)")" $((SECONDS - t))
  [ "$rc" -eq 0 ] || fuzz_ready=no
fi
for target in "${FUZZ_TARGETS[@]}"; do
  if [ "$fuzz_ready" != yes ]; then
    FAILED=$((FAILED + 1)); record "fuzz $target" FAILED 0 "not run"; continue
  fi
  t=$SECONDS
  mkdir -p "fuzz/target/corpus/$target"
  set +e
  (cd fuzz && timeout $(( ${FUZZ_SECONDS:-60} + 300 )) cargo +nightly fuzz run --debug-assertions "$target" \
     "target/corpus/$target" "corpus/$target" -- \
     -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=4096 -print_final_stats=1) \
    > "$OUT/fuzz-$target.log" 2>&1
  rc=$?
  set -e
  tail -n 30 "$OUT/fuzz-$target.log"
  # libFuzzer's last words: "stat::number_of_executed_units: N" (-print_final_stats),
  # else "Done N runs in S second(s)", else the last status line "#N DONE" / "#N pulse".
  execs=$(awk '/^stat::number_of_executed_units:/ { n = $NF } END { print n }' "$OUT/fuzz-$target.log")
  [ -n "$execs" ] || execs=$(awk '/^Done [0-9]+ runs/ { n = $2 } /^#[0-9]+[[:space:]]/ { m = substr($1, 2) }
                                 END { print (n != "" ? n : m) }' "$OUT/fuzz-$target.log")
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1)); record "fuzz $target" ok $((SECONDS - t)) "${execs:-?} executions"
  else
    FAILED=$((FAILED + 1))
    record "fuzz $target" "FAILED($rc)" $((SECONDS - t)) "${execs:-?} executions; see $OUT/fuzz-$target.log and fuzz/artifacts/$target/"
  fi
done

[ "$FAILED" -eq 0 ]
