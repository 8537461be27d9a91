#!/usr/bin/env bash
# The Helm chart, as a platform team would install it: a real `helm lint --strict` and
# `helm template` for the default values and the Redis (bundled, with a password, external) and
# monitoring variants, every rendered manifest validated offline against the Kubernetes API
# schemas (validate_manifests.js), and the settings each variant must produce.
# Usage: helm_chart_test.sh SOURCE_DIR
# Needs the tools that scripts/lib.sh's install_deploy_tools puts in tests/deploy/node_modules.
set -uo pipefail
src=$1
chart=$src/helm/fleetrate
tools=$src/tests/deploy/node_modules
helm=$tools/.bin/helm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$src/tests/support/test_lib.sh"

if [ ! -x "$helm" ] || ! command -v node >/dev/null; then
  echo "FAIL: helm and node are required: run scripts/test (install_deploy_tools in scripts/lib.sh)"
  echo "0 passed, 1 failed"
  exit 1
fi
export HELM_CACHE_HOME=$work/helm-cache HELM_CONFIG_HOME=$work/helm-config
export HELM_DATA_HOME=$work/helm-data

validate() { node "$src/tests/deploy/validate_manifests.js" "$@" >"$work/validate.log" 2>&1; }
# render NAME [helm args...]: helm template into $work/NAME.yaml.
render() {
  local name=$1
  shift
  "$helm" template rel "$chart" --namespace obs "$@" >"$work/$name.yaml" 2>"$work/$name.err"
}
# js EXPR FILE: evaluates EXPR over `docs` (the YAML documents of FILE) and prints the result.
js() {
  NODE_PATH=$tools node -e '
    const docs = require("js-yaml").loadAll(require("fs").readFileSync(process.argv[2], "utf8"))
      .filter(Boolean);
    const find = (kind, name) => docs.find((d) => d.kind === kind && (!name || d.metadata.name === name));
    const out = eval(process.argv[1]);
    console.log(typeof out === "string" ? out : JSON.stringify(out));' "$1" "$2"
}
server_args() { js 'find("Deployment").spec.template.spec.containers[0].args.join(" ")' "$1"; }
show_failure() { cat "$work/validate.log" "$work"/*.err 2>/dev/null | tail -20; }
# render_valid NAME WHAT [helm args...]: renders NAME and checks that helm succeeds and every
# manifest is a valid Kubernetes object.
render_valid() {
  local name=$1 what=$2 status
  shift 2
  render "$name" "$@"
  check "helm template renders $what" $?
  validate "$work/$name.yaml"
  status=$?
  [ $status -eq 0 ] || show_failure
  check "the $what manifests are valid Kubernetes objects" $status
}

# --- lint: default values and every variant, strict (warnings fail) ---
for variant in "" "--set redis.enabled=true --set replicaCount=2" \
  "--set redis.external.address=redis.obs.svc:6379 --set autoscaling.enabled=true" \
  "--set serviceMonitor.enabled=true --set grafanaDashboard.enabled=true" \
  "--set tls.enabled=true --set tls.secretName=fr-tls --set tls.clientCaSecret=fr-ca"; do
  # shellcheck disable=SC2086
  "$helm" lint --strict "$chart" $variant >"$work/lint.log" 2>&1
  status=$?
  [ $status -eq 0 ] || cat "$work/lint.log"
  check "helm lint --strict ${variant:-(defaults)}" $status
done

# --- defaults: one replica on the memory store, hardened, probed ---
render_valid default "default"
[ "$(js 'docs.map((d) => d.kind).sort().join(",")' "$work/default.yaml")" = \
  "ConfigMap,Deployment,PodDisruptionBudget,Service,ServiceAccount" ]
check "defaults render Deployment, Service, ConfigMap, PDB and ServiceAccount only" $?
[ "$(js 'find("Deployment").spec.replicas' "$work/default.yaml")" = 1 ]
check "defaults run one replica" $?
! grep -q -- "--store" <<<"$(server_args "$work/default.yaml")"
check "defaults keep the memory store (no --store)" $?
grep -q -- "--config /etc/fleetrate/policies.yaml" <<<"$(server_args "$work/default.yaml")"
check "the server reads the mounted policy file" $?
[ "$(js 'find("Deployment").spec.strategy.type' "$work/default.yaml")" = RollingUpdate ]
check "rolling update" $?
[ "$(js 'find("Deployment").spec.template.spec.containers[0].livenessProbe.grpc.port' "$work/default.yaml")" = 8081 ]
check "liveness is the native gRPC probe on 8081" $?
[ "$(js 'find("Deployment").spec.template.spec.containers[0].readinessProbe.httpGet.path' "$work/default.yaml")" = /readyz ]
check "readiness is HTTP /readyz" $?
[ "$(js 'const c = find("Deployment").spec.template.spec; [c.securityContext.runAsNonRoot, c.containers[0].securityContext.readOnlyRootFilesystem, c.containers[0].securityContext.allowPrivilegeEscalation].join()' "$work/default.yaml")" = "true,true,false" ]
check "runAsNonRoot, readOnlyRootFilesystem, no privilege escalation" $?
[ "$(js 'find("Deployment").spec.template.spec.containers[0].resources.requests.cpu' "$work/default.yaml")" = 100m ]
check "resources are set" $?
[ "$(js 'find("Service").spec.ports.map((p) => p.name + ":" + p.port).join()' "$work/default.yaml")" = "grpc:8081,http:5778" ]
check "the Service has grpc 8081 and http 5778" $?
[ "$(js 'find("PodDisruptionBudget").spec.maxUnavailable' "$work/default.yaml")" = 1 ]
check "the PodDisruptionBudget lets one pod go at a time" $?

# The chart's default policies are config/policies.yaml (the server's default file), so the
# two cannot drift apart.
NODE_PATH=$tools node -e '
  const yaml = require("js-yaml"), fs = require("fs"), assert = require("assert");
  const cm = yaml.loadAll(fs.readFileSync(process.argv[1], "utf8")).find((d) => d && d.kind === "ConfigMap");
  assert.deepStrictEqual(yaml.load(cm.data["policies.yaml"]), yaml.load(fs.readFileSync(process.argv[2], "utf8")));' \
  "$work/default.yaml" "$src/config/policies.yaml"
check "the ConfigMap holds the same policies as config/policies.yaml" $?

# A policy change changes the checksum annotation, which rolls the pods.
render changed --set policies.sync_interval_seconds=5
before=$(js 'find("Deployment").spec.template.metadata.annotations["checksum/policies"]' "$work/default.yaml")
after=$(js 'find("Deployment").spec.template.metadata.annotations["checksum/policies"]' "$work/changed.yaml")
[ ${#before} -eq 64 ] && [ "$before" != "$after" ]
check "a policy change changes the pods' checksum/policies annotation" $?

# --- bundled Redis: the replicas switch to the Redis store ---
render_valid redis "bundled-Redis" --set redis.enabled=true --set replicaCount=3 \
  --set autoscaling.enabled=true
grep -q -- "--store redis://rel-fleetrate-redis:6379/0" <<<"$(server_args "$work/redis.yaml")"
check "redis.enabled=true runs the servers with --store redis://rel-fleetrate-redis:6379/0" $?
[ "$(js 'find("StatefulSet").spec.replicas + " " + find("Service", "rel-fleetrate-redis").spec.clusterIP' "$work/redis.yaml")" = "1 None" ]
check "a one-pod Redis StatefulSet behind a headless Service" $?
[ "$(js 'find("StatefulSet").spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem' "$work/redis.yaml")" = true ]
check "Redis runs with a read-only root filesystem" $?
[ "$(js 'find("NetworkPolicy").spec.ingress[0].from[0].podSelector.matchLabels["app.kubernetes.io/component"]' "$work/redis.yaml")" = server ]
check "only the fleetrate pods may reach the bundled Redis" $?
[ "$(js 'const h = find("HorizontalPodAutoscaler"); h.spec.scaleTargetRef.name + " " + h.spec.minReplicas' "$work/redis.yaml")" = "rel-fleetrate 2" ]
check "autoscaling renders an HPA on the Deployment" $?
[ "$(js 'find("Deployment").spec.replicas === undefined' "$work/redis.yaml")" = true ]
check "with autoscaling the Deployment leaves replicas to the HPA" $?

# --- a Redis password: through a Secret and FLEETRATE_STORE, never in the arguments ---
render_valid redis-auth "Redis-with-password" --set redis.enabled=true --set replicaCount=2 \
  --set redis.auth.password=s3cret
! grep -q s3cret "$work/redis-auth.yaml"
check "the password appears nowhere in clear text" $?
! grep -q -- "--store" <<<"$(server_args "$work/redis-auth.yaml")"
check "with a password the store URL is not an argument" $?
[ "$(js 'find("Deployment").spec.template.spec.containers[0].env.find((e) => e.name === "FLEETRATE_STORE").value' \
  "$work/redis-auth.yaml")" = 'redis://:$(FLEETRATE_REDIS_PASSWORD)@rel-fleetrate-redis:6379/0' ]
check "FLEETRATE_STORE carries redis://:\$(FLEETRATE_REDIS_PASSWORD)@host:port/db" $?
grep -q -- '--requirepass $(REDIS_PASSWORD)' \
  <<<"$(js 'find("StatefulSet").spec.template.spec.containers[0].args.join(" ")' "$work/redis-auth.yaml")"
check "the bundled Redis requires the password" $?

# --- an external Redis ---
render_valid external "external-Redis" --set redis.external.address=redis.shared.svc:6380 \
  --set redis.db=2 --set replicaCount=2
grep -q -- "--store redis://redis.shared.svc:6380/2" <<<"$(server_args "$work/external.yaml")"
check "redis.external.address runs the servers with --store redis://redis.shared.svc:6380/2" $?
[ "$(js 'docs.filter((d) => d.kind === "StatefulSet" || d.kind === "NetworkPolicy").length' "$work/external.yaml")" = 0 ]
check "an external Redis bundles no Redis" $?

# --- monitoring: ServiceMonitor (a CRD, validated with the prometheus-operator models) and the
# Grafana dashboard ConfigMap ---
render_valid monitoring "monitoring" --set serviceMonitor.enabled=true \
  --set grafanaDashboard.enabled=true
[ "$(js 'const e = find("ServiceMonitor").spec.endpoints[0]; e.port + e.path' "$work/monitoring.yaml")" = http/metrics ]
check "the ServiceMonitor scrapes http /metrics" $?
NODE_PATH=$tools node -e '
  const yaml = require("js-yaml"), fs = require("fs"), assert = require("assert");
  const cm = yaml.loadAll(fs.readFileSync(process.argv[1], "utf8")).find((d) => d && d.metadata.name === "rel-fleetrate-dashboard");
  assert.strictEqual(cm.metadata.labels.grafana_dashboard, "1");
  assert.deepStrictEqual(JSON.parse(cm.data["fleetrate.json"]), JSON.parse(fs.readFileSync(process.argv[2], "utf8")));' \
  "$work/monitoring.yaml" "$chart/dashboards/fleetrate.json"
check "the dashboard ConfigMap holds dashboards/fleetrate.json with the sidecar label" $?

# --- TLS: the Secret mounted, the flags passed, probes the kubelet can run, HTTPS scraping ---
# probes FILE: "liveness handler / readiness handler / periods", e.g. "grpc:8081 / httpGet:http/readyz / 10,5".
probes() {
  js 'const c = find("Deployment").spec.template.spec.containers[0];
    const handler = (p) => Object.keys(p).filter((k) => ["grpc", "tcpSocket", "httpGet", "exec"].includes(k))
      .map((k) => k + ":" + p[k].port + (p[k].path || "") + (p[k].scheme ? " " + p[k].scheme : "")).join("+");
    [handler(c.livenessProbe), handler(c.readinessProbe), c.livenessProbe.periodSeconds + "," + c.readinessProbe.periodSeconds].join(" / ")' "$1"
}
render_valid tls "TLS" --set tls.enabled=true --set tls.secretName=fr-tls \
  --set serviceMonitor.enabled=true --set serviceMonitor.tlsConfig.ca.secret.name=fr-tls \
  --set serviceMonitor.tlsConfig.ca.secret.key=ca.crt
grep -q -- "--tls-cert /etc/fleetrate-tls/tls.crt --tls-key /etc/fleetrate-tls/tls.key" \
  <<<"$(server_args "$work/tls.yaml")" && ! grep -q -- "--tls-client-ca" <<<"$(server_args "$work/tls.yaml")"
check "tls.enabled passes --tls-cert and --tls-key from the mounted Secret, no client CA" $?
[ "$(js 'const s = find("Deployment").spec.template.spec; const m = s.containers[0].volumeMounts.find((v) => v.name === "tls"); s.volumes.find((v) => v.name === "tls").secret.secretName + " " + m.mountPath + " " + m.readOnly' "$work/tls.yaml")" = \
  "fr-tls /etc/fleetrate-tls true" ]
check "the TLS Secret is mounted read-only at /etc/fleetrate-tls" $?
[ "$(probes "$work/tls.yaml")" = "httpGet:http/healthz HTTPS / httpGet:http/readyz HTTPS / 10,5" ]
check "with TLS liveness is HTTPS /healthz (it sees the gRPC self-probe) and readiness HTTPS /readyz, timings kept" $?
[ "$(js 'const e = find("ServiceMonitor").spec.endpoints[0]; e.scheme + " " + e.tlsConfig.ca.secret.name' "$work/tls.yaml")" = "https fr-tls" ]
check "with TLS the ServiceMonitor scrapes over HTTPS with the given tlsConfig" $?
render_valid mtls "mutual-TLS" --set tls.enabled=true --set tls.secretName=fr-tls \
  --set tls.clientCaSecret=fr-ca
grep -q -- "--tls-client-ca /etc/fleetrate-client-ca/ca.crt" <<<"$(server_args "$work/mtls.yaml")"
check "tls.clientCaSecret passes --tls-client-ca from the mounted CA Secret" $?
[ "$(probes "$work/mtls.yaml")" = "tcpSocket:grpc / tcpSocket:http / 10,5" ]
check "under mutual TLS readiness is a TCP check of http" $?
[ "$(probes "$work/default.yaml")" = "grpc:8081 / httpGet:http/readyz / 10,5" ]
check "without TLS the probes are the values' own" $?
"$helm" install fr "$chart" -n tracing --dry-run=client --set tls.enabled=true \
  --set tls.secretName=fr-tls >"$work/notes-tls.txt" 2>&1
grep -q "TLS on both ports with Secret fr-tls" "$work/notes-tls.txt" &&
  grep -q "https://fr-fleetrate.tracing.svc:5778" "$work/notes-tls.txt"
check "NOTES say TLS and give the HTTPS address" $?

# --- NOTES.txt: what `helm install` prints, for the memory and the Redis store ---
"$helm" install fr "$chart" -n tracing --dry-run=client >"$work/notes-memory.txt" 2>&1
grep -q "Store: memory (one replica)" "$work/notes-memory.txt" &&
  grep -q "fr-fleetrate.tracing.svc:8081" "$work/notes-memory.txt"
check "NOTES name the memory store and the gRPC address" $?
"$helm" install fr "$chart" -n tracing --dry-run=client --set redis.external.address=r.db:6379 \
  --set replicaCount=2 >"$work/notes-redis.txt" 2>&1
grep -q "Store: Redis at r.db:6379" "$work/notes-redis.txt"
check "NOTES name the Redis store" $?

# --- settings that cannot work are refused with the reason ---
! render bad-replicas --set replicaCount=2 && grep -q "need Redis" "$work/bad-replicas.err"
check "replicaCount 2 on the memory store is refused" $?
! render bad-both --set redis.enabled=true --set redis.external.address=r:6379 &&
  grep -q "not both" "$work/bad-both.err"
check "bundled and external Redis together are refused" $?
! render bad-tls --set tls.enabled=true && grep -q "tls.enabled needs tls.secretName" "$work/bad-tls.err"
check "tls.enabled without a Secret is refused" $?
! render bad-mtls --set tls.clientCaSecret=fr-ca && grep -q "needs tls.enabled" "$work/bad-mtls.err"
check "a client CA without TLS is refused" $?
! render bad-schema --set logLevel=loud && grep -q "logLevel" "$work/bad-schema.err"
check "values.schema.json rejects a bad logLevel" $?
! render bad-key --set replicas=2 && grep -q "'replicas' not allowed" "$work/bad-key.err"
check "values.schema.json rejects an unknown value name" $?

# --- the validator fails on invalid manifests (so the checks above can fail) ---
sed 's/readinessProbe:/readinesProbe:/' "$work/default.yaml" >"$work/typo.yaml"
! validate "$work/typo.yaml" && grep -q 'unknown field "readinesProbe"' "$work/validate.log"
check "the validator rejects a misspelled field" $?
sed 's/^  replicas: 1$/  replicas: one/' "$work/default.yaml" >"$work/type.yaml"
! validate "$work/type.yaml" && grep -q "replicas must be integer" "$work/validate.log"
check "the validator rejects a wrongly typed field" $?
sed 's/containerPort: 8081/containerPort: [8081]/' "$work/default.yaml" >"$work/port.yaml"
! validate "$work/port.yaml"
check "the validator rejects a list where a port goes" $?
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n' >"$work/crd.yaml"
! validate "$work/crd.yaml" && validate "$work/default.yaml" "$work/crd.yaml" --allow-kind example.com/v1/Widget
check "an unknown CRD fails unless allowed explicitly" $?

# --- the chart README documents every value ---
NODE_PATH=$tools node -e '
  const yaml = require("js-yaml"), fs = require("fs");
  const values = yaml.load(fs.readFileSync(process.argv[1], "utf8"));
  const readme = fs.readFileSync(process.argv[2], "utf8");
  // A README row marked "verbatim" documents a value handed to Kubernetes as it is; its keys
  // need no rows of their own.
  const verbatim = readme.split("\n").filter((l) => /verbatim/.test(l))
    .map((l) => (l.match(/^\| `([^`]+)`/) || [])[1]).filter(Boolean);
  const missing = [];
  const walk = (node, path) => {
    for (const [k, v] of Object.entries(node)) {
      const p = path ? `${path}.${k}` : k;
      if (!readme.includes("`" + p + "`")) missing.push(p);
      if (v && typeof v === "object" && !Array.isArray(v) && !verbatim.includes(p)) walk(v, p);
    }
  };
  walk(values, "");
  if (missing.length) { console.log("not in helm/fleetrate/README.md: " + missing.join(", ")); process.exit(1); }' \
  "$chart/values.yaml" "$chart/README.md"
check "helm/fleetrate/README.md lists every value in values.yaml" $?

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
