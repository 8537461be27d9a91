#!/usr/bin/env bash
# The /ui status page in a real browser: the real fleetrate-server, two services Synced into it
# (fleetrate_fleet_driver), then Debian's headless Chromium loads /ui, runs its script (which
# fetches /ui/data) and dumps the DOM, whose table must list both services with their
# operations and numbers. Also: the page is self-contained and /ui/data has the history.
# Usage: ui_test.sh SERVER_BINARY FLEET_DRIVER_BINARY SOURCE_DIR
set -uo pipefail
bin=$1
driver=$2
src=$3
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source "$src/tests/support/test_lib.sh"
finish() { finish_showing "$work/server.log" "$work/chromium.log" "$work/dom.html"; }
chromium=$(command -v chromium || command -v chromium-browser || true)
for tool in curl "$chromium"; do
  [ -n "$tool" ] && command -v "$tool" >/dev/null ||
    { echo "FAIL: curl and chromium are required (scripts/lib.sh installs them)"; exit 1; }
done

start_server "$work/server.log" "$bin" --config "$src/config/policies.yaml"
check "server starts" $?
server_pid=$SERVER_PID
[ -n "$GRPC_PORT" ] && [ -n "$HTTP_PORT" ] || finish
base="http://127.0.0.1:$HTTP_PORT"

"$driver" --clients 3 --service checkout "127.0.0.1:$GRPC_PORT" >"$work/driver.log" 2>&1 &&
  "$driver" --clients 2 --service inventory "127.0.0.1:$GRPC_PORT" >>"$work/driver.log" 2>&1
check "two services Sync" $?

# The table is recomputed every second: wait until the data lists both services.
listed() {
  curl -sf "$base/ui/data" >"$work/data.json" &&
    grep -q '"service":"checkout"' "$work/data.json" && grep -q '"service":"inventory"' "$work/data.json"
}
until_ok 10 listed
check "/ui/data lists both services" $?
grep -q '"history":{"age_seconds":\[[0-9]' "$work/data.json"
check "/ui/data carries each service's history" $?

curl -sf -D "$work/headers" "$base/ui" >"$work/page.html"
check "/ui answers 200" $?
grep -qi '^content-type: text/html' "$work/headers"
check "/ui is text/html" $?
# Self-contained: nothing for the browser to fetch but ui/data.
! grep -Eiq '<(link|img|iframe)[ >]|<script[^>]* src=|@import|url\(|(src|href)="?(https?:)?//' "$work/page.html"
check "/ui references no external assets" $?

# Root cannot run Chromium's sandbox; the page is our own, on loopback.
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(--no-sandbox)
timeout 60 "$chromium" --headless "${sandbox[@]}" --disable-gpu --disable-dev-shm-usage \
  --no-first-run --user-data-dir="$work/profile" --virtual-time-budget=5000 \
  --dump-dom "$base/ui" >"$work/dom.html" 2>"$work/chromium.log"
check "chromium loads /ui and dumps its DOM" $?

for service in checkout inventory; do
  grep -q "<tr class=\"service\" data-service=\"$service\"" "$work/dom.html"
  check "the rendered table has a row for $service" $?
done
grep -q 'data-service="checkout" data-operation="op-4"' "$work/dom.html"
check "the rendered table lists checkout's operations" $?
grep -q '<polyline class="achieved" points="[0-9]' "$work/dom.html"
check "each service has a history chart" $?
grep -Eq '<td class="probability">[0-9.]+ %</td>' "$work/dom.html"
check "operations show their probability" $?
! grep -q 'data-service="payments"' "$work/dom.html"
check "no row for a service that never Synced" $?
grep -q 'id="status" class="">updated ' "$work/dom.html"
check "the page says when it last updated (no fetch error)" $?
finish
