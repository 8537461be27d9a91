#!/usr/bin/env bash
# fleetrate-sim end to end, on the documented fleet (100 clients, 1,000 Zipf operations) with a
# shorter warm-up. Mode "step": the run writes its CSV and SVG files, and on the 10x step
# fleetrate's error after warm-up stays within a bound and beats Jaeger's adaptive sampling,
# overall and per operation. Mode "determinism": the same seed gives byte-identical files, with
# one thread or two; another seed does not.
# Usage: sim_smoke_test.sh SIM_BINARY step|determinism
set -uo pipefail
sim=$1
mode=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failures=0
check() {
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else echo "FAIL: $1"; failures=$((failures + 1)); fi
}
args=(--scenarios step --warmup-s 600)

# summary_field ALGORITHM COLUMN: a column of summary.csv for the step scenario.
summary_field() {
  awk -F, -v a="$1" -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == "step" && $2 == a { print $col[c] }' "$work/a/summary.csv"
}

"$sim" "${args[@]}" --out "$work/a" >"$work/out" 2>"$work/err"
check "fleetrate-sim exits 0" $?

if [ "$mode" = step ]; then
  for f in timeseries.csv summary.csv step.svg; do
    [ -s "$work/a/$f" ]; check "$f written" $?
  done
  head -1 "$work/a/timeseries.csv" | grep -qx "t,scenario,algorithm,target,achieved"
  check "time series header" $?
  [ "$(grep -c ',step,fleetrate,' "$work/a/timeseries.csv")" -eq 1200 ]
  check "one row per second of the run" $?
  [ "$(grep -c '<polyline' "$work/a/step.svg")" -eq 5 ]; check "SVG: target + 4 algorithms" $?
  grep -q '</svg>' "$work/a/step.svg"; check "SVG complete" $?
  grep -q "^step     fleetrate" "$work/out"; check "summary table on stdout" $?
  grep -q "\[4/4\]" "$work/err"; check "progress on stderr" $?
  fr_err=$(summary_field fleetrate error_after_warmup)
  jg_err=$(summary_field jaeger error_after_warmup)
  fr_key=$(summary_field fleetrate key_error)
  jg_key=$(summary_field jaeger key_error)
  echo "step: fleetrate error $fr_err key error $fr_key; jaeger error $jg_err key error $jg_key"
  awk -v f="$fr_err" 'BEGIN { exit !(f < 0.40) }'; check "fleetrate error after warm-up < 40%" $?
  awk -v f="$fr_key" 'BEGIN { exit !(f < 0.25) }'; check "fleetrate per-operation error < 25%" $?
  awk -v f="$fr_err" -v j="$jg_err" 'BEGIN { exit !(f < j) }'; check "fleetrate error < jaeger's" $?
  awk -v f="$fr_key" -v j="$jg_key" 'BEGIN { exit !(f < j) }'
  check "fleetrate per-operation error < jaeger's" $?
  "$sim" --scenarios nosuch >/dev/null 2>&1
  [ $? -eq 2 ]; check "an unknown scenario exits 2" $?
elif [ "$mode" = determinism ]; then
  "$sim" "${args[@]}" --out "$work/b" --threads 1 >"$work/out_b" 2>/dev/null
  check "second run exits 0" $?
  for f in timeseries.csv summary.csv step.svg; do
    cmp -s "$work/a/$f" "$work/b/$f"; check "$f identical for the same seed" $?
  done
  cmp -s "$work/out" "$work/out_b"; check "summary table identical" $?
  "$sim" "${args[@]}" --algorithms fleetrate --seed 2 --out "$work/c" >/dev/null 2>&1
  ! cmp -s <(grep ',fleetrate,' "$work/a/timeseries.csv") "$work/c/timeseries.csv"
  check "another seed gives other draws" $?
else
  echo "unknown mode $mode"
  exit 2
fi
[ $failures -gt 0 ] && { cat "$work/out" "$work/err" 2>/dev/null | tail -20; }
echo "$passed passed, $failures failed"
[ $failures -eq 0 ]
