#!/usr/bin/env bash
# Set up Lambdabox and run the benchmark suite; arguments go to bench/run.py (e.g. --smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec .venv/bin/python bench/run.py "$@"
