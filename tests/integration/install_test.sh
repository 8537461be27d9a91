#!/usr/bin/env bash
# Installs fleetrate from the build tree into a scratch prefix and builds examples/quickstart
# against it with find_package(fleetrate CONFIG): the way an application team consumes the
# client. Then runs it against no server: it must still sample and exit cleanly.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/fleetrate/client.h"
test -f "$work/prefix/lib/cmake/fleetrate/fleetrateConfig.cmake"
# The optional prometheus-cpp metrics target is exported when the build found prometheus-cpp
# (the server build always does).
grep -q "fleetrate::client_metrics" "$work/prefix/lib/cmake/fleetrate/fleetrateTargets.cmake"
cmake -S "$src/examples/quickstart" -B "$work/qs" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/qs" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
# Port 1 on loopback refuses at once: the client must keep sampling on its initial strategy.
out=$("$work/qs/quickstart" 127.0.0.1:1 1)
echo "$out"
grep -q "roots seen [1-9]" <<<"$out"
grep -q "syncs ok 0" <<<"$out"
echo "1 passed, 0 failed"
