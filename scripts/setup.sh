#!/usr/bin/env bash
# Creates .venv (when missing) and installs the requirements; re-installs only when they change.
# Usage: bash scripts/setup.sh [dev]     ("dev" adds the test requirements)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=requirements.txt
[ "${1:-}" = "dev" ] && requirements=requirements-dev.txt
python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin=$candidate; break; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python_bin --version 2>&1)"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.installed-$(cat requirements.txt "$requirements" | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing $requirements"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  touch "$stamp"
fi
