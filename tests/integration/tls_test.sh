#!/usr/bin/env bash
# TLS on the gRPC and HTTP ports, with certificates made here by openssl (tests/support/make_certs.sh):
# a TLS server answers fleetratectl that trusts its CA and refuses a plaintext one; with
# --tls-client-ca it also refuses clients without a certificate, or with one from another CA;
# bad TLS flags fail at start naming the flag.
# Usage: tls_test.sh SERVER_BINARY FLEETRATECTL_BINARY SOURCE_DIR
set -uo pipefail
bin=$1
ctl=$2
src=$3
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source "$src/tests/support/test_lib.sh"
finish() { finish_showing "$work/server.log"; }
command -v openssl >/dev/null || { echo "FAIL: openssl is not installed (scripts/lib.sh installs it)"; exit 1; }
"$src/tests/support/make_certs.sh" "$work/certs"
check "openssl makes a CA and certificates" $?
c=$work/certs
policy=$src/config/policies.yaml

# Server-side TLS.
start_server "$work/server.log" "$bin" --config "$policy" --tls-cert "$c/server.pem" --tls-key "$c/server.key"
check "the server starts with --tls-cert/--tls-key" $?
server_pid=$SERVER_PID
grep -q " tls=on" "$work/server.log"
check "its listen line says tls=on" $?
# make_certs.sh's certificates are valid for 2 days.
grep -q "warning --tls-cert: '$c/server.pem' expires on 20[0-9-]* [0-9:]* UTC, in less than 14 days" "$work/server.log"
check "a certificate that expires within 14 days warns at start, naming the date" $?
addr=127.0.0.1:$GRPC_PORT
"$ctl" --server "$addr" --tls-ca "$c/ca.pem" status >"$work/out" 2>&1
check "fleetratectl trusting the CA gets status over TLS" $?
grep -q "version" "$work/out"
check "status shows the version" $?
"$ctl" --server "$addr" --timeout-ms 2000 status >"$work/out" 2>&1
[ $? -eq 1 ]
check "a plaintext client is refused (exit 1)" $?
"$ctl" --server "$addr" --timeout-ms 2000 --tls-ca "$c/other-ca.pem" status >"$work/out" 2>&1
[ $? -eq 1 ]
check "a client trusting another CA is refused (exit 1)" $?
"$ctl" --server "$addr" --tls-ca "$work/missing.pem" status >"$work/out" 2>&1
[ $? -eq 2 ] && grep -q "tls.ca_file" "$work/out"
check "a missing CA file is a usage error naming tls.ca_file" $?
[ "$(curl -s --max-time 5 --cacert "$c/ca.pem" "https://127.0.0.1:$HTTP_PORT/healthz")" = ok ]
check "the HTTP port serves HTTPS with the same certificate (/healthz)" $?
# grep -c reads to the end: grep -q would stop early, curl would get SIGPIPE, pipefail fail.
curl -s --max-time 5 --cacert "$c/ca.pem" "https://127.0.0.1:$HTTP_PORT/metrics" | grep -c '^fleetrate_build_info' >/dev/null
check "/metrics over HTTPS" $?
! curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null
check "plain HTTP to the TLS port gets no answer" $?
# Failed handshakes: gRPC's line for each goes through fleetrate's log, at most 6 a minute.
for _ in $(seq 1 10); do "$ctl" --server "$addr" --timeout-ms 300 status >/dev/null 2>&1; done
handshake_lines=$(grep -c " warning grpc: Handshake failed" "$work/server.log")
[ "$handshake_lines" -ge 1 ] && [ "$handshake_lines" -le 6 ]
check "failed handshakes are logged as fleetrate warnings, at most 6 a minute (got $handshake_lines)" $?
handshake_metric() {
  curl -s --max-time 5 --cacert "$c/ca.pem" "https://127.0.0.1:$HTTP_PORT/metrics" \
    | grep -qE '^fleetrate_tls_handshake_failures_total ([1-9][0-9]*)$'
}
until_ok 5 handshake_metric
check "fleetrate_tls_handshake_failures_total counts them all" $?
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=""

# Mutual TLS.
start_server "$work/server.log" "$bin" --config "$policy" --tls-cert "$c/server.pem" --tls-key "$c/server.key" \
  --tls-client-ca "$c/ca.pem"
check "the server starts with --tls-client-ca" $?
server_pid=$SERVER_PID
grep -q " tls=mutual" "$work/server.log"
check "its listen line says tls=mutual" $?
addr=127.0.0.1:$GRPC_PORT
"$ctl" --server "$addr" --timeout-ms 2000 --tls-ca "$c/ca.pem" status >"$work/out" 2>&1
[ $? -eq 1 ]
check "mTLS: a client without a certificate is refused" $?
"$ctl" --server "$addr" --timeout-ms 2000 --tls-ca "$c/ca.pem" --tls-cert "$c/rogue.pem" --tls-key "$c/rogue.key" status >"$work/out" 2>&1
[ $? -eq 1 ]
check "mTLS: a certificate from another CA is refused" $?
"$ctl" --server "$addr" --tls-ca "$c/ca.pem" --tls-cert "$c/client.pem" --tls-key "$c/client.key" status >"$work/out" 2>&1
check "mTLS: the CA's client certificate is accepted" $?
! curl -s --max-time 5 --cacert "$c/ca.pem" "https://127.0.0.1:$HTTP_PORT/healthz" >/dev/null
check "mTLS HTTPS: no client certificate, no answer" $?
[ "$(curl -s --max-time 5 --cacert "$c/ca.pem" --cert "$c/client.pem" --key "$c/client.key" "https://127.0.0.1:$HTTP_PORT/healthz")" = ok ]
check "mTLS HTTPS: the CA's client certificate gets /healthz" $?
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=""

# Bad flags fail at start, naming the flag.
"$bin" --config "$policy" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --tls-cert "$c/server.pem" >"$work/bad" 2>&1
[ $? -ne 0 ] && grep -q -- "--tls-key" "$work/bad"
check "--tls-cert without --tls-key fails naming --tls-key" $?
"$bin" --config "$policy" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --tls-cert "$c/server.csr" --tls-key "$c/server.key" >"$work/bad" 2>&1
[ $? -ne 0 ] && grep -q -- "--tls-cert: '$c/server.csr' holds no PEM certificate OpenSSL can read" "$work/bad"
check "a certificate gRPC cannot load fails at start, saying so" $?
# timeout: a server that wrongly starts (in plaintext) would otherwise run on.
timeout 10 "$bin" --config "$policy" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --tls-key "$c/server.key" >"$work/bad" 2>&1
[ $? -eq 2 ] && grep -q -- "--tls-key: needs --tls-cert" "$work/bad"
check "--tls-key without --tls-cert fails instead of serving plaintext" $?
timeout 10 "$bin" --config "$policy" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --tls-cert "$c/server.pem" --tls-key "$c/client.key" >"$work/bad" 2>&1
[ $? -eq 1 ] && grep -q -- "--tls-key: '$c/client.key' does not match the certificate in --tls-cert '$c/server.pem'" "$work/bad" \
  && ! grep -q "address in use" "$work/bad"
check "a key that is not the certificate's fails saying so, not 'address in use'" $?
"$bin" --config "$policy" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --tls-cert "$work/none.pem" --tls-key "$c/server.key" >"$work/bad" 2>&1
[ $? -ne 0 ] && grep -q -- "--tls-cert: '$work/none.pem' cannot be read" "$work/bad"
check "an unreadable certificate fails naming --tls-cert and the file" $?
finish
