"""Imperceptible frame changes (unveil.bench.perturb) and `unveil bench multiview --perturb`."""

from __future__ import annotations

import numpy as np
import pytest

from unveil.bench import multiview as mv
from unveil.bench.perturb import KINDS, perturb, perturbed_front_end
from unveil.detect import people
from unveil.errors import UnveilError


def test_each_kind_changes_a_frame_by_at_most_one_level_or_pixel():
    img = np.random.default_rng(0).integers(0, 256, (6, 8, 3)).astype(np.uint8)
    img[0, 0] = 255
    img[0, 1] = 0
    assert perturb(img, "none", 3) is img
    up, down = perturb(img, "brighter", 0), perturb(img, "darker", 0)
    assert up[0, 0, 0] == 255 and down[0, 1, 0] == 0                  # clipped, no wrap-around
    assert np.abs(up.astype(int) - img).max() == 1 and np.abs(down.astype(int) - img).max() == 1
    right, low = perturb(img, "right", 0), perturb(img, "down", 0)
    assert np.array_equal(right[:, 1:], img[:, :-1]) and np.array_equal(right[:, 0], img[:, 0])
    assert np.array_equal(low[1:], img[:-1]) and np.array_equal(low[0], img[0])
    n1, n2 = perturb(img, "noise", 5), perturb(img, "noise", 5)
    assert np.array_equal(n1, n2) and not np.array_equal(n1, perturb(img, "noise", 6))   # seeded by the index
    assert np.abs(n1.astype(int) - img).max() == 1
    assert all(perturb(img, k, 1).dtype == np.uint8 and perturb(img, k, 1).shape == img.shape for k in KINDS)
    with pytest.raises(UnveilError, match="unknown perturbation"):
        perturb(img, "sideways", 0)


def test_the_front_end_sees_changed_frames_only_inside_the_block(monkeypatch):
    frame = np.full((4, 4, 3), 10, np.uint8)
    monkeypatch.setattr(people, "iter_frames", lambda *a, **k: iter([(0, frame)]))
    real = people.iter_frames
    with perturbed_front_end("brighter"):
        (_, got), = list(people.iter_frames("x"))
        assert got[0, 0, 0] == 11
    assert people.iter_frames is real
    with pytest.raises(RuntimeError), perturbed_front_end("darker"):
        raise RuntimeError("a failing run")
    assert people.iter_frames is real                                      # restored after an error too
    with pytest.raises(UnveilError):
        with perturbed_front_end("sideways"):
            pass


def test_multiview_perturb_needs_a_run(tmp_path):
    with pytest.raises(UnveilError, match="--perturb"):
        mv.main(["--media", str(tmp_path), "-o", str(tmp_path / "o"), "--no-run", "--perturb", "brighter"])
