"""The environment record written beside benchmark numbers (unveil.bench.environment)."""

from __future__ import annotations

import numpy as np

from unveil import __version__
from unveil.bench.environment import PACKAGES, describe, environment


def test_environment_names_the_versions_and_threads():
    env = environment(3)
    assert env["unveil"] == __version__ and env["threads"] == 3 and env["cpu_count"] >= 1
    assert set(env["packages"]) == set(PACKAGES)
    assert env["packages"]["numpy"] == np.__version__
    line = describe(env)
    assert f"numpy {np.__version__}" in line and "3 thread(s)" in line


def test_environment_marks_a_missing_package(monkeypatch):
    import unveil.bench.environment as be

    monkeypatch.setattr(be, "PACKAGES", ("numpy", "no-such-distribution-xyz"))
    env = be.environment(1)
    assert env["packages"]["no-such-distribution-xyz"] is None
    assert "no-such-distribution-xyz" not in be.describe(env)
