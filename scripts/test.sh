#!/usr/bin/env bash
# Set up, then run the test suite (arguments are passed to pytest).
# pytest exits 5 when it collects no test; with `set -e` that fails the run, as it should.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest tests "$@"
