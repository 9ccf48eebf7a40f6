#!/usr/bin/env bash
# Set up Lambdabox with its test dependencies and run the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k aliases.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
