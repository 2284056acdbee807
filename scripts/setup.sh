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
# -qq: the package declarations are warning-free (a wheel build prints nothing); what remains is
# setuptools' generic notice for editable installs through its import finder, which the
# envs/agents package-dir mapping needs (DESIGN.md, Layout). Errors still print and fail the script.
.venv/bin/python -m pip install -qq -e ".[test]"
