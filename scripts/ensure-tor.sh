#!/usr/bin/env bash
# Makes sure the real Tor daemon that `npm run bench:compare` measures against is present:
# Debian's tor package (tor and tor-gencert in /usr/bin or /usr/sbin). Idempotent: returns at
# once when both are there. Needs root to install; prints why and exits 1 when it cannot. The
# benchmark only ever runs it in a private test network on loopback; should apt start Debian's
# system tor service (a container's policy-rc.d usually forbids it), stop it yourself:
# systemctl disable --now tor.
set -euo pipefail
present() {
  PATH="$PATH:/usr/sbin:/sbin" command -v tor >/dev/null 2>&1 && PATH="$PATH:/usr/sbin:/sbin" command -v tor-gencert >/dev/null 2>&1
}
if present; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-tor: tor is missing and we are not root: run as root: apt-get install tor" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends tor >/dev/null
present
