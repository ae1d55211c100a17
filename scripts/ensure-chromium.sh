#!/usr/bin/env bash
# The audit HTML report test renders in headless Chromium (Debian's package). Installs it when
# missing and we are root with apt-get; otherwise says what to install.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian chromium for the HTML report test (first run only)..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || {
    echo "apt-get could not install chromium; install it (apt-get install chromium), then run npm test again." >&2
    exit 1
  }
  exit 0
fi
echo "the HTML report test needs Chromium at /usr/bin/chromium: install it (Debian: sudo apt-get install chromium), then run npm test again." >&2
exit 1
