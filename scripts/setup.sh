#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install metacompose with its test extras.
# torch is pinned to 2.13.0: on the project's machines that is a CPU wheel already on disk;
# any other version would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
