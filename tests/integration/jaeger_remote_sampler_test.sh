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

source "$src/tests/support/test_lib.sh"
start_server "$work/server.log" "$bin" --jaeger-strategies "$src/tests/jaeger_remote/strategies.json"
started=$?
pid=$SERVER_PID
port=$HTTP_PORT
if [ $started -ne 0 ]; then cat "$work/server.log"; echo "0 passed, 1 failed"; exit 1; fi

(cd "$work" && node check.js "http://127.0.0.1:$port")
status=$?
[ $status -ne 0 ] && cat "$work/server.log"
exit $status
