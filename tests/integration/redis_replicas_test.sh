#!/usr/bin/env bash
# Several fleetrate replicas on one real redis-server (--store redis://...), as processes:
#   1. 30 clients spread over three replicas: every replica serves the same table, whose fleet
#      estimate matches a single memory-store server fed the same reports;
#   2. every client moves to another replica: nothing is counted twice;
#   3. the leader is killed (SIGKILL): another replica leads within the lease, and the
#      survivors answer Jaeger's /sampling throughout;
#   4. Redis is shut down: the replicas stay ready, serve their last table, accept Syncs and
#      report the degraded state (/debug/store, fleetrate_store_up 0);
#   5. Redis restarts empty: the replicas reconnect, one leads, and the estimate is whole and
#      not doubled.
# Usage: redis_replicas_test.sh SERVER_BINARY FLEET_DRIVER_BINARY SOURCE_DIR
set -uo pipefail
bin=$1
driver=$2
src=$3
work=$(mktemp -d)
pids=()
REDIS_PID=""
cleanup() {
  for pid in "${pids[@]}" $REDIS_PID; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source "$src/tests/support/test_lib.sh"
finish() { finish_showing "$work"/*.log; }
for tool in redis-server redis-cli curl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/lib.sh installs it)"; exit 1; }
done


# rates_of HTTP_PORT: the /debug/rates view of service "fleet".
rates_of() { curl -s "http://127.0.0.1:$1/debug/rates?service=fleet"; }
# seen_of HTTP_PORT OPERATION: the fleet-seen roots/s of one operation in that replica's table.
seen_of() {
  rates_of "$1" | grep -o "\"operation\":\"$2\"[^}]*" |
    sed -n 's/.*"fleet_seen_per_second":\([0-9.eE+-]*\).*/\1/p'
}
live_clients_of() { rates_of "$1" | sed -n 's/.*"live_clients":\([0-9]*\).*/\1/p'; }
version_of() { rates_of "$1" | sed -n 's/.*"service":"fleet","environment":"test","version":\([0-9]*\).*/\1/p'; }
store_of() { curl -s "http://127.0.0.1:$1/debug/store"; }
# near A B: A within 1 % of B (B > 0).
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 0.01 * b) }'; }

start_redis "$work/redis.log"
check "redis-server starts" $?
[ -n "$REDIS_PID" ] || finish
store="redis://127.0.0.1:$REDIS_PORT"

grpc=()
http=()
for i in 0 1 2; do
  start_server "$work/replica$i.log" "$bin" --config "$src/config/policies.yaml" --store "$store"
  check "replica $i starts on the Redis store" $?
  pids+=("$SERVER_PID")
  grpc+=("$GRPC_PORT")
  http+=("$HTTP_PORT")
done
start_server "$work/single.log" "$bin" --config "$src/config/policies.yaml"
check "the single memory-store server starts" $?
single_pid=$SERVER_PID
pids+=("$single_pid")
single_http=$HTTP_PORT
single_grpc=$GRPC_PORT
[ ${#http[@]} -eq 3 ] || finish
until_ok 5 grep -q "store=redis" "$work/replica0.log"
check "the replica logs its store" $?

# 1. A shared fleet view.
"$driver" --clients 30 127.0.0.1:${grpc[0]} 127.0.0.1:${grpc[1]} 127.0.0.1:${grpc[2]}
check "30 clients Sync across three replicas" $?
"$driver" --clients 30 127.0.0.1:$single_grpc
check "the same 30 clients Sync with the single server" $?
# op-0: 30 clients x 100 roots/s.
single_ready() { near "$(seen_of "$single_http" op-0)" 3000; }
until_ok 5 single_ready
check "the single server estimates 3000 roots/s for op-0" $?
all_match() {
  local i
  for i in 0 1 2; do
    near "$(seen_of "${http[$i]}" op-0)" "$(seen_of "$single_http" op-0)" || return 1
    near "$(seen_of "${http[$i]}" op-4)" "$(seen_of "$single_http" op-4)" || return 1
    [ "$(live_clients_of "${http[$i]}")" = 30 ] || return 1
  done
}
until_ok 10 all_match
check "every replica serves the single server's estimate (op-0, op-4, 30 live clients)" $?
same_version() {
  local v0
  v0=$(version_of "${http[0]}")
  [ -n "$v0" ] && [ "$(version_of "${http[1]}")" = "$v0" ] && [ "$(version_of "${http[2]}")" = "$v0" ]
}
until_ok 5 same_version
check "the three replicas serve the same table version" $?
leaders=$(for i in 0 1 2; do store_of "${http[$i]}"; echo; done | grep -c '"leader":true')
[ "$leaders" = 1 ]
check "exactly one replica leads (saw $leaders)" $?

# 2. Clients move between replicas.
"$driver" --clients 30 --shift 1 127.0.0.1:${grpc[0]} 127.0.0.1:${grpc[1]} 127.0.0.1:${grpc[2]}
check "the 30 clients Sync again, each with another replica" $?
sleep 2
all_match
check "moved clients are not counted twice (still 30 clients, 3000 roots/s)" $?

# 3. Kill the leader.
leader_id=$(store_of "${http[0]}" | sed -n 's/.*"leader_id":"\([^"]*\)".*/\1/p')
leader_pid=${leader_id##*-}
leader_index=""
for i in 0 1 2; do [ "${pids[$i]}" = "$leader_pid" ] && leader_index=$i; done
[ -n "$leader_index" ]
check "the leader ($leader_id) is one of the replicas" $?
[ -n "$leader_index" ] || finish
survivors=()
for i in 0 1 2; do [ "$i" != "$leader_index" ] && survivors+=("$i"); done
kill -9 "$leader_pid"
killed_at=$(date +%s%N)
served=0
unserved=0
new_leader=""
for _ in $(seq 1 50); do
  for i in "${survivors[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${http[$i]}/sampling?service=fleet")
    if [ "$code" = 200 ]; then served=$((served + 1)); else unserved=$((unserved + 1)); fi
    store_of "${http[$i]}" | grep -q '"leader":true' && new_leader=$i
  done
  [ -n "$new_leader" ] && break
  sleep 0.1
done
took_ms=$((($(date +%s%N) - killed_at) / 1000000))
echo "a new leader after ${took_ms} ms (lease 3000 ms); /sampling answered $served times, failed $unserved"
[ -n "$new_leader" ] && [ "$took_ms" -le 4500 ]
check "another replica leads within the lease (+ one round)" $?
[ "$unserved" -eq 0 ] && [ "$served" -gt 0 ]
check "the survivors answered /sampling throughout the failover" $?
"$driver" --clients 30 127.0.0.1:${grpc[${survivors[0]}]} 127.0.0.1:${grpc[${survivors[1]}]}
check "the clients Sync with the survivors" $?
survivors_match() {
  local i
  for i in "${survivors[@]}"; do
    near "$(seen_of "${http[$i]}" op-0)" 3000 || return 1
    [ "$(live_clients_of "${http[$i]}")" = 30 ] || return 1
  done
}
until_ok 10 survivors_match
check "the new leader's table keeps the whole fleet (30 clients, 3000 roots/s)" $?

# 4. Redis goes away.
redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
wait "$REDIS_PID" 2>/dev/null
REDIS_PID=""
s=${survivors[0]}
degraded() { store_of "${http[$s]}" | grep -q '"degraded":true'; }
until_ok 5 degraded
check "/debug/store shows the degraded state" $?
# grep -c reads to the end: grep -q would stop early, curl would get SIGPIPE, pipefail fail.
store_down_metric() { curl -s "http://127.0.0.1:${http[$s]}/metrics" | grep -c '^fleetrate_store_up 0' >/dev/null; }
until_ok 3 store_down_metric
check "fleetrate_store_up is 0" $?
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${http[$s]}/readyz")" = 200 ]
check "the replica stays ready without Redis" $?
"$driver" --clients 30 127.0.0.1:${grpc[${survivors[0]}]} 127.0.0.1:${grpc[${survivors[1]}]}
check "Syncs succeed without Redis" $?
near "$(seen_of "${http[$s]}" op-0)" 3000
check "the last table is still served" $?
grep -q "lost Redis at" "$work/replica$s.log"
check "the replica logs that it lost Redis" $?

# A replica that starts while Redis is down: ready on policy-only rates, one clear log line.
start_server "$work/late.log" "$bin" --config "$src/config/policies.yaml" --store "$store"
check "a replica starts while Redis is down" $?
late_pid=$SERVER_PID
late_http=$HTTP_PORT
pids+=("$late_pid")
sleep 2
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$late_http/readyz")" = 200 ]
check "it is ready (policy-only rates) without Redis" $?
[ "$(grep -c "cannot reach Redis at 127.0.0.1:$REDIS_PORT/0" "$work/late.log")" = 1 ]
check "it says so in exactly one log line while it retries" $?

# 5. Redis comes back, empty, on the same port.
start_redis "$work/redis.log"
check "redis-server restarts" $?
reconnected() {
  local i
  for i in "${survivors[@]}"; do store_of "${http[$i]}" | grep -q '"connected":true' || return 1; done
}
until_ok 10 reconnected
check "the replicas reconnect by themselves" $?
late_connected() { store_of "$late_http" | grep -q '"connected":true'; }
until_ok 10 late_connected
check "the replica that started without Redis connects by itself" $?
kill -TERM "$late_pid"
wait "$late_pid" 2>/dev/null
one_leader() {
  [ "$(for i in "${survivors[@]}"; do store_of "${http[$i]}"; echo; done | grep -c '"leader":true')" = 1 ]
}
until_ok 10 one_leader
check "exactly one survivor leads after the restart" $?
"$driver" --clients 30 --shift 1 127.0.0.1:${grpc[${survivors[0]}]} 127.0.0.1:${grpc[${survivors[1]}]}
check "the clients Sync after the restart" $?
sleep 2
until_ok 10 survivors_match
check "after the restart the estimate is whole and not doubled (30 clients, 3000 roots/s)" $?

# Shutdown releases the lease at once.
for i in "${survivors[@]}"; do kill -TERM "${pids[$i]}"; done
for i in "${survivors[@]}"; do wait "${pids[$i]}" 2>/dev/null; done
[ -z "$(redis-cli -p "$REDIS_PORT" get fleetrate:leader)" ]
check "SIGTERM releases the lease" $?
finish
