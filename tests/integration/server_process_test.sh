#!/usr/bin/env bash
# The fleetrate-server binary as an operator runs it: --help, bad flags, a bad policy file,
# serving on ephemeral ports, and a clean exit on SIGTERM.
# Usage: server_process_test.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
passed=0
check() {  # check NAME CONDITION-EXIT-CODE
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else echo "FAIL: $1"; failures=$((failures + 1)); fi
}

"$bin" --help >"$work/help" 2>&1
check "--help exits 0" $?
grep -q -- "--grpc-listen" "$work/help"; check "--help lists --grpc-listen" $?

"$bin" --store cassandra >"$work/bad" 2>&1
[ $? -eq 2 ]; check "unknown store exits 2" $?
grep -q "store: 'cassandra' is not supported" "$work/bad"; check "unknown store is named" $?

printf 'defaults:\n  max_probability: 7\n' >"$work/bad.yaml"
"$bin" --config "$work/bad.yaml" >"$work/badcfg" 2>&1
[ $? -eq 1 ]; check "invalid policy file exits 1" $?
grep -q "defaults.max_probability: must be in \[0, 1\], got 7" "$work/badcfg"; check "policy error names the field" $?

"$bin" --config "$src/config/policies.yaml" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  >"$work/log" 2>&1 &
pid=$!
http_port=""
for _ in $(seq 1 100); do
  http_port=$(sed -n 's/.* listening grpc=[^ ]* http=127.0.0.1:\([0-9]*\).*/\1/p' "$work/log")
  [ -n "$http_port" ] && break
  sleep 0.1
done
[ -n "$http_port" ]; check "logs where it listens" $?

if [ -n "$http_port" ]; then
  exec 3<>"/dev/tcp/127.0.0.1/$http_port"
  printf 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  response=$(cat <&3)
  exec 3<&-
  grep -q "^HTTP/1.1 200" <<<"$response"; check "/readyz answers 200" $?
fi

kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
  check "exits within 10 s of SIGTERM" 1
else
  wait "$pid"
  check "SIGTERM exits 0" $?
  pid=""
fi
grep -q "received SIGTERM" "$work/log"; check "logs the signal" $?
grep -q "fleetrate-server stopped" "$work/log"; check "logs the stop" $?

[ $failures -gt 0 ] && { echo "--- server log"; cat "$work/log"; }
echo "$passed passed, $failures failed"
[ $failures -eq 0 ]
