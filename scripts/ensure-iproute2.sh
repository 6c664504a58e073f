#!/usr/bin/env bash
# Makes sure the `ip` command (Debian package iproute2) is present, for the multi-host tests in
# test/netns/ that put every node in its own Linux network namespace. Needs root to install;
# prints why and exits 1 when it cannot (the tests then skip with that message).
set -euo pipefail
if command -v ip >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-iproute2: 'ip' is missing and we are not root: cannot install iproute2" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq iproute2 >/dev/null
command -v ip >/dev/null
