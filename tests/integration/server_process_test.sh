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

# What is not a complete policy document fails the start with a clear message; nothing hangs.
# (timeout: a server that wrongly starts would otherwise run on.)
fails_with() {  # fails_with EXIT-CODE TEXT OUT ARGS...: runs the server, expects code and text
  local code=$1 text=$2 out=$3
  shift 3
  timeout 10 "$bin" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 "$@" >"$out" 2>&1
  local got=$?
  [ "$got" -eq "$code" ] && grep -qF -- "$text" "$out"
}
mkdir "$work/dir.yaml"
fails_with 1 "--config: invalid policy file: '$work/dir.yaml' is a directory, not a regular file" \
  "$work/out" --config "$work/dir.yaml"
check "--config DIR fails saying it is a directory" $?
: >"$work/empty.yaml"
fails_with 1 "$work/empty.yaml: the document is empty (only whitespace or comments)" \
  "$work/out" --config "$work/empty.yaml"
check "--config EMPTY fails saying it is empty" $?
mkfifo "$work/fifo.yaml"
fails_with 1 "'$work/fifo.yaml' is a FIFO, not a regular file" "$work/out" --config "$work/fifo.yaml"
check "--config FIFO fails at once instead of hanging" $?
# A file still being written when the server starts is loaded whole: the writer pauses
# 150 ms after the first rule; the server waits until the file stops changing.
printf 'rules:\n  - service: cart\n    probability: 1\n' >"$work/growing.yaml"
( sleep 0.15; printf '  - service: health\n    probability: 0\n' >>"$work/growing.yaml" ) &
writer=$!
start_server "$work/growing.log" "$bin" --config "$work/growing.yaml"
wait "$writer"
grep -q "policies loaded from $work/growing.yaml: 2 rules" "$work/growing.log"
check "a policy file written as the server starts is loaded whole" $?
kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
printf '{}\n' >"$work/braces.yaml"
start_server "$work/braces.log" "$bin" --config "$work/braces.yaml"
check "--config with {} starts with all defaults" $?
kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null

# The admin token must be a usable secret, or the server does not start.
printf '\n0123456789abcdef0123\n' >"$work/token-blank"
fails_with 2 "has a blank first line; the token must be on the first line" "$work/out" \
  --config "$src/config/policies.yaml" --admin-token-file "$work/token-blank"
check "a token file with a blank first line fails the start" $?
printf 's3cret-token\n' >"$work/token-short"
fails_with 2 "the admin token is 12 bytes; it must be at least 16" "$work/out" \
  --config "$src/config/policies.yaml" --admin-token-file "$work/token-short"
check "a token shorter than 16 bytes fails the start" $?
FLEETRATE_ADMIN_TOKEN='0123456789 abcdef0123' fails_with 2 \
  "FLEETRATE_ADMIN_TOKEN: the admin token contains whitespace" "$work/out" \
  --config "$src/config/policies.yaml"
check "a token with whitespace fails the start" $?

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
