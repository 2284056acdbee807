#!/usr/bin/env bash
# Set up, then run the main job: `metacompose run` on M3 (arguments are passed through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/metacompose run "$@"
