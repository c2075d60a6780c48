"""Metrics against hand-computed cases (inputs metres, outputs mm)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unveil import metrics as M


def _rand(T=5, J=24, seed=0):
    return np.random.default_rng(seed).normal(size=(T, J, 3))


def _rot_y(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def test_mpjpe_hand_case():
    gt = np.zeros((1, 3, 3))
    pred = np.zeros((1, 3, 3))
    pred[0, 1] = [0.003, 0.004, 0]        # 5 mm
    pred[0, 2] = [0, 0, 0.010]            # 10 mm
    assert M.mpjpe(pred, gt) == pytest.approx(5.0)          # (0 + 5 + 10) / 3
    # a global offset vanishes after root alignment, not without it
    assert M.mpjpe(pred + 1.0, gt) == pytest.approx(5.0)
    assert M.mpjpe(pred + [0.1, 0, 0], gt, root=None) > 90
    # masks select (frame, joint) pairs
    mask = np.array([[False, False, True]])
    assert M.mpjpe(pred, gt, mask) == pytest.approx(10.0)
    assert math.isnan(M.mpjpe(pred, gt, np.zeros((1, 3), bool)))


def test_vis_occ_split_and_coco_mask():
    gt = np.zeros((2, 24, 3))
    pred = gt.copy()
    pred[:, 20] = [0.02, 0, 0]     # L_wrist off by 20 mm
    occ17 = np.zeros((2, 17), bool)
    occ17[:, 9] = True              # COCO l_wrist occluded
    occ24 = M.coco17_to_smpl24_mask(occ17)
    assert set(np.flatnonzero(occ24[0])) == {20, 22}   # L_wrist and L_hand
    r = M.mpjpe_vis_occ(pred, gt, occ17)
    assert r["mpjpe_vis"] == pytest.approx(0.0)
    assert r["mpjpe_occ"] == pytest.approx(10.0)        # (20 + 0) / 2
    assert r["mpjpe"] == pytest.approx(20.0 / 24)
    # head: occluded with >= 3 of 5 face points; pelvis with at least one hip (ties -> occluded)
    f = np.zeros((1, 17), bool)
    f[0, [0, 1]] = True
    assert not M.coco17_to_smpl24_mask(f)[0, 15]
    f[0, 2] = True
    assert M.coco17_to_smpl24_mask(f)[0, 15]
    f = np.zeros((1, 17), bool)
    f[0, 11] = True
    m = M.coco17_to_smpl24_mask(f)[0]
    assert m[0] and m[1] and not m[2] and not m[6]     # spine2 needs 2 of its 4


def test_pa_mpjpe_removes_similarity():
    gt = _rand(4, 24)
    R = _rot_y(37)
    pred = 1.7 * gt @ R.T + np.array([0.3, -2, 5])
    assert M.pa_mpjpe(pred, gt) < 1e-6
    assert M.mpjpe(pred, gt) > 100
    # reflections are not allowed: a mirrored skeleton keeps an error
    assert M.pa_mpjpe(gt * np.array([-1, 1, 1]), gt) > 10
    # hand case: two points, pred squashed to one point -> best scale 0 -> error = |g - mean|
    g = np.array([[[0.0, 0, 0], [0.2, 0, 0]]])
    p = np.zeros((1, 2, 3))
    assert M.pa_mpjpe(p, g) == pytest.approx(100.0)


def test_pve_roots():
    gv = np.zeros((2, 10, 3))
    pv = gv + [0, 0.005, 0]
    assert M.pve(pv, gv) == pytest.approx(5.0)
    assert M.pve(pv, gv, pred_root=np.full((2, 3), [0, 0.005, 0]), gt_root=np.zeros((2, 3))) == pytest.approx(0)


def test_accel_and_jitter_hand_case():
    T = 6
    gt = np.zeros((T, 2, 3))
    pred = np.zeros((T, 2, 3))
    pred[3, 1, 0] = 0.004          # a 4 mm spike on joint 1 at frame 3
    # second differences of the spike: +4 at t=2, -8 at t=3, +4 at t=4 over 4 windows x 2 joints
    assert M.accel_error(pred, gt) == pytest.approx((4 + 8 + 4) / 8)
    assert M.accel_error(pred, gt, fps=30) == pytest.approx(2.0 * 900)
    # a frame-validity mask drops the second differences touching an invalid frame:
    # frame 0 invalid -> the windows centred on frames 2, 3, 4 remain (4, 8, 4 mm on joint 1)
    valid = np.ones(T, bool)
    valid[0] = False
    assert M.accel_error(pred, gt, valid=valid) == pytest.approx((4 + 8 + 4) / 6)
    # constant velocity has no acceleration and no jitter
    lin = np.arange(T)[:, None, None] * np.array([0.01, 0.0, 0.0]) * np.ones((T, 2, 3))
    assert M.accel_error(lin, gt, align="none") == pytest.approx(0.0, abs=1e-9)
    assert M.jitter(lin) == pytest.approx(0.0, abs=1e-9)
    # third differences x[t+3] - 3x[t+2] + 3x[t+1] - x[t], t = 0..2: 4, -12, 12 mm on joint 1
    j3 = [4, 12, 12]
    assert M.jitter(pred) == pytest.approx(sum(j3) / 6)
    assert M.jitter(pred, fps=10) == pytest.approx(sum(j3) / 6 * 1000)


def test_foot_sliding_hand_case():
    T = 10
    gt = np.zeros((T, 24, 3))
    gt[:, :, 1] = 0.5
    feet = list(M.FOOT_JOINTS)
    gt[:, feet, 1] = 0.05                          # planted, still
    gt[5:, feet[0], 1] = 0.3                       # L_ankle lifted from frame 5
    c = M.foot_contact(gt)
    assert c[:5, 0].all() and not c[5:, 0].any() and c[:, 1:].all()
    pred = gt.copy()
    pred[:, feet[1]] += np.arange(T)[:, None] * np.array([0.002, 0, 0])   # R_ankle slides 2 mm/frame
    # contact pairs: L_ankle 4, others 9 each = 31 pairs; only R_ankle's 9 slide 2 mm
    assert M.foot_sliding(pred, gt) == pytest.approx(9 * 2.0 / 31)
    # a moving truth foot is not "in contact"
    gt2 = gt.copy()
    gt2[:, feet, 0] += np.arange(T)[:, None] * 0.05    # 1.5 m/s
    assert not M.foot_contact(gt2).any()
    assert math.isnan(M.foot_sliding(pred, gt2))


def test_gmpjpe_and_rte():
    T = 20
    gt = np.zeros((T, 24, 3)) + _rand(1, 24, 1) * 0.2
    gt[:, :, 0] += np.linspace(0, 2.0, T)[:, None]        # walks 2 m along x
    R, t = _rot_y(90), np.array([1.0, 2.0, 3.0])
    pred = gt @ R.T + t                                     # same motion in another frame
    assert M.gmpjpe(pred, gt) < 1e-6
    assert M.gmpjpe(pred, gt, align="all") < 1e-6
    assert M.rte(pred[:, 0], gt[:, 0]) < 1e-6
    # a drift of 0.1 m per metre travelled, starting after the alignment frames
    drift = np.zeros((T, 1, 3))
    drift[:, 0, 2] = np.linspace(0, 0.2, T)
    pred2 = gt + drift
    g = M.gmpjpe(pred2, gt, n_first=1)   # first frame has no drift -> alignment is identity
    assert g == pytest.approx(np.linspace(0, 0.2, T).mean() * 1000, rel=1e-6)
    # RTE: a constant 0.1 m offset is removed by the rigid alignment; pure scale error is not
    assert M.rte(gt[:, 0] + [0, 0, 0.1], gt[:, 0]) < 1e-6
    root = gt[:, 0]
    scaled = (root - root[0]) * 1.1 + root[0]
    # error after optimal rigid alignment of a 1.1x stretched straight path: |0.1 (x - mean)| mean
    x = np.linspace(0, 2.0, T)
    expect = np.abs(0.1 * (x - x.mean())).mean() / 2.0 * 100
    assert M.rte(scaled, root) == pytest.approx(expect, rel=1e-6)
    assert math.isnan(M.rte(np.zeros((5, 3)), np.zeros((5, 3))))


def test_evaluate_keys():
    gt = _rand(12, 24, 2) * 0.2
    gt_w = gt + [0, 1, 0]
    out = M.evaluate(gt, gt, occluded=np.zeros((12, 17), bool), pred_global=gt_w, gt_world=gt_w)
    for k in ("mpjpe", "mpjpe_vis", "pa_mpjpe", "accel", "gmpjpe", "rte", "foot_sliding"):
        assert k in out
    assert out["mpjpe"] == 0 and out["accel"] == 0 and out["gmpjpe"] < 1e-6
    assert math.isnan(out["mpjpe_occ"])
    out = M.evaluate(gt, gt, gt_world=gt_w)
    assert math.isnan(out["gmpjpe"])
