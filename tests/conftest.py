"""Shared fixtures. Tests that need the developers' ../shared folder use ``shared_dir`` and skip
with a clear reason where UNVEIL_SHARED is unset (a user's machine). Tests that need setup-built
assets (body model, detector models) use ``require_anny`` / ``require_detector`` (tests/assets.py:
absent -> skip, or fail under UNVEIL_REQUIRE_ASSETS=1 as on CI; present but broken -> fail)."""

from __future__ import annotations

import os

import pytest

from assets import need_anny, need_detector

os.environ.setdefault("UNVEIL_THREADS", "2")


@pytest.fixture(scope="session")
def shared_dir():
    from unveil.paths import shared_dir as _shared

    d = _shared()
    if d is None:
        pytest.skip("needs the developers' shared data: set UNVEIL_SHARED=path/to/shared (.ci/run does)")
    return d


@pytest.fixture(scope="session")
def mocap_dir(shared_dir):
    p = shared_dir / "data" / "mocap"
    if not p.is_dir():
        pytest.skip(f"no mocap data under {p}")
    return p


@pytest.fixture(scope="session")
def require_anny():
    """The "anny" body model (see tests/assets.py)."""
    return need_anny()


@pytest.fixture(scope="session")
def require_detector():
    """The BlazePose detector models are present (see tests/assets.py)."""
    need_detector()
