#!/usr/bin/env bash
# Installs the Python package edgeplan from this folder (pip install ./python: maturin, fetched
# by pip, builds the extension with cargo) and runs its pytest suite against the CLI. Installs
# pytest and pandas when missing. With CARGO_TARGET_DIR set, the build reuses the compiled
# dependencies there (HiGHS included); the CLI the tests compare with is
# $CARGO_TARGET_DIR/release/edgeplan (or $EDGEPLAN_BIN), built when missing.
# Usage: python/run-tests.sh [pytest arguments]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-python3}"
# A Debian python3 marks its site-packages externally managed (PEP 668); CI installs there.
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1
pip() { "$python" -m pip "$@"; }
if ! "$python" -c "import pytest, pandas" >/dev/null 2>&1; then
  echo "installing: pytest pandas" >&2
  pip install -q pytest pandas
fi
echo "installing: the edgeplan package (pip install ./python)" >&2
pip install -q "$here"
cd "$root"
exec "$python" -m pytest -q "$here/tests" "$@"
