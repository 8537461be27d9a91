#!/usr/bin/env bash
# A real third-party Jaeger remote sampler (OpenTelemetry JS's @opentelemetry/sampler-jaeger-
# remote, installed from npm) polls the real fleetrate-server, started with a Jaeger strategies
# file, and must apply the per-operation rates it gets.
# Usage: jaeger_remote_sampler_test.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "FAIL: node and npm are required (scripts/lib.sh installs them)"; echo "0 passed, 1 failed"; exit 1; }
cp "$src/tests/jaeger_remote/package.json" "$src/tests/jaeger_remote/package-lock.json" \
  "$src/tests/jaeger_remote/check.js" "$work/"
if ! (cd "$work" && npm ci --no-audit --no-fund --silent >npm.log 2>&1); then
  cat "$work/npm.log"; echo "0 passed, 1 failed"; exit 1
fi

"$bin" --jaeger-strategies "$src/tests/jaeger_remote/strategies.json" \
  --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.* listening grpc=[^ ]* http=127.0.0.1:\([0-9]*\).*/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then cat "$work/server.log"; echo "0 passed, 1 failed"; exit 1; fi

(cd "$work" && node check.js "http://127.0.0.1:$port")
status=$?
[ $status -ne 0 ] && cat "$work/server.log"
exit $status
