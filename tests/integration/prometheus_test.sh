#!/usr/bin/env bash
# Observability end to end: the real fleetrate-server on ephemeral ports, a few Syncs into it,
# `promtool check metrics` on its live /metrics (must report nothing), the debug views, and a
# real Prometheus (Debian's) scraping it every second until a query through its API returns
# fleetrate's series.
# Usage: prometheus_test.sh SERVER_BINARY SYNC_DRIVER_BINARY SOURCE_DIR
set -uo pipefail
bin=$1
driver=$2
src=$3
work=$(mktemp -d)
server_pid=""
prometheus_pid=""
cleanup() {
  [ -n "$prometheus_pid" ] && kill -9 "$prometheus_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source "$src/tests/support/test_lib.sh"
finish() { finish_showing "$work/server.log" "$work/prometheus.log"; }

for tool in curl promtool prometheus; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/lib.sh installs it)"; exit 1; }
done

start_server "$work/server.log" "$bin" --config "$src/config/policies.yaml"
check "server logs where it listens" $?
server_pid=$SERVER_PID
grpc_port=$GRPC_PORT
http_port=$HTTP_PORT
[ -n "$grpc_port" ] && [ -n "$http_port" ] || finish
base="http://127.0.0.1:$http_port"

"$driver" "127.0.0.1:$grpc_port"
check "Syncs are accepted (and one without a service is refused)" $?

# The per-service gauges follow the table, recomputed every second.
scraped() {
  curl -sf "$base/metrics" >"$work/metrics" &&
    grep -q '^fleetrate_service_roots_seen_per_second{.*service="driver"' "$work/metrics"
}
until_ok 15 scraped
check "/metrics shows the driven service within 15 s" $?

promtool check metrics <"$work/metrics" >"$work/promtool.out" 2>&1
lint_rc=$?
[ $lint_rc -eq 0 ] && [ ! -s "$work/promtool.out" ]
check "promtool check metrics reports nothing" $?
[ -s "$work/promtool.out" ] && { echo "--- promtool (rc $lint_rc)"; cat "$work/promtool.out"; }

for series in 'fleetrate_build_info{version="' 'fleetrate_sync_requests_total{code="OK"} 4' \
  'fleetrate_sync_requests_total{code="INVALID_ARGUMENT"} 1' 'fleetrate_sync_duration_seconds_bucket{' \
  'fleetrate_live_clients 2' 'fleetrate_keys_tracked 3' \
  'fleetrate_key_probability{environment="test",operation="GET /items",service="driver"}' \
  'fleetrate_service_target_traces_per_second{environment="test",service="driver"}' \
  'process_cpu_seconds_total ' 'process_resident_memory_bytes ' 'process_open_fds ' \
  'process_start_time_seconds ' 'process_threads '; do
  grep -qF "$series" "$work/metrics"
  check "/metrics has $series" $?
done

curl -sf "$base/debug/rates?service=driver" >"$work/rates"
check "/debug/rates answers" $?
grep -q '"service":"driver"' "$work/rates" && grep -q '"operation":"GET /items"' "$work/rates"
check "/debug/rates lists the driven keys" $?
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/debug/rates?limit=0")" = 400 ]
check "/debug/rates?limit=0 is 400" $?
curl -sf "$base/debug/config" >"$work/config"
grep -q "\"source_name\":\"$src/config/policies.yaml\"" "$work/config" && grep -q '"summary":' "$work/config"
check "/debug/config shows the policy source and a summary" $?

# A real Prometheus scraping the server every second. It cannot report a port it picked, so try
# free-looking ports until one binds.
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fleetrate
    static_configs:
      - targets: ['127.0.0.1:$http_port']
YAML
prom_port=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 30000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue  # taken
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
  prometheus_pid=$!
  prom_ready() { curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null || ! kill -0 "$prometheus_pid" 2>/dev/null; }
  until_ok 20 prom_ready
  if kill -0 "$prometheus_pid" 2>/dev/null && curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; then
    prom_port=$port
    break
  fi
  kill -9 "$prometheus_pid" 2>/dev/null; wait "$prometheus_pid" 2>/dev/null; prometheus_pid=""
done
[ -n "$prom_port" ]
check "prometheus starts" $?
[ -n "$prom_port" ] || finish

query() {  # query PROMQL: the API's JSON answer in $work/answer
  curl -sfG "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" >"$work/answer"
}
has_result() { query "$1" && grep -q '"result":\[{' "$work/answer"; }
until_ok 30 has_result 'fleetrate_build_info{job="fleetrate"}'
check "Prometheus returns fleetrate_build_info within 30 s" $?
has_result 'up{job="fleetrate"} == 1'
check "the scrape target is up" $?
has_result 'fleetrate_sync_requests_total{code="OK"} == 4'
check "Prometheus has the 4 Syncs in fleetrate_sync_requests_total" $?
has_result 'fleetrate_service_roots_seen_per_second{service="driver",environment="test"} > 0'
check "Prometheus has the driven service's traffic" $?
has_result 'process_start_time_seconds{job="fleetrate"} > 0'
check "Prometheus has the process metrics" $?

# Every query of the Grafana dashboard is valid PromQL against the real server's series.
dashboard="$src/helm/fleetrate/dashboards/fleetrate.json"
exprs=$(sed -n 's/^ *"expr": "\(.*\)",\{0,1\}$/\1/p' "$dashboard" | sed 's/\\"/"/g')
[ -n "$exprs" ]
check "the dashboard has queries" $?
while IFS= read -r expr; do
  [ -n "$expr" ] || continue
  expr=${expr//\$__rate_interval/1m}
  expr=${expr//\$__range/1h}
  expr=${expr//\$job/.*}
  expr=${expr//\$service/.*}
  query "$expr" && grep -q '"status":"success"' "$work/answer"
  check "dashboard query runs: $expr" $?
done <<<"$exprs"

finish
