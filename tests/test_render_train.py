"""training.render_lift: pair packing, window sampler (+ mirror), fine-tune smoke run; the
blazepose-world bench row and joint-subset scoring (no rendering: stand-in sequences)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from unveil.bench import accuracy
from unveil.data import synth2d, synthvideo
from unveil.errors import UnveilError
from unveil.training import render_lift as rt
from unveil.skeleton import COCO17_FLIP, COCO17_TO_SMPL24, SMPL24_FLIP
from unveil.types import Camera

CAM = Camera(focal=800.0, cx=480.0, cy=270.0, width=960, height=540)
BODY = [k for k, j in enumerate(COCO17_TO_SMPL24) if j >= 0]


def _seq(T, seed, name="clip", kind="none"):
    """A stand-in RenderSequence: random camera-frame joints 4 m away, keypoints = projections."""
    rng = np.random.default_rng(seed)
    jc = (rng.normal(0, 0.3, (T, 24, 3)) + np.array([0.2, 0.0, 4.0])).astype(np.float32)
    kp = np.zeros((T, 17, 3), np.float32)
    for k in BODY:
        p = jc[:, COCO17_TO_SMPL24[k]]
        kp[:, k, 0] = CAM.focal * p[:, 0] / p[:, 2] + CAM.cx
        kp[:, k, 1] = CAM.focal * p[:, 1] / p[:, 2] + CAM.cy
    kp[..., 2] = 0.9
    occ = rng.random((T, 17)) < 0.2
    return synthvideo.RenderSequence(name, kind, kp, occ, CAM, np.eye(3, dtype=np.float32),
                                     np.zeros(3, np.float32), jc, jc.copy(), 30.0, kp[..., :2].copy(),
                                     {"detected_frames": T})


def test_kinds_rotate_through_every_scene_kind():
    seen = {k for i in range(7) for k in rt.kinds_for_clip(i)}
    assert seen == set(rt.ALL_KINDS)
    assert len(set(rt.kinds_for_clip(0))) == rt.KINDS_PER_CLIP


def test_pack_and_window_sampler_shapes_and_mirror():
    pairs = rt.pack([_seq(40, 0), _seq(20, 1), _seq(50, 2)])
    assert pairs["offsets"].tolist() == [0, 40, 60, 110]
    s = rt.RenderWindowSampler(pairs, window=32, seed=0)
    assert s.seqs == [0, 2]                                    # the 20-frame sequence is too short
    b = s.sample(16)
    assert b["keypoints2d"].shape == (16, 32, 17, 3) and b["joints_cam"].shape == (16, 32, 24, 3)
    # mirrored or not, the 2D keypoints stay the projections of their (relabelled) 3D joints
    for i in range(16):
        for k in BODY:
            p = b["joints_cam"][i, :, COCO17_TO_SMPL24[k]]
            u = b["focal"][i] * p[:, 0] / p[:, 2] + b["principal_point"][i, 0]
            np.testing.assert_allclose(b["keypoints2d"][i, :, k, 0], u, atol=1e-2)
    # each window is a packed window as is, or its mirror (x -> -x, left/right relabelled, 2D flipped
    # about the principal point); with 16 draws at p = 0.5 both occur
    W = 32
    starts = [a for si in s.seqs for a in range(pairs["offsets"][si], pairs["offsets"][si + 1] - W + 1)]
    flip24, flip17 = list(SMPL24_FLIP), list(COCO17_FLIP)
    kinds = []
    for i in range(16):
        jc, kp = b["joints_cam"][i], b["keypoints2d"][i]
        plain = [a for a in starts if np.array_equal(pairs["joints_cam"][a:a + W], jc)]
        mirrored = [a for a in starts
                    if np.allclose(pairs["joints_cam"][a:a + W][:, flip24] * [-1, 1, 1], jc, atol=1e-6)]
        assert len(plain) + len(mirrored) == 1, (i, plain, mirrored)
        if mirrored:
            a = mirrored[0]
            ref = pairs["keypoints2d"][a:a + W][:, flip17]
            np.testing.assert_allclose(kp[..., 0], 2 * b["principal_point"][i, 0] - ref[..., 0], atol=1e-3)
            np.testing.assert_array_equal(b["occluded"][i], pairs["occluded"][a:a + W][:, flip17])
        else:
            np.testing.assert_array_equal(kp, pairs["keypoints2d"][plain[0]:plain[0] + W])
        kinds.append(bool(mirrored))
    assert 0 < sum(kinds) < 16, kinds  # fails with mirror=False (checked)
    fixed = s.all_windows(stride=8)
    assert len(fixed["focal"]) == 2 + 3                       # starts 0,8 (40 f) and 0,8,16 (50 f)
    np.testing.assert_array_equal(fixed["keypoints2d"][0], pairs["keypoints2d"][:32])


def test_build_pairs_refuses_the_evaluation_split():
    with pytest.raises(UnveilError):
        rt.build_pairs("eval", 1)


def test_blazepose_world_row_and_inputs():
    T = 12
    seq = _seq(T, 3)
    with pytest.raises(UnveilError):
        synthvideo.blazepose_world_row(synth2d.inputs_of(seq))  # no world landmarks: synthetic input
    wl = np.random.default_rng(0).normal(0, 0.3, (T, 33, 3)).astype(np.float32)
    wl[0] = np.nan                                              # missed first frame
    wl[5] = np.nan                                              # missed middle frame
    seq.world_landmarks = wl
    inp = synth2d.inputs_of(seq)
    assert inp.world_landmarks is not None and inp.world_landmarks is not seq.world_landmarks
    out = synthvideo.blazepose_world_row(inp)
    j = out["joints"]
    assert j.shape == (T, 24, 3) and np.isfinite(j).all()
    np.testing.assert_allclose(j[5], j[4])                     # held from the last detection
    np.testing.assert_allclose(j[0], j[1])                     # before the first: the first one
    np.testing.assert_allclose(j[:, 0], 0, atol=1e-6)          # pelvis-relative
    assert tuple(out["score_joints"]) == synthvideo.LIMB_JOINTS


def test_scoring_on_a_joint_subset_ignores_other_joints():
    seq = _seq(10, 4)
    gt = seq.joints_cam - seq.joints_cam[:, :1]
    pred = gt.copy()
    pred[:, [3, 6, 9, 12, 15]] += 0.5                           # wrong torso/head: not limb joints
    full = accuracy.score_sequence(seq, {"joints": pred})
    limbs = accuracy.score_sequence(seq, {"joints": pred, "score_joints": synthvideo.LIMB_JOINTS})
    assert full["mpjpe"][0] > 50
    assert limbs["mpjpe"][0] < 1e-3 and limbs["pa_mpjpe"][0] < 1e-3
    pred[:, 1, 0] += 0.1                                        # a limb joint off by 100 mm
    limbs = accuracy.score_sequence(seq, {"joints": pred, "score_joints": synthvideo.LIMB_JOINTS})
    assert abs(limbs["mpjpe"][0] - 100 / 12) < 0.5


def test_finetune_smoke(tmp_path, monkeypatch):
    """Four steps on stand-in pairs (no rendering, no mocap): writes a loadable lifter that differs
    from the one it started from, and reports before/after numbers."""
    from unveil.motion import lift
    from unveil.training import windows
    from unveil.paths import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "mopo_lift_lstm.pt").is_file():
        pytest.skip("shipped LSTM lifter weights missing")
    torch.set_num_threads(1)
    pairs = rt.pack([_seq(40, 5), _seq(36, 6)])
    monkeypatch.setattr(rt, "build_pairs", lambda *a, **k: pairs)

    class FakeSynth:
        def __init__(self, *a, seed=0, **k):
            self.s = rt.RenderWindowSampler(pairs, window=k.get("window", 32), seed=seed)

        def sample(self, n):
            return self.s.sample(n)

    monkeypatch.setattr(windows, "WindowSampler", FakeSynth)
    out = tmp_path / "lift.pt"
    res = rt.finetune(steps=4, batch=4, out=out, log=lambda *a: None)
    assert np.isfinite(res["after"]["val_render_mm"]) and np.isfinite(res["before"]["val_synth_mm"])
    new, old = lift.load("lstm", path=out), lift.load("lstm")
    diff = sum(float((a - b).abs().sum()) for a, b in zip(new.state_dict().values(), old.state_dict().values()))
    assert diff > 0


def test_mocap_truth_places_the_clip_skeleton_on_the_body_pelvis():
    rng = np.random.default_rng(7)
    clip = rng.normal(0, 0.3, (5, 24, 3))
    body = clip * 1.1 + np.array([1.0, 0.2, -2.0])            # a body 10% larger, elsewhere
    body[:, 15] += 0.05                                        # a different head convention
    R = np.array([[0.0, 0, 1], [0, -1, 0], [1, 0, 0]])
    t = np.array([0.1, 0.2, 5.0])
    jw, jc = synthvideo.mocap_truth(clip, body, R, t)
    np.testing.assert_allclose(jw[:, 0], body[:, 0], atol=1e-5)               # on the body's pelvis
    np.testing.assert_allclose(jw - jw[:, :1], (clip - clip[:, :1]) * 1.1, atol=1e-4)  # clip skeleton
    np.testing.assert_allclose(jc, jw @ R.T + t, atol=1e-4)
