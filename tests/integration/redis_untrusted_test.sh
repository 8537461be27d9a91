#!/usr/bin/env bash
# Two fleetrate replicas on a real redis-server that someone else also writes to:
#   1. `SET <prefix>:leader x` without a TTL: the lease is repaired and rates move again;
#   2. a hostile table (probability NaN and 5, threshold 2^64-1) is refused: Jaeger's JSON never
#      shows null, the last good table stays served, /debug/store says why, and the next good
#      table clears it;
#   3. garbage under the reports key is reported degraded and not kept alive by our PEXPIRE;
#   4. a lease held by someone else within bounds but nothing published: degraded (rates stopped
#      moving), and it clears when tables move again;
#   5. Redis restarts: last_error is cleared once the replicas are connected again.
# Usage: redis_untrusted_test.sh SERVER_BINARY FLEET_DRIVER_BINARY SOURCE_DIR
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
for tool in redis-server redis-cli curl protoc; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done

r() { redis-cli -p "$REDIS_PORT" "$@"; }
store_of() { curl -s "http://127.0.0.1:$1/debug/store"; }
# field_of JSON KEY: a number or string field of /debug/store.
field_of() { sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^,\"}]*\\).*/\\1/p" <<<"$1"; }
# moved HTTP...: tables published plus fetched, summed over the replicas.
moved() {
  local total=0 h s p f
  for h in "$@"; do
    s=$(store_of "$h")
    p=$(field_of "$s" tables_published)
    f=$(field_of "$s" tables_fetched)
    total=$((total + ${p:-0} + ${f:-0}))
  done
  echo "$total"
}

start_redis "$work/redis.log"
check "redis-server starts" $?
[ -n "$REDIS_PID" ] || finish
store="redis://127.0.0.1:$REDIS_PORT"
http=()
grpc=()
for i in 0 1; do
  start_server "$work/replica$i.log" "$bin" --config "$src/config/policies.yaml" --store "$store"
  check "replica $i starts" $?
  pids+=("$SERVER_PID")
  http+=("$HTTP_PORT")
  grpc+=("$GRPC_PORT")
done
[ ${#http[@]} -eq 2 ] || finish
"$driver" --clients 10 127.0.0.1:${grpc[0]} 127.0.0.1:${grpc[1]} >/dev/null
check "10 clients Sync" $?
one_leader() { [ "$( (store_of "${http[0]}"; echo; store_of "${http[1]}") | grep -c '"leader":true')" = 1 ]; }
until_ok 10 one_leader
check "one replica leads" $?
both_fetched() { [ "$(moved "${http[@]}")" -ge 3 ]; }
until_ok 10 both_fetched
check "tables are published and fetched" $?

# 1. A lease without a TTL.
before=$(moved "${http[@]}")
r set fleetrate:leader x >/dev/null
set_at=$(date +%s%N)
repaired() {
  local id
  id=$(r get fleetrate:leader)
  [ -n "$id" ] && [ "$id" != x ] && [ "$(r pttl fleetrate:leader)" -gt 0 ]
}
until_ok 5 repaired
check "a lease set without a TTL is repaired (held by a replica, with an expiry)" $?
echo "lease repaired after $((($(date +%s%N) - set_at) / 1000000)) ms (lease 3000 ms)"
tables_move() { [ "$(moved "${http[@]}")" -ge $((before + 2)) ]; }
# A leader republishes at least every 5 s.
until_ok 10 tables_move
check "tables move again" $?
echo "tables moving again after $((($(date +%s%N) - set_at) / 1000000)) ms"
r0=$(field_of "$(store_of "${http[0]}")" lease_repairs)
r1=$(field_of "$(store_of "${http[1]}")" lease_repairs)
repairs=$((${r0:-0} + ${r1:-0}))
[ "$repairs" -ge 1 ]
check "/debug/store counts the repair (lease_repairs $repairs)" $?
grep -q "had no expiry" "$work/replica0.log" "$work/replica1.log"
check "the repair is logged" $?
# grep -c reads to the end: grep -q would stop early, curl would get SIGPIPE, pipefail fail.
repair_metric() {
  local i
  for i in 0 1; do
    curl -s "http://127.0.0.1:${http[$i]}/metrics" | grep -c '^fleetrate_store_lease_repairs_total [1-9]' >/dev/null && return 0
  done
  return 1
}
until_ok 3 repair_metric
check "fleetrate_store_lease_repairs_total is exported" $?

# 2. A hostile table while someone else holds the lease (within bounds, so it is not repaired).
good=$(curl -s "http://127.0.0.1:${http[0]}/sampling?service=fleet")
grep -q '"operation":"op-0"' <<<"$good"
check "Jaeger JSON lists op-0 before the attack" $?
printf '%s\n' 'leader: "x" sequence: 9000000000000000' \
  'scopes { service: "fleet" environment: "test" version: 9000000000000000' \
  '  operations { operation: "op-0" probability: nan threshold: 0 }' \
  '  operations { operation: "op-1" probability: 5 threshold: 18446744073709551615 }' \
  '  default_rate { probability: 1 } live_clients: 10 }' |
  protoc --encode=fleetrate.store.v1.StoredTables -I "$src/proto" "$src/proto/fleetrate/store/v1/store.proto" >"$work/hostile.bin"
check "the hostile table encodes" $?
r set fleetrate:leader x px 5000 >/dev/null
r -x set fleetrate:table <"$work/hostile.bin" >/dev/null
r set fleetrate:table:sequence 9000000000000000 >/dev/null
refused() {
  local i
  for i in 0 1; do
    store_of "${http[$i]}" | grep -q '"degraded":true,"degraded_reason":"refused the last table: fleetrate:table (sequence 9000000000000000): scopes\[0\].operations\[0\].probability: must be finite and in \[0, 1\], got nan' || return 1
  done
}
until_ok 5 refused
check "both replicas refuse the table and /debug/store says why" $?
store_of "${http[0]}" | grep -q '"invalid_tables":[1-9]'
check "/debug/store counts the refused table" $?
table_metric() { curl -s "http://127.0.0.1:${http[0]}/metrics" | grep -c '^fleetrate_store_invalid_total{what="table"} [1-9]' >/dev/null; }
until_ok 3 table_metric
check "fleetrate_store_invalid_total{what=\"table\"} counts it" $?
degraded_metric() { curl -s "http://127.0.0.1:${http[0]}/metrics" | grep -c '^fleetrate_store_degraded 1' >/dev/null; }
until_ok 3 degraded_metric
check "fleetrate_store_degraded is 1" $?
served_ok=0
for _ in 1 2 3 4 5; do
  for i in 0 1; do
    body=$(curl -s "http://127.0.0.1:${http[$i]}/sampling?service=fleet")
    grep -q null <<<"$body" && served_ok=1
    grep -o '"samplingRate":[^,}]*' <<<"$body" | cut -d: -f2 |
      awk '{ if (!($1 >= 0 && $1 <= 1)) bad = 1 } END { exit bad }' || served_ok=1
    grep -q '"operation":"op-0"' <<<"$body" || served_ok=1
  done
  sleep 0.2
done
[ "$served_ok" = 0 ]
check "Jaeger JSON never shows null or a rate outside [0, 1]; the last good table stays" $?
grep -q "refused the table in fleetrate:table" "$work/replica0.log"
check "the refusal is logged" $?
healed() {
  local i
  for i in 0 1; do store_of "${http[$i]}" | grep -q '"degraded":false' || return 1; done
}
until_ok 10 healed
check "the next good table clears the degraded state" $?

# 3. Garbage under the reports key.
r set fleetrate:reports garbage px 4000 >/dev/null
"$driver" --clients 10 127.0.0.1:${grpc[0]} 127.0.0.1:${grpc[1]} >/dev/null
check "clients Sync while the reports key holds garbage" $?
garbage_seen() {
  local i
  for i in 0 1; do
    store_of "${http[$i]}" | grep -q '"degraded":true,"degraded_reason":"fleetrate:reports is not a fleetrate report stream' || return 1
  done
}
until_ok 3 garbage_seen
check "both replicas report the reports key as degraded" $?
sleep 1
ttl=$(r pttl fleetrate:reports)
[ "$(r type fleetrate:reports)" = string ] && [ "$ttl" -gt 0 ] && [ "$ttl" -le 3000 ]
check "the garbage is not kept alive by our PEXPIRE (pttl $ttl ms)" $?
stream_again() {
  [ "$(r type fleetrate:reports)" = stream ] && healed
}
until_ok 10 stream_again
check "once the garbage expired, the reports are written again and the state clears" $?

# 4. Someone else holds the lease within bounds (PX < 2 x lease) and never publishes.
hold_until=$((SECONDS + 14))
while [ $SECONDS -lt $hold_until ]; do
  r set fleetrate:leader x px 5500 >/dev/null
  store_of "${http[0]}" | grep -q '"degraded":true,"degraded_reason":"no new rate table for' && break
  sleep 1
done
store_of "${http[0]}" | grep -q '"degraded":true,"degraded_reason":"no new rate table for'
check "rates that stop moving are reported degraded" $?
grep -q "no new rate table for" "$work/replica0.log"
check "and logged" $?
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${http[0]}/readyz")" = 200 ]
check "the replica stays ready (it serves its last table)" $?
until_ok 12 healed
check "the state clears when a replica leads and publishes again" $?

# 5. Redis restarts: last_error does not outlive the outage.
r shutdown nosave >/dev/null 2>&1
wait "$REDIS_PID" 2>/dev/null
REDIS_PID=""
down() { store_of "${http[0]}" | grep -q '"connected":false'; }
until_ok 5 down
check "the replica notices that Redis is gone" $?
start_redis "$work/redis.log"
check "redis-server restarts" $?
clean() {
  local s
  s=$(store_of "${http[0]}")
  grep -q '"connected":true' <<<"$s" && grep -q '"last_error":""' <<<"$s"
}
until_ok 10 clean
check "after reconnecting, last_error is cleared" $?
finish
