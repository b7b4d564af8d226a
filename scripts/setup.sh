#!/usr/bin/env bash
# Creates .venv (when missing) and installs the requirements; re-installs only when they change.
# Usage: bash scripts/setup.sh [dev]     ("dev" adds the test requirements)
# Python 3.11, 3.12 or 3.13 (TensorFlow 2.21 has wheels for each): PYTHON=python3.13 bash scripts/setup.sh
# picks the interpreter; a .venv made with another Python version is made anew.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=requirements.txt
[ "${1:-}" = "dev" ] && requirements=requirements-dev.txt
python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3.13 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" --version >/dev/null 2>&1; then
      python_bin=$candidate; break
    fi
  done
fi
version=$("$python_bin" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$version" in
  3.11|3.12|3.13) ;;
  *) echo "setup: error: $python_bin is Python $version; TensorFlow 2.21 needs 3.11, 3.12 or 3.13" >&2; exit 1 ;;
esac
if [ -x .venv/bin/python ] && [ -n "${PYTHON:-}" ] && \
   [ "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$version" ]; then
  echo "setup: .venv has another Python version; making it anew with Python $version"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python_bin" --version 2>&1)"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.installed-$(cat requirements.txt "$requirements" | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing $requirements"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  touch "$stamp"
fi
