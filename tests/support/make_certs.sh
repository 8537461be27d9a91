#!/usr/bin/env bash
# make_certs.sh DIR: a throwaway CA and certificates for the TLS tests, made with openssl:
#   ca.pem/ca.key          the CA that signs the rest
#   server.pem/server.key  for 127.0.0.1 and localhost
#   client.pem/client.key  a client certificate (mutual TLS)
#   other-ca.pem, rogue.pem/rogue.key  a second CA and a client certificate it signed
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
quiet() { "$@" >/dev/null 2>&1 || { echo "openssl failed: $*" >&2; exit 1; }; }
ca() {  # ca NAME
  quiet openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fleetrate test $1" \
    -keyout "$1.key" -out "$1.pem"
}
leaf() {  # leaf NAME CA EXTENSIONS
  quiet openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr"
  printf '%s\n' "$3" >"$1.ext"
  quiet openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem"
}
ca ca
ca other-ca
leaf server ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca "extendedKeyUsage=clientAuth"
leaf rogue other-ca "extendedKeyUsage=clientAuth"
