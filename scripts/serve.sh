#!/usr/bin/env bash
# Set up Lambdabox and start it on its embedded defaults (127.0.0.1:9000, data in ~/.lambdabox).
# Extra arguments go to `lambdabox server`, e.g. scripts/serve.sh --port 9100.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/lambdabox server "$@"
