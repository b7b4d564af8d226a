#!/usr/bin/env bash
# Quick start 2: set everything up and run the whole test suite (slow end-to-end tests included).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
exec .venv/bin/python -m pytest -q "$@"
