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
source "$src/tests/support/test_lib.sh"

"$bin" --help >"$work/help" 2>&1
check "--help exits 0" $?
grep -q -- "--grpc-listen" "$work/help"; check "--help lists --grpc-listen" $?

"$bin" --store cassandra >"$work/bad" 2>&1
[ $? -eq 2 ]; check "unknown store exits 2" $?
grep -q "store: 'cassandra' is not a store" "$work/bad"; check "unknown store is named" $?

printf 'defaults:\n  max_probability: 7\n' >"$work/bad.yaml"
"$bin" --config "$work/bad.yaml" >"$work/badcfg" 2>&1
[ $? -eq 1 ]; check "invalid policy file exits 1" $?
grep -q "defaults.max_probability: must be in \[0, 1\], got 7" "$work/badcfg"; check "policy error names the field" $?

start_server "$work/log" "$bin" --config "$src/config/policies.yaml"
check "logs where it listens" $?
pid=$SERVER_PID
http_port=$HTTP_PORT

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
