#!/usr/bin/env bash
# fleetrate-loadgen against the real server for a few seconds: it must run, report, and see no
# errors, so the benchmark BENCHMARKS.md relies on keeps working. (Speed is the benchmark's
# business, not this test's.)
# Usage: loadgen_smoke_test.sh SERVER_BINARY LOADGEN_BINARY SOURCE_DIR
set -uo pipefail
bin=$1
loadgen=$2
src=$3
work=$(mktemp -d)
trap '[ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$work"' EXIT
source "$src/tests/support/test_lib.sh"

start_server "$work/server.log" "$bin" --config "$src/config/policies.yaml"
check "server starts" $?
if [ -n "$GRPC_PORT" ]; then
  "$loadgen" --server "127.0.0.1:$GRPC_PORT" --clients 200 --operations 5 --interval-ms 200 \
    --duration-s 3 --services 4 >"$work/out" 2>"$work/err"
  check "loadgen exits 0 (no errors)" $?
  grep -qi "sync/s" "$work/out"; check "loadgen reports Sync/s" $?
  grep -qi "p99" "$work/out"; check "loadgen reports p99" $?
  # The soak's mix (scripts/soak): every kind of bad input, each answered as it must be (the
  # loadgen exits 1 otherwise), and the valid Syncs beside them unharmed.
  "$loadgen" --server "127.0.0.1:$GRPC_PORT" --clients 200 --operations 5 --interval-ms 200 \
    --duration-s 3 --services 4 --invalid-percent 50 >"$work/bad.out" 2>"$work/bad.err"
  check "with half the Syncs bad input, the loadgen exits 0" $?
  grep -Eq "bad input +[1-9][0-9]* answered as expected, 0 otherwise" "$work/bad.out"
  check "every bad input is answered as expected" $?
  # scripts/abuse's modes: one Sync per minted client, and silent connections held open.
  "$loadgen" --server "127.0.0.1:$GRPC_PORT" --mode once --clients 300 --operations 3 \
    --services 4 >"$work/once.out" 2>&1
  check "--mode once exits 0" $?
  grep -Eq "syncs +300 completed: 300 ok" "$work/once.out"
  check "--mode once sends exactly one Sync per client" $?
  "$loadgen" --server "127.0.0.1:$HTTP_PORT" --mode idle --connections 20 --duration-s 1 \
    >"$work/idle.out" 2>&1
  check "--mode idle exits 0" $?
  grep -Eq "held +20 of 20 open" "$work/idle.out"
  check "--mode idle holds its connections" $?
  # SIGTERM ends a run early, with its summary.
  "$loadgen" --server "127.0.0.1:$GRPC_PORT" --clients 20 --operations 2 --interval-ms 200 \
    --duration-s 60 --services 2 >"$work/term.out" 2>&1 &
  term_pid=$!
  sleep 1
  kill -TERM $term_pid
  term_rc=0
  until_ok 10 eval "! kill -0 $term_pid 2>/dev/null" || term_rc=1
  check "SIGTERM ends a 60 s run within 10 s" $term_rc
  kill -9 $term_pid 2>/dev/null
  wait $term_pid 2>/dev/null
  grep -qi "sync/s" "$work/term.out"
  check "a run ended by SIGTERM prints its summary" $?
  "$loadgen" --server "127.0.0.1:$GRPC_PORT" --clients 0 >/dev/null 2>&1
  [ $? -eq 2 ]; check "a bad flag exits 2" $?
fi
[ $failures -gt 0 ] && { cat "$work/out" "$work/err" "$work/bad.out" "$work/bad.err" "$work/once.out" "$work/idle.out" "$work/term.out" "$work/server.log" 2>/dev/null | tail -30; }
echo "$passed passed, $failures failed"
[ $failures -eq 0 ]
