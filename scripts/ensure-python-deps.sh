#!/usr/bin/env bash
# Makes sure the Python implementation (interop/python) can run: Debian's python3 with
# python3-cryptography, python3-openssl (pyOpenSSL: the TLS exporter) and python3-protobuf, and
# protoc (protobuf-compiler) for `npm run generate:python`, and curl for the interop tests. Idempotent: returns at once when all
# are there. Needs root to install; prints why and exits 1 when it cannot.
set -euo pipefail
PACKAGES=(python3 python3-cryptography python3-openssl python3-protobuf protobuf-compiler curl)
present() {
  /usr/bin/python3 -c 'import cryptography, OpenSSL, google.protobuf' 2>/dev/null && command -v protoc >/dev/null 2>&1 && command -v curl >/dev/null 2>&1
}
if present; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-python-deps: missing packages and not root: run as root: apt-get install ${PACKAGES[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
present
