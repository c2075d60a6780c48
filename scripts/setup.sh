#!/usr/bin/env bash
# Set up unveil on a fresh machine: a virtual environment in .venv, torch (CPU, pinned) first,
# the package, the 2D detector models (from the PyPI mediapipe wheel) and the body-model cache.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
if ! python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  pip install -q --upgrade pip
  pip install -q torch==2.13.0          # exact pin first: a range would pull GBs of CUDA wheels
fi
if ! python -c "import unveil, roma, anny, av, cv2, pygltflib, ai_edge_litert, pytest, coverage, ray, motmetrics, importlinter, websockets" 2>/dev/null; then
  pip install -q -e ".[fit,dev]"
fi
unveil models fetch
unveil models build
scripts/fetch_viewer_assets.sh
