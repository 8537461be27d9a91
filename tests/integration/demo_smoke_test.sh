#!/usr/bin/env bash
# The demo fleet end to end, in about 19 s: the real fleetrate-server and fleetrate-demo
# (frontend -> cart -> payments, each its own client), traffic stepping from a low to a high
# level once. Once the rates have settled after the start and after the step, each service's
# achieved kept traces/s (from /ui/data) must be within 25 % of its target; every exported
# frontend trace must hold its cart and payments spans (parent-based propagation).
# Usage: demo_smoke_test.sh SERVER_BINARY DEMO_BINARY SOURCE_DIR
set -uo pipefail
server_bin=$1
demo_bin=$2
src=$3
work=$(mktemp -d)
server_pid=""
demo_pid=""
cleanup() {
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source "$src/tests/support/test_lib.sh"
finish() { finish_showing "$work/server.log" "$work/demo.log"; }
for tool in curl node; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/lib.sh installs it)"; exit 1; }
done

# Like config/demo.yaml, faster and with larger targets, so a short run settles twice and the
# noise of the kept counts (about ±8 % over a window's two reports at 50/s) stays well inside
# the tolerance. 1.5 s, not 1 s: clients
# jitter the interval by ±10 %, and a Sync sooner than their 1-s minimum reports no counts.
cat >"$work/policies.yaml" <<'EOF'
sync_interval_seconds: 1.5
batch_profile: low_latency
defaults:
  target_traces_per_second: 1
rules:
  - name: frontend
    service: frontend
    target_traces_per_second: 50
  - name: cart
    service: cart
    target_traces_per_second: 50
  - name: payments
    service: payments
    target_traces_per_second: 50
EOF
start_server "$work/server.log" "$server_bin" --config "$work/policies.yaml"
check "server starts with the demo policies" $?
server_pid=$SERVER_PID
[ -n "$GRPC_PORT" ] && [ -n "$HTTP_PORT" ] || finish

# Low 1000 roots/s for 9 s, then 5000/s; cart's and payments' own roots at 10 % of that.
low=1000
high=5000
step=9
duration=19
"$demo_bin" --server "127.0.0.1:$GRPC_PORT" --spans "$work/spans.jsonl" --step-s $step \
  --low-rps $low --high-rps $high --duration-s $duration --summary-s 2 >"$work/demo.log" 2>&1 &
demo_pid=$!
started=$(date +%s%N)
while kill -0 "$demo_pid" 2>/dev/null; do
  body=$(curl -sf "http://127.0.0.1:$HTTP_PORT/ui/data") &&
    echo "$((($(date +%s%N) - started) / 1000000)) $body" >>"$work/samples"
  sleep 0.5
done
wait "$demo_pid"
check "fleetrate-demo ran $duration s and exited 0" $?
demo_pid=""
grep -q "failed syncs 0" "$work/demo.log"
check "the demo's clients Synced without failures" $?

# Settled: 5.5 s after the start (probabilities rise from the initial 0.001 at most x2 a
# second, and a report at the new rates takes another Sync), and 6 s after the step; the
# windows end before the next change.
node "$src/tests/integration/demo_check.js" rates "$work/samples" 5.5 $step $((step + 6)) \
  $((duration - 1)) $high 0.25
check "achieved kept traces/s follow the targets in both windows" $?
node "$src/tests/integration/demo_check.js" traces "$work/spans.jsonl" 200
check "exported traces are complete across frontend, cart and payments" $?
finish
