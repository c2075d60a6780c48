#!/usr/bin/env bash
# The test command (README and .ci/run): set up if needed, then run the whole test suite.
# Tests that need the developers' ../shared data read UNVEIL_SHARED and skip with a reason without it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# setup just ran: a missing body model or detector model is a failure, not a skip (tests/assets.py)
export UNVEIL_REQUIRE_ASSETS=1
# the runtime/offline layering (.importlinter): the runtime must not import benchmark/training/data code.
# PYTHONPATH: check this checkout's src/ even where the venv's editable install points elsewhere.
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/lint-imports --no-cache
# with the developers' shared data, build the mocap cache once up front (a few minutes at most)
if [ -n "${UNVEIL_SHARED:-}" ] && [ -d "${UNVEIL_SHARED}/data/mocap" ]; then .venv/bin/unveil data build; fi
if [ "${UNVEIL_COVERAGE:-0}" = 1 ]; then  # the suite under coverage.py (pyproject [tool.coverage.*])
  rm -f .coverage .coverage.*
  .venv/bin/python -m coverage run -m pytest -q "$@"
  .venv/bin/python -m coverage combine -q
  .venv/bin/python -m coverage report --include='*/unveil/pipeline.py,*/unveil/fit/stage.py,*/unveil/demo.py'
else
  .venv/bin/python -m pytest -q "$@"
fi
