#!/usr/bin/env bash
# Installs the test tools from PyPI into .venv when missing. Idempotent (a stamp per pinned
# version): the AWS API emulator (moto server) and the schema-driven API fuzzer schemathesis
# (test/requester-schemathesis.test.ts runs it against a live requester).
set -euo pipefail
MOTO_VERSION="5.2.5"
SCHEMATHESIS_VERSION="4.32.5"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
moto_stamp="$venv/.moto-$MOTO_VERSION"
schemathesis_stamp="$venv/.schemathesis-$SCHEMATHESIS_VERSION"
if [ -x "$venv/bin/moto_server" ] && [ -f "$moto_stamp" ] &&
  [ -x "$venv/bin/schemathesis" ] && [ -f "$schemathesis_stamp" ]; then
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "countersign tests need Python 3.9+ (python3) to run the AWS emulator moto and the API fuzzer schemathesis; install python3 and python3-venv, then run npm test again." >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "python3 -m venv failed: install the venv module (Debian: apt-get install python3-venv), then run npm test again." >&2
    exit 1
  }
fi

# pip_install <requirement> <stamp> <what it is for>
pip_install() {
  echo "installing $1 into .venv ($3; first run only)..." >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$1" || {
    echo "pip could not install $1 from PyPI into .venv (is PyPI reachable from here? check your network or proxy, PIP_INDEX_URL), then run npm test again." >&2
    exit 1
  }
  touch "$2"
}

if [ ! -x "$venv/bin/moto_server" ] || [ ! -f "$moto_stamp" ]; then
  pip_install "moto[server]==$MOTO_VERSION" "$moto_stamp" "the AWS emulator"
fi
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -f "$schemathesis_stamp" ]; then
  pip_install "schemathesis==$SCHEMATHESIS_VERSION" "$schemathesis_stamp" "the OpenAPI fuzzer"
fi
