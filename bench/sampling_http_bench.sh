#!/usr/bin/env bash
# Jaeger's GET /sampling against a real fleetrate-server whose policy has 10,000 literal-operation
# rules for one service (a large converted Jaeger strategies file), in BENCHMARKS.md.
# Usage: bench/sampling_http_bench.sh SERVER [REQUESTS_PER_RUN]
# Prints, for 3 runs of sequential requests, the median, min and max request time (curl's
# time_total), then how long /healthz takes while 4 /sampling requests are in flight.
set -uo pipefail
bin=$1
n=${2:-20}
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

{
  printf 'defaults:\n  probability: 0.5\nrules:\n'
  for i in $(seq 0 9999); do
    printf '  - service: big\n    operation: operation-%d\n    probability: 0.25\n' "$i"
  done
} >"$work/rules.yaml"

"$bin" --config "$work/rules.yaml" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q " listening grpc=.* store=" "$work/log" && break; sleep 0.1; done
port=$(sed -n 's/.* listening grpc=[^ ]* http=[^ ]*:\([0-9]*\) .*/\1/p' "$work/log")
[ -n "$port" ] || { echo "the server did not start"; cat "$work/log"; exit 1; }
url="http://127.0.0.1:$port"

for run in 1 2 3; do
  for _ in $(seq 1 "$n"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$url/sampling?service=big"
  done | sort -n | awk -v run="$run" '{a[NR] = $1 * 1000}
    END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
         printf "run %d: median %.2f ms, min %.2f ms, max %.2f ms (%d requests)\n", run, m, a[1], a[NR], NR}'
done

busy=()
for _ in 1 2 3 4; do
  curl -s -o /dev/null "$url/sampling?service=big" &
  busy+=($!)
done
sleep 0.3  # the four are being served
curl -s -o /dev/null -w '/healthz while 4 /sampling are in flight: %{time_total} s\n' "$url/healthz"
wait "${busy[@]}"
