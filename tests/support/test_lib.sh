# Sourced by the integration test scripts: counting checks and starting the real server.

passed=0
failures=0
# check NAME EXIT-CODE: counts a check; prints NAME when it failed.
check() {
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else echo "FAIL: $1"; failures=$((failures + 1)); fi
}

# start_server LOG BINARY [ARGS...]: starts fleetrate-server on ephemeral loopback ports in the
# background. Sets SERVER_PID, GRPC_PORT and HTTP_PORT from its listen line; returns non-zero
# if it exits or does not listen within 10 s.
start_server() {
  local log=$1
  shift
  "$@" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$log" 2>&1 &
  SERVER_PID=$!
  GRPC_PORT=""
  HTTP_PORT=""
  for _ in $(seq 1 100); do
    # The whole line (it ends with store=...), not a partial write of it.
    if grep -q " listening grpc=.* store=" "$log"; then
      GRPC_PORT=$(sed -n 's/.* listening grpc=[^ ]*:\([0-9]*\) http=.*/\1/p' "$log")
      HTTP_PORT=$(sed -n 's/.* listening grpc=[^ ]* http=[^ ]*:\([0-9]*\) .*/\1/p' "$log")
      [ -n "$GRPC_PORT" ] && [ -n "$HTTP_PORT" ]
      return
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# until_ok SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds or time runs out.
until_ok() {
  local deadline=$((SECONDS + $1))
  shift
  while ! "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}

# finish_showing LOG...: ends a test script: after a failure prints the last 20 lines of each
# LOG that exists, then the counts; exits 0 iff no check failed.
finish_showing() {
  if [ $failures -gt 0 ]; then
    for log in "$@"; do
      [ -f "$log" ] && { echo "--- ${log##*/}"; tail -20 "$log"; }
    done
  fi
  echo "$passed passed, $failures failed"
  [ $failures -eq 0 ]
  exit
}

# start_redis LOG: a throwaway redis-server without persistence on a free loopback port, its
# output appended to LOG; sets REDIS_PORT and REDIS_PID. A REDIS_PORT already set is tried first
# (a Redis restarted on the same port); unset it for a new one.
start_redis() {
  local log=$1 port
  for port in ${REDIS_PORT:-} $((20000 + RANDOM % 20000)) $((20000 + RANDOM % 20000)) $((20000 + RANDOM % 20000)); do
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >>"$log" 2>&1 &
    REDIS_PID=$!
    if until_ok 5 redis-cli -p "$port" ping >/dev/null 2>&1 && kill -0 "$REDIS_PID" 2>/dev/null; then
      REDIS_PORT=$port
      return 0
    fi
    kill -9 "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  done
  return 1
}
