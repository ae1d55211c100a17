#!/usr/bin/env bash
# Installs the AWS API emulator (moto server) into .venv when missing. Idempotent.
set -euo pipefail
MOTO_VERSION="5.2.5"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.moto-$MOTO_VERSION"
if [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ]; then exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "countersign tests need Python 3.9+ (python3) to run the AWS emulator moto; install python3 and python3-venv, then run npm test again." >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "python3 -m venv failed: install the venv module (Debian: apt-get install python3-venv), then run npm test again." >&2
    exit 1
  }
fi
echo "installing moto[server]==$MOTO_VERSION into .venv (first run only)..." >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" || {
  echo "pip could not install moto[server]==$MOTO_VERSION from PyPI into .venv; check access to PyPI, then run npm test again." >&2
  exit 1
}
touch "$stamp"
