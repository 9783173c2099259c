#!/usr/bin/env bash
# Runs the whole test suite (estimator, tracking, notebooks with tiny parameters through papermill).
# Extra arguments go to pytest, e.g. ./run_tests.sh -m "not notebook".
set -euo pipefail
cd "$(dirname "$0")"
py=$(bash scripts/setup_env.sh | tail -n 1)
exec "$py" -m pytest "$@"
