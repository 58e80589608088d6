#!/usr/bin/env sh
# Build the HTML documentation into docs/_build/html, treating every Sphinx
# warning as an error. Installs nothing: needs the "docs" extra
# (pip install ".[docs]") and an importable fastnl, installed or built in
# place and put on PYTHONPATH. Extra arguments go to sphinx-build (-E: rebuild
# every page). Exits non-zero if the build fails.
set -eu
# Run from docs/ so that `python -m` does not put the repository root, and
# with it the uncompiled source tree of fastnl, first on sys.path.
cd "$(dirname "$0")"
exec "${PYTHON:-python}" -m sphinx -W --keep-going -b html . _build/html "$@"
