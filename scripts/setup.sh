#!/usr/bin/env bash
# Prepare a virtual environment with Lambdabox installed. Safe to run again: it only
# installs what is missing or out of date. Usage: scripts/setup.sh [pip extras, e.g. test]
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
venv="${LAMBDABOX_VENV:-.venv}"

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null && python_ok "$candidate"; then python="$candidate"; break; fi
done
if [ -z "$python" ]; then
  echo "Lambdabox needs Python 3.11 or newer; none was found on PATH." >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    # Debian ships venv separately; install it when we may.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$venv"
      "$python" -m venv "$venv"
    else
      echo "Could not create a virtual environment: install python3-venv." >&2
      exit 1
    fi
  fi
fi

# Functions' egress network (--function-network egress, the default) needs nft; install it when we may.
if ! command -v nft >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null
fi

# The Logs API's tests run `aws logs tail`, which only the AWS CLI v2 has (PyPI's awscli, in the venv, is v1):
# Debian's awscli package is v2. Installed for the test extras, when we may.
if [ "$extras" = test ] && [ ! -x /usr/bin/aws ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null \
    || echo "Could not install Debian's awscli (the AWS CLI v2); the aws logs tail test needs it." >&2
fi

# The function-URL CORS test drives a real browser (Playwright, from the test extras) and needs Debian's chromium:
# Playwright's own browser builds are not used. Installed for the test extras, when we may.
if [ "$extras" = test ] && ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || echo "Could not install Debian's chromium; the function-URL browser test needs it." >&2
fi

# pip runs only when what pyproject.toml asks for changed since the last install with these extras
# (the install is editable: changed sources need none). The stamp names the file's hash.
target="."
[ -n "$extras" ] && target=".[$extras]"
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
stamp="$venv/.installed-${extras:-base}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
  echo "$wanted" > "$stamp"
  # Any extras include the base install.
  echo "$wanted" > "$venv/.installed-base"
fi

# The AWS SDK each Python runtime includes (boto3 and what it needs), from PyPI, for every
# Python runtime this host can run; skipped for those already installed at their pinned version.
"$venv/bin/python" -m lambdabox.runtime.sdk

# Each Node.js runtime's own Node (nodejsNN.x runs on Node NN) and the AWS SDK for JavaScript v3 it
# includes, from npm; skipped when installed at their pinned versions. Without npm or network they
# stay uninstalled, and CreateFunction refuses those runtimes.
"$venv/bin/python" -m lambdabox.runtime.nodes
