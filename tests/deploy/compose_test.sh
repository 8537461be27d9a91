#!/usr/bin/env bash
# docker-compose.yml and the Dockerfile, checked without a Docker daemon (CI has none for
# sure): Debian's `docker-compose config` must accept the file, and what it resolves to must be
# the documented setup — two replicas on the Redis store, Prometheus scraping both (its config
# checked by promtool), a demo app built from the Dockerfile's demo stage.
# Usage: compose_test.sh SOURCE_DIR
set -uo pipefail
src=$1
tools=$src/tests/deploy/node_modules
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$src/tests/support/test_lib.sh"

for tool in docker-compose node promtool; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool is required (scripts/lib.sh installs it)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
[ -d "$tools/js-yaml" ] || { echo "FAIL: run scripts/test (install_deploy_tools)"; echo "0 passed, 1 failed"; exit 1; }

# `config` resolves the build contexts and bind mounts against the project directory; run it
# on a copy so the check sees exactly the committed files.
cp "$src/docker-compose.yml" "$src/Dockerfile" "$work/"
mkdir -p "$work/deploy" && cp -r "$src/deploy/compose" "$work/deploy/"
cp -r "$src/config" "$work/"
(cd "$work" && docker-compose config) >"$work/resolved.yaml" 2>"$work/config.err"
status=$?
[ $status -eq 0 ] || cat "$work/config.err"
check "docker-compose config accepts docker-compose.yml" $status

# q EXPR: evaluates EXPR over `c`, the resolved compose file, and prints it.
q() {
  NODE_PATH=$tools node -e '
    const c = require("js-yaml").load(require("fs").readFileSync(process.argv[2], "utf8"));
    const out = eval(process.argv[1]);
    console.log(typeof out === "string" ? out : JSON.stringify(out));' "$1" "$work/resolved.yaml"
}
[ "$(q 'Object.keys(c.services).sort().join()')" = "demo,fleetrate-1,fleetrate-2,prometheus,redis" ]
check "services: redis, two fleetrate replicas, prometheus, demo" $?
for replica in fleetrate-1 fleetrate-2; do
  [ "$(q "c.services[\"$replica\"].command.join(\" \")")" = "--store redis://redis:6379/0" ]
  check "$replica runs with --store redis://redis:6379/0" $?
  [ "$(q "c.services[\"$replica\"].build.target + \" \" + c.services[\"$replica\"].depends_on.redis.condition")" = "runtime service_healthy" ]
  check "$replica builds the runtime stage and waits for a healthy Redis" $?
  [ "$(q "c.services[\"$replica\"].read_only + \" \" + c.services[\"$replica\"].cap_drop")" = "true ALL" ]
  check "$replica runs read-only with no capabilities" $?
  grep -q '"fleetrate"' <<<"$(q "c.services[\"$replica\"].networks.default.aliases")"
  check "$replica answers as fleetrate" $?
done
[ "$(q 'c.services.demo.build.target + " " + c.services.demo.command[0]')" = "demo fleetrate:8081" ]
check "the demo app builds the demo stage and Syncs with fleetrate:8081" $?
[ "$(q 'c.services.demo.cpus')" = 0.5 ]
check "the demo app, which runs flat out, gets half a core" $?
q 'c.services.prometheus.volumes.map((v) => typeof v === "string" ? v : v.source + ":" + v.target).join()' |
  grep -q "deploy/compose/prometheus.yml:/etc/prometheus/prometheus.yml"
check "Prometheus gets deploy/compose/prometheus.yml" $?

promtool check config "$src/deploy/compose/prometheus.yml" >"$work/promtool.log" 2>&1
status=$?
[ $status -eq 0 ] || cat "$work/promtool.log"
check "promtool accepts the compose Prometheus config" $status
grep -q '"fleetrate-1:5778", "fleetrate-2:5778"' "$src/deploy/compose/prometheus.yml"
check "Prometheus scrapes both replicas" $?

# A broken file must fail the same check, or the check above proves nothing.
sed 's/^  redis:$/  redis:\n    restart_policy: always/' "$src/docker-compose.yml" >"$work/docker-compose.yml"
! (cd "$work" && docker-compose config -q) >/dev/null 2>&1
check "docker-compose config rejects an unknown service option" $?

# The Dockerfile: a Debian 12 builder, runtime stages with runtime libraries only, non-root,
# a health check, and the targets compose builds.
dockerfile=$src/Dockerfile
grep -q '^ARG DEBIAN_IMAGE=debian:12-slim$' "$dockerfile"
check "the images are based on Debian 12" $?
for stage in builder runtime-base demo runtime; do
  grep -q "^FROM .* AS $stage\$" "$dockerfile"
  check "the Dockerfile has the $stage stage" $?
done
[ "$(grep '^FROM ' "$dockerfile" | tail -1)" = "FROM runtime-base AS runtime" ]
check "the server image is the default (last) target" $?
runtime_part=$(sed -n '/AS runtime-base$/,$p' "$dockerfile")
! grep -Eq -- '-dev\b|g\+\+|cmake' <<<"$runtime_part"
check "the runtime stages install no compiler or -dev package" $?
[ "$(grep -c '^USER 10001:10001$' "$dockerfile")" = 2 ]
check "both runtime images run as uid 10001" $?
grep -A1 '^HEALTHCHECK ' "$dockerfile" | grep -q 'GET /healthz'
check "the server image has a HEALTHCHECK on /healthz" $?
# The packages that hold what `ldd fleetrate-server` lists (they depend on the rest).
for lib in libgrpc++1.51 libprotobuf32 libprometheus-cpp-core1.0 libyaml-cpp0.7; do
  grep -q "$lib" <<<"$runtime_part"
  check "the runtime image installs $lib" $?
done

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
