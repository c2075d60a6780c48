"""Pose-prior training clips (``unveil.training.fit.prior_clips``): the original recipe's clips for
``mix="bandai"``, the broad mix adds the CMU subset and mirrors, and no evaluation clip gets in."""

from __future__ import annotations

import numpy as np
import pytest

from unveil.data import corpus as C
from unveil.training.fit import PRIOR_BROAD_MIX, prior_clips


def test_bandai_mix_is_the_original_recipe(mocap_dir):
    got = prior_clips("train", 6, "bandai", seed=0)
    assert [c.name for c in got] == [c.name for c in C.load_split("train", max_clips=6, seed=0)]


def test_broad_mix_adds_cmu_and_mirrors_never_eval(mocap_dir):
    try:
        got = prior_clips("val", 3, PRIOR_BROAD_MIX, seed=0)
    except C.UnveilError as e:  # pragma: no cover - the CMU archive is not in this ../shared
        pytest.skip(f"CMU subset unavailable: {e}")
    names = [c.name for c in got]
    assert len(names) % 2 == 0 and all(b == a + "@mirror" for a, b in zip(names[::2], names[1::2]))
    assert sum(n.startswith("cmu-cc-") for n in names[::2]) >= 1           # the CMU subset's val clips
    assert sum(not n.startswith("cmu-cc-") for n in names[::2]) == 3        # 3 Bandai val clips
    ev = C.eval_clip_names()
    assert not [n for n in names if C.is_eval_clip(n, ev)]
    a, b = got[0], got[1]                                                  # a mirror reflects x
    assert np.allclose(np.asarray(b.joints)[:, 0, 0], -np.asarray(a.joints)[:, 0, 0], atol=1e-6)
