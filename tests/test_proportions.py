"""Proportion augmentation (issue 12, "new bodies"): synth2d.vary_proportions and the Anny ratio table."""

import numpy as np
import pytest

from unveil.data import synth2d as S
from unveil.errors import UnveilError
from unveil.skeleton import SMPL24_PARENTS
from unveil.training.proportions import HEIGHT_CHAIN, bone_lengths


def _bones(j):
    return np.stack([j[:, k] - j[:, SMPL24_PARENTS[k]] for k in range(1, 24)], 1)


def test_vary_proportions_keeps_angles_changes_lengths():
    clip = S.standin_clip(60, seed=2)
    r = np.ones(24)
    r[4] = r[5] = 1.2    # thighs
    r[18] = r[19] = 0.8  # upper arms
    r[9] = 1.1           # spine
    j, f = S.vary_proportions(clip.joints, clip.face, r)
    assert j.shape == (60, 24, 3) and f.shape == (60, 5, 3)
    b0, b1 = _bones(np.asarray(clip.joints, np.float64)), _bones(j)
    n0, n1 = np.linalg.norm(b0, axis=-1), np.linalg.norm(b1, axis=-1)
    # every bone keeps its direction in every frame: the joint angles are unchanged
    np.testing.assert_allclose(b1 / n1[..., None], b0 / n0[..., None], atol=1e-6)
    # ... and its length is scaled by its ratio
    np.testing.assert_allclose(n1 / n0, np.broadcast_to(r[1:], n0.shape), rtol=1e-5)
    # the lowest ankle stays on the floor; the face rides on the head
    assert j[:, [7, 8], 1].min() == pytest.approx(float(np.asarray(clip.joints)[:, [7, 8], 1].min()), abs=1e-6)
    np.testing.assert_allclose(f - j[:, 15:16], np.asarray(clip.face) - np.asarray(clip.joints)[:, 15:16], atol=1e-5)
    # the legs got longer: the pelvis rises relative to the original
    assert (j[:, 0, 1] - np.asarray(clip.joints)[:, 0, 1]).mean() > 0.05


def test_vary_proportions_bad_input():
    clip = S.standin_clip(10)
    with pytest.raises(ValueError):
        S.vary_proportions(np.zeros((10, 17, 3)), clip.face, np.ones(24))
    with pytest.raises(ValueError):
        S.vary_proportions(clip.joints, np.zeros((9, 5, 3)), np.ones(24))
    with pytest.raises(ValueError):
        S.vary_proportions(clip.joints, clip.face, np.ones(23))
    bad = np.ones(24)
    bad[3] = 0.0
    with pytest.raises(ValueError):
        S.vary_proportions(clip.joints, clip.face, bad)


def test_ratio_table_varies_proportions_not_height():
    r = S.bone_ratios()
    assert r.ndim == 2 and r.shape[1] == 24 and len(r) >= 256
    # rows keep the height chain's total (rest lengths of the default Anny body as weights)
    from unveil.body.anny import AnnyBody  # deferred: loads the Anny model

    import torch

    with torch.no_grad():
        L0 = bone_lengths(AnnyBody().rest_joints(torch.tensor([[0.5, 2 / 3, 0.5, 0.5, 0.5, 0.5]])).numpy())[0]
    hc = list(HEIGHT_CHAIN)
    np.testing.assert_allclose((r[:, hc] * L0[hc]).sum(1) / L0[hc].sum(), 1.0, atol=1e-4)
    # ... and the proportions do vary: thigh ratio spread (measured 5-95 %: 0.72-1.15), left = right
    assert np.quantile(r[:, 4], 0.95) - np.quantile(r[:, 4], 0.05) > 0.2
    np.testing.assert_allclose(r[:, 4], r[:, 5], rtol=1e-3)


def test_training_windows_with_proportions():
    clips = [S.standin_clip(120, seed=3)]
    a = S.training_windows("train", window=32, n=6, seed=1, clips=clips)
    b = S.training_windows("train", window=32, n=6, seed=1, clips=clips, proportions=1.0)
    b2 = S.training_windows("train", window=32, n=6, seed=1, clips=clips, proportions=1.0)
    np.testing.assert_array_equal(b["joints_rel"], b2["joints_rel"])          # deterministic
    la = np.linalg.norm(a["joints_rel"][..., 4, :] - a["joints_rel"][..., 1, :], axis=-1)
    lb = np.linalg.norm(b["joints_rel"][..., 4, :] - b["joints_rel"][..., 1, :], axis=-1)
    assert not np.allclose(np.median(la), np.median(lb), atol=1e-3)          # other thighs
    with pytest.raises(UnveilError):
        S.training_windows("train", window=32, n=2, clips=clips, proportions=1.5)
