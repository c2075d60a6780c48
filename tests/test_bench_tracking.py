"""`unveil bench tracking` scoring (motmetrics) on hand-made tracks: no rendering, no model files."""

from __future__ import annotations

import numpy as np
import pytest

from unveil.bench import tracking
from unveil.types import Track2D

pytest.importorskip("motmetrics")


def _track(tid, frames, centre_fn):
    frames = np.asarray(frames)
    kp = np.zeros((len(frames), 33, 3), np.float32)
    for j, f in enumerate(frames):
        kp[j, :, :2] = centre_fn(f) + np.stack([np.linspace(-20, 20, 33), np.linspace(-50, 50, 33)], 1)
    kp[..., 2] = 0.9
    return Track2D(id=tid, frames=frames, keypoints=kp, layout="blazepose33", extras={"held": np.ones(len(frames), bool)})


def _truth(fns, T):
    b = np.full((len(fns), T, 4), np.nan, np.float32)
    for k, fn in enumerate(fns):
        for f in range(T):
            c = fn(f)
            b[k, f] = [c[0] - 20, c[1] - 50, c[0] + 20, c[1] + 50]
    return b


def test_score_counts_switches_and_misses():
    a = lambda f: np.array([50.0 + 3 * f, 100.0])   # noqa: E731
    b = lambda f: np.array([350.0 - 3 * f, 100.0])  # noqa: E731
    truth = _truth([a, b], 100)
    perfect = tracking.score([_track(0, range(100), a), _track(1, range(100), b)], truth, range(100))
    assert perfect["idf1"] == pytest.approx(1.0) and perfect["num_switches"] == 0 and perfect["mota"] == pytest.approx(1.0)
    # the tracks swap people at frame 60 (after the crossing) and B is missed for 10 frames
    swap = [_track(0, range(100), lambda f: a(f) if f < 60 else b(f)),
            _track(1, [f for f in range(100) if not 20 <= f < 30], lambda f: b(f) if f < 60 else a(f))]
    s = tracking.score(swap, truth, range(100))
    assert s["num_switches"] == 2 and s["num_misses"] == 10
    assert s["person_frames"] == 200 and s["switches_per_1000"] == pytest.approx(10.0)
    assert s["idf1"] < 0.7


def test_place_turns_and_moves_a_walk():
    T = 10
    walk = np.zeros((T, 24, 3))
    walk[:, :, 0] = np.arange(T)[:, None] * 0.1          # walks along +x
    back = tracking._place(walk, 180, 0.9)
    assert back[-1, 0, 0] < back[0, 0, 0]                 # turned round
    np.testing.assert_allclose(np.abs(back[:, 0, 2] - walk[:, 0, 2]), 0.9, atol=1e-6)  # moved 0.9 m aside
