"""Pose augmentation (issue 12, seventh session): synth2d.vary_pose and its use in training_windows;
the lift stage's frame-rate handling (motion.stage.frame_step / phase_lift)."""

import numpy as np
import pytest

from unveil.data import synth2d as S
from unveil.errors import UnveilError
from unveil.skeleton import SMPL24_PARENTS


def _lengths(j):
    return np.stack([np.linalg.norm(j[:, k] - j[:, SMPL24_PARENTS[k]], axis=-1) for k in range(1, 24)], 1)


def test_vary_pose_keeps_bone_lengths_and_moves_the_limbs():
    clip = S.standin_clip(60, seed=2)
    j0, f0 = np.asarray(clip.joints, np.float64), np.asarray(clip.face, np.float64)
    j, f = S.vary_pose(j0, f0, np.random.default_rng(0), p_group=1.0)
    assert j.shape == (60, 24, 3) and f.shape == (60, 5, 3)
    np.testing.assert_allclose(_lengths(j), _lengths(j0), atol=1e-9)          # a rigid re-pose
    # the pelvis and hips do not turn (only a common vertical shift)
    d = j[:, :3] - j0[:, :3]
    np.testing.assert_allclose(d[..., [0, 2]], 0.0, atol=1e-12)
    np.testing.assert_allclose(d[..., 1], d[:1, :1, 1].repeat(60, 0).repeat(3, 1), atol=1e-12)
    # every group moved: knees, wrists, the head by more than a few cm somewhere in the window
    for k in (4, 5, 20, 21, 15):
        assert np.linalg.norm(j[:, k] - j0[:, k] - d[:, :1, :][:, 0], axis=-1).max() > 0.03
    # the face rides on the head (the upper body turned rigidly): distances to the head are kept
    np.testing.assert_allclose(np.linalg.norm(f - j[:, 15:16], axis=-1),
                               np.linalg.norm(f0 - j0[:, 15:16], axis=-1), atol=1e-9)
    # the lowest ankle keeps its height
    assert j[:, [7, 8], 1].min() == pytest.approx(j0[:, [7, 8], 1].min(), abs=1e-9)
    # the angle changes smoothly: the per-frame change of a wrist stays small next to its total motion
    step = np.linalg.norm(np.diff(j[:, 20] - j0[:, 20], axis=0), axis=-1)
    assert step.max() < 0.05


def test_vary_pose_probability_zero_is_identity_and_bad_shapes_fail():
    clip = S.standin_clip(20, seed=1)
    j, f = S.vary_pose(clip.joints, clip.face, np.random.default_rng(3), p_group=0.0)
    np.testing.assert_allclose(j, clip.joints, atol=1e-7)
    np.testing.assert_allclose(f, clip.face, atol=1e-7)
    with pytest.raises(ValueError):
        S.vary_pose(np.zeros((20, 17, 3)), clip.face, np.random.default_rng(0))
    with pytest.raises(ValueError):
        S.vary_pose(clip.joints, np.zeros((19, 5, 3)), np.random.default_rng(0))


def test_training_windows_with_poses():
    clips = [S.standin_clip(120, seed=3)]
    a = S.training_windows("train", window=32, n=6, seed=1, clips=clips)
    a0 = S.training_windows("train", window=32, n=6, seed=1, clips=clips, poses=0.0)
    b = S.training_windows("train", window=32, n=6, seed=1, clips=clips, poses=1.0)
    b2 = S.training_windows("train", window=32, n=6, seed=1, clips=clips, poses=1.0)
    np.testing.assert_array_equal(a["keypoints2d"], a0["keypoints2d"])       # poses=0: the old windows
    np.testing.assert_array_equal(b["joints_rel"], b2["joints_rel"])         # deterministic
    assert a["name"] == b["name"]                                            # same clips and starts ...
    assert np.abs(a["joints_rel"] - b["joints_rel"]).max() > 0.05            # ... other poses
    with pytest.raises(UnveilError):
        S.training_windows("train", window=32, n=2, clips=clips, poses=-0.1)


def test_frame_step():
    from unveil.motion.stage import frame_step
    assert frame_step(60.0, 30.0) == 2
    assert frame_step(59.94, 30.0) == 2
    assert frame_step(30.0, 30.0) == 1
    assert frame_step(25.0, 30.0) == 1
    assert frame_step(120.0, 30.0) == 4
    assert frame_step(None, 30.0) == 1 and frame_step(60.0, None) == 1 and frame_step(0.0, 30.0) == 1


def test_phase_lift_lifts_each_phase_alone_and_interleaves():
    from unveil.motion.stage import phase_lift
    calls = []

    def lift(k):      # a "lifter" that records its input length and writes the frame's first x
        calls.append(len(k))
        out = np.zeros((len(k), 24, 3), np.float32)
        out[:, 0, 0] = k[:, 0, 0]
        out[:, 1, 0] = np.arange(len(k))      # position inside the call
        return out

    kp = np.zeros((11, 17, 3), np.float32)
    kp[:, 0, 0] = np.arange(11)
    out = phase_lift(lift, kp, 2)
    assert calls == [6, 5]
    np.testing.assert_array_equal(out[:, 0, 0], np.arange(11))               # frame order restored
    np.testing.assert_array_equal(out[:, 1, 0], np.arange(11) // 2)          # each call saw every 2nd frame
    calls.clear()
    out1 = phase_lift(lift, kp, 1)
    assert calls == [11] and np.array_equal(out1[:, 1, 0], np.arange(11))
    calls.clear()
    phase_lift(lift, kp[:3], 2)                                              # too short to split: one call
    assert calls == [3]
    with pytest.raises(ValueError):
        phase_lift(lift, kp, 0)
    with pytest.raises(ValueError):
        phase_lift(lift, np.zeros((5, 33, 3), np.float32), 2)


def test_blazepose_placement_moves_only_shoulders_and_hips_in_the_torso_frame():
    clip = S.standin_clip(30, seed=4)
    kw = S.coco17_3d(clip)
    k = S.blazepose_placement(kw, clip.joints)
    d = k - kw
    others = [i for i in range(17) if i not in S.PLACEMENT_OFFSETS]
    np.testing.assert_allclose(d[:, others], 0.0, atol=1e-12)
    for i, o in S.PLACEMENT_OFFSETS.items():     # the offsets' length is kept, whatever the torso's turn
        np.testing.assert_allclose(np.linalg.norm(d[:, i], axis=-1), np.linalg.norm(o), atol=1e-9)
    # the stand-in walks upright facing +Z: shoulders move up (+Y) and forward (+Z), hips forward
    assert (d[:, 5, 1] > 0.04).all() and (d[:, 5, 2] > 0.02).all() and (d[:, 11, 2] > 0.03).all()
    # a body turned 90 degrees about the vertical moves its keypoints along the turned axes
    Rz = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])        # +Z (forward) -> +X
    k2 = S.blazepose_placement(kw @ Rz.T, np.asarray(clip.joints, np.float64) @ Rz.T)
    np.testing.assert_allclose(k2 - kw @ Rz.T, d @ Rz.T, atol=1e-6)
    with pytest.raises(ValueError):
        S.blazepose_placement(kw[:, :12], clip.joints)


def test_training_windows_with_placement_keep_the_targets():
    clips = [S.standin_clip(120, seed=3)]
    a = S.training_windows("train", window=32, n=4, seed=1, clips=clips)
    b = S.training_windows("train", window=32, n=4, seed=1, clips=clips, placement=1.0)
    assert a["name"] == b["name"]
    np.testing.assert_array_equal(a["joints_rel"], b["joints_rel"])         # the 3D targets stay the joints
    assert not np.array_equal(a["keypoints2d"], b["keypoints2d"])           # ... the 2D inputs move
    with pytest.raises(UnveilError):
        S.training_windows("train", window=32, n=2, clips=clips, placement=2.0)


def _ray_lifter(bias=(0.0, 0.0, 0.0)):
    """A rotation-equivariant stand-in lifter: every COCO-17 point put 3 m along its own ray (the
    SMPL-24 joint = the mean of the points it maps to), root-relative, plus a constant camera-frame bias."""
    from unveil.motion.predict import SMPL24_FROM_COCO17
    from unveil.types import Camera
    cam = Camera(focal=1200.0, cx=540.0, cy=960.0, width=1080, height=1920)

    def lift(kp):
        kp = np.asarray(kp, np.float64)
        ray = np.stack([(kp[..., 0] - cam.cx) / cam.focal, (kp[..., 1] - cam.cy) / cam.focal, np.ones(kp.shape[:2])], -1)
        xyz = 3.0 * ray / np.linalg.norm(ray, axis=-1, keepdims=True)
        out = np.stack([xyz[:, list(src or (11, 12))].mean(1) for src in SMPL24_FROM_COCO17], 1)
        out = out - out[:, :1]
        out[:, 1:] += np.asarray(bias)
        return out.astype(np.float32)

    return lift, cam


def test_view_average_keeps_an_equivariant_lifter_and_shrinks_a_fixed_bias():
    from unveil.motion.stage import view_average
    rng = np.random.default_rng(0)
    kp = np.zeros((6, 17, 3), np.float32)
    kp[..., :2] = np.array([540, 960]) + rng.normal(0, 200, size=(6, 17, 2))
    kp[..., 2] = 0.9
    lift, cam = _ray_lifter()
    views = (("z", 10.0), ("z", -10.0), ("x", 8.0))
    np.testing.assert_allclose(view_average(lift, kp, cam, views), lift(kp), atol=1e-5)
    # a bias along the camera's x: the roll views turn it, so the mean keeps (1 + 2 cos 10deg + 1) / 4 of it
    biased, _ = _ray_lifter((0.1, 0.0, 0.0))
    out = view_average(biased, kp, cam, views)
    want_x = 0.1 * (1 + 2 * np.cos(np.deg2rad(10.0)) + 1) / 4
    np.testing.assert_allclose((out - lift(kp))[:, 1:, 0], want_x, atol=1e-5)
    assert view_average(lift, kp, cam, ()).shape == (6, 24, 3)
    with pytest.raises(ValueError):
        view_average(lift, kp, cam, (("w", 5.0),))
    with pytest.raises(ValueError):
        view_average(lift, np.zeros((6, 33, 3), np.float32), cam, views)
