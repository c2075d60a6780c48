#!/usr/bin/env bash
# The test command (README and .ci/run): set up if needed, then run the whole test suite.
# Tests that need the developers' ../shared data read UNVEIL_SHARED and skip with a reason without it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# setup just ran: a missing body model or detector model is a failure, not a skip (tests/assets.py)
export UNVEIL_REQUIRE_ASSETS=1
# with the developers' shared data, build the mocap cache once up front (a few minutes at most)
if [ -n "${UNVEIL_SHARED:-}" ] && [ -d "${UNVEIL_SHARED}/data/mocap" ]; then .venv/bin/unveil data build; fi
.venv/bin/python -m pytest -q "$@"
