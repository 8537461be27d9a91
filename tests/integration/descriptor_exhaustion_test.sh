#!/usr/bin/env bash
# Descriptor exhaustion through the HTTP port must not take gRPC down. Under a limit of 256
# descriptors, far more idle HTTP connections than that are opened and held; the HTTP caps
# (64 connections, 16 idle) refuse or evict the excess, so a gRPC call still succeeds, the
# self-probe stays healthy and /healthz answers 200 while the connections are held.
# Usage: descriptor_exhaustion_test.sh SERVER FLEETRATECTL SOURCE_DIR
set -uo pipefail
bin=$1
ctl=$2
src=$3
work=$(mktemp -d)
pid=""
holder=""
cleanup() {
  [ -n "$holder" ] && kill "$holder" 2>/dev/null
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source "$src/tests/support/test_lib.sh"

command -v prlimit >/dev/null || { echo "prlimit not installed; skipped"; exit 0; }

start_server "$work/log" prlimit --nofile=256:256 "$bin" --config "$src/config/policies.yaml" \
  --grpc-self-probe-interval 1
check "starts under a limit of 256 descriptors" $?
pid=$SERVER_PID
grep -q "HTTP caps: 64 connections, 16 idle (descriptor limit 256)" "$work/log"
check "sizes the HTTP caps from the descriptor limit" $?

# Opens 600 connections (more than twice the limit) and holds them until killed. Connections
# the server refused or evicted stay open on this side; that costs the server nothing.
python3 - "$HTTP_PORT" "$work/opened" <<'PY' &
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (2048, max(2048, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
held = []
for _ in range(600):
    try:
        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except OSError:
        pass
open(sys.argv[2], "w").write(str(len(held)))
time.sleep(60)
PY
holder=$!
until_ok 20 test -s "$work/opened"
check "the attacker opened its connections" $?

"$ctl" --server "127.0.0.1:$GRPC_PORT" --timeout-ms 5000 status >"$work/status" 2>&1
check "a gRPC call succeeds while the HTTP connections are held" $?

healthz() {
  exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT" || return 1
  printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  local response
  response=$(timeout 5 cat <&3)
  exec 3<&-
  grep -q "^HTTP/1.1 200" <<<"$response"
}
sleep 3  # three self-probes
until_ok 10 healthz
check "/healthz answers 200 (the gRPC self-probe succeeds)" $?
grep -q "HTTP: closed" "$work/log"
check "logs the closed connections" $?
grep -q "gRPC port stopped serving" "$work/log"
[ $? -ne 0 ]
check "the self-probe never failed" $?

kill "$holder" 2>/dev/null
holder=""
"$ctl" --server "127.0.0.1:$GRPC_PORT" --timeout-ms 5000 status >"$work/status" 2>&1
check "a gRPC call succeeds after the attacker left" $?

kill -TERM "$pid" && wait "$pid"
check "SIGTERM exits 0" $?
pid=""

finish_showing "$work/log" "$work/status"
