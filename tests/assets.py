"""Setup-built assets for tests: the Anny body model and the BlazePose detector models.

A test that needs one calls :func:`need_anny` / :func:`need_detector` (or uses the ``require_*``
fixtures of conftest.py). A genuinely absent asset skips with the reason, except where
``UNVEIL_REQUIRE_ASSETS=1`` (``scripts/test.sh`` sets it after running setup, so on CI an absent
asset is a failure). An asset that is present but does not load is always a failure: the error
propagates.
"""

from __future__ import annotations

import os

import pytest


def absent(reason: str):
    """Skip (a user's machine without setup) or fail (CI, where setup built everything)."""
    if os.environ.get("UNVEIL_REQUIRE_ASSETS") == "1":
        pytest.fail(f"{reason}; UNVEIL_REQUIRE_ASSETS=1 (setup ran), so this is a failure", pytrace=False)
    pytest.skip(reason)


def need_anny_file() -> None:
    """Skip/fail when the Anny-SMPL file (``unveil models build``) is absent."""
    from unveil.body.anny_smpl import anny_smpl_path

    if not anny_smpl_path().exists():
        absent(f"Anny-SMPL body model {anny_smpl_path()} not built (run `unveil models build`)")


def need_anny_cache() -> None:
    """Skip/fail when the native Anny cache (``unveil models build``) is absent."""
    from unveil import paths

    if not list(paths.anny_cache_dir().glob("**/build_compact_model_data_*.safetensors")):
        absent("Anny cache not built (run `unveil models build`)")


def need_anny():
    """The "anny" body model; skip/fail when its file is absent, any load error fails the test."""
    need_anny_file()
    from unveil.body import load_body_model

    return load_body_model("anny")


def need_detector() -> None:
    """Skip/fail when the BlazePose models (``unveil models fetch``) are absent or damaged."""
    from unveil.detect.assets import MODELS, model_status

    bad = {n: s for n in MODELS if (s := model_status(n)) != "ok"}
    if bad:
        absent(f"detector models not fetched ({bad}; run `unveil models fetch`)")
