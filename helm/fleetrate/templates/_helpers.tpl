{{/* Names and labels. */}}
{{- define "fleetrate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fleetrate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fleetrate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fleetrate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fleetrate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "fleetrate.labels" -}}
helm.sh/chart: {{ include "fleetrate.chart" . }}
{{ include "fleetrate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fleetrate.redis.fullname" -}}
{{- printf "%s-redis" (include "fleetrate.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fleetrate.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fleetrate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "fleetrate.redis.labels" -}}
helm.sh/chart: {{ include "fleetrate.chart" . }}
{{ include "fleetrate.redis.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fleetrate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fleetrate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fleetrate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "fleetrate.policiesConfigMap" -}}
{{- default (include "fleetrate.fullname" .) .Values.existingPoliciesConfigMap -}}
{{- end -}}

{{/* Redis: "true" when the servers use a Redis store, bundled or external. */}}
{{- define "fleetrate.redis.used" -}}
{{- if or .Values.redis.enabled .Values.redis.external.address -}}true{{- end -}}
{{- end -}}

{{- define "fleetrate.redis.address" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s:%d" (include "fleetrate.redis.fullname" .) (int .Values.redis.port) -}}
{{- else -}}
{{- .Values.redis.external.address -}}
{{- end -}}
{{- end -}}

{{- define "fleetrate.redis.authEnabled" -}}
{{- if or .Values.redis.auth.password .Values.redis.auth.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "fleetrate.redis.secretName" -}}
{{- default (include "fleetrate.redis.fullname" .) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "fleetrate.adminTokenSecret" -}}
{{- default (printf "%s-admin" (include "fleetrate.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{/* The probes: the values' own, except that with TLS the kubelet (which presents no client
certificate and speaks no TLS to gRPC probes) checks the gRPC port over TCP and /readyz over
HTTPS, or the HTTP port over TCP under mutual TLS. */}}
{{- define "fleetrate.livenessProbe" -}}
{{- $probe := deepCopy .Values.livenessProbe -}}
{{- if and .Values.tls.enabled (hasKey $probe "grpc") -}}
{{- if .Values.tls.clientCaSecret -}}
{{- $probe = merge (dict "tcpSocket" (dict "port" "grpc")) (omit $probe "grpc") -}}
{{- else -}}
{{- /* HTTPS /healthz: it fails when the server's self-probe finds the gRPC port not serving,
       which a TCP check of the port (the kernel completes the handshake) would not see. */ -}}
{{- $probe = merge (dict "httpGet" (dict "path" "/healthz" "port" "http" "scheme" "HTTPS")) (omit $probe "grpc") -}}
{{- end -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}

{{- define "fleetrate.readinessProbe" -}}
{{- $probe := deepCopy .Values.readinessProbe -}}
{{- if and .Values.tls.enabled (hasKey $probe "httpGet") -}}
{{- if .Values.tls.clientCaSecret -}}
{{- $probe = merge (dict "tcpSocket" (dict "port" "http")) (omit $probe "httpGet") -}}
{{- else -}}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" -}}
{{- end -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}

{{/* Settings that cannot work together fail the render with the reason. */}}
{{- define "fleetrate.validate" -}}
{{- if and .Values.redis.enabled .Values.redis.external.address -}}
{{- fail "redis: set either redis.enabled (a bundled Redis) or redis.external.address (an existing one), not both" -}}
{{- end -}}
{{- if and (not (include "fleetrate.redis.used" .)) (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) -}}
{{- fail "replicaCount > 1 and autoscaling need Redis (redis.enabled=true or redis.external.address): with the memory store each replica would compute rates from only its share of the fleet" -}}
{{- end -}}
{{- if and .Values.adminToken.value .Values.adminToken.existingSecret -}}
{{- fail "adminToken: set either adminToken.value or adminToken.existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.enabled needs tls.secretName: a kubernetes.io/tls Secret with tls.crt and tls.key" -}}
{{- end -}}
{{- if and .Values.tls.clientCaSecret (not .Values.tls.enabled) -}}
{{- fail "tls.clientCaSecret (mutual TLS) needs tls.enabled and tls.secretName" -}}
{{- end -}}
{{- if and .Values.redis.auth.password .Values.redis.auth.existingSecret -}}
{{- fail "redis.auth: set either redis.auth.password or redis.auth.existingSecret, not both" -}}
{{- end -}}
{{- end -}}
