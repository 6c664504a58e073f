#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium, for the status page's browser test
# (test/status-page.browser.test.ts drives it with playwright-core; playwright downloads
# nothing). fonts-dejavu-core gives the screenshot readable text. Fast when already installed.
# Needs root to install, else prints why and exits 1. CI runs it and fails without it; on a
# machine without Chromium the browser test skips and says why.
set -euo pipefail
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi dejavu; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-chromium: /usr/bin/chromium is missing and we are not root: cannot install chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fontconfig >/dev/null
/usr/bin/chromium --version
