"""The lift stage's blend with BlazePose's world landmarks (unveil.motion.landmark_blend)."""
import numpy as np
import pytest

from unveil.motion.landmark_blend import (FOLLOW, LIMB_BLAZEPOSE, LIMB_SMPL, TORSO_OFFSETS, blazepose_limb_joints,
                                          landmark_blend, torso_frames)
from unveil.types import Camera, Track2D


def _body(T=6, seed=0):
    """A root-relative SMPL-24 stand-in (camera axes: x right, y down, z away) and BlazePose landmarks
    placed where its limb joints are (+ the torso offsets), facing the camera."""
    rng = np.random.default_rng(seed)
    J = rng.normal(0, 0.25, (T, 24, 3))
    J[:, 0] = 0.0
    # a torso facing the camera: body left = camera +x, up = camera -y, forward = towards the camera (-z)
    J[:, 1], J[:, 2] = (0.09, 0.05, 0.0), (-0.09, 0.05, 0.0)
    J[:, 16], J[:, 17] = (0.18, -0.45, 0.0), (-0.18, -0.45, 0.0)
    lm = np.zeros((T, 33, 3))
    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])      # columns: left, up, forward in camera axes
    for j, b in zip(LIMB_SMPL, LIMB_BLAZEPOSE):
        lm[:, b] = J[:, j] + R @ np.asarray(TORSO_OFFSETS.get(b, (0, 0, 0)))
    return J, lm


def test_torso_frames_are_rotations_and_recover_the_facing():
    J, lm = _body()
    R = torso_frames(lm)
    assert np.allclose(R @ np.swapaxes(R, 1, 2), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(R), 1.0)
    # the offsets tilt the landmark torso by ~1 degree (hips 4.1 cm, shoulders 3.2 cm forward)
    assert np.allclose(R[0], [[1, 0, 0], [0, -1, 0], [0, 0, -1]], atol=0.03)


def test_limb_joints_undo_the_torso_offsets():
    J, lm = _body()
    B = blazepose_limb_joints(lm)
    ref = J[:, list(LIMB_SMPL)] - 0.5 * (J[:, 1] + J[:, 2])[:, None]
    np.testing.assert_allclose(B, ref, atol=2e-3)   # that tilt: < 1 mm


def test_agreeing_landmarks_change_nothing_and_share_zero_is_identity():
    J, lm = _body()
    vis = np.ones((len(J), 24))
    np.testing.assert_allclose(landmark_blend(J, lm, vis, 0.5), J, atol=1e-3)   # the ~1 degree tilt above
    lm2 = lm + np.random.default_rng(1).normal(0, 0.1, lm.shape)
    np.testing.assert_allclose(landmark_blend(J, lm2, vis, 0.0), J, atol=1e-6)


def test_blend_moves_seen_joints_by_the_share_and_leaves_hidden_ones():
    J, lm = _body()
    truth = J.copy()
    J = J.copy()
    J[:, 18] += (0.0, 0.0, 0.2)            # the lifter puts the left elbow 20 cm too deep
    J[:, 19] += (0.0, 0.0, 0.2)            # and the right one, which is hidden
    vis = np.ones((len(J), 24))
    vis[:, 19] = 0.0
    out = landmark_blend(J, lm, vis, 0.5)
    # hip-centred (the root moves with the hips' mean displacement, which is ~0 here)
    err = lambda X, j: np.linalg.norm(X[:, j] - truth[:, j], axis=-1).mean()  # noqa: E731
    assert err(out, 18) == pytest.approx(0.1, abs=0.02)   # halfway towards the landmarks
    assert err(out, 19) == pytest.approx(0.2, abs=0.02)   # hidden: the lifter's
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-7)  # root-relative


def test_followers_move_with_their_limb_joints():
    J, lm = _body()
    lm2 = lm.copy()
    lm2[:, 15] += (0.1, 0.0, 0.0)          # BlazePose's left wrist 10 cm further right
    out = landmark_blend(J, lm2, np.ones((len(J), 24)), 1.0)
    d_wrist, d_hand = out[:, 20] - J[:, 20], out[:, 22] - J[:, 22]
    assert np.linalg.norm(d_wrist, axis=-1).min() > 0.05
    np.testing.assert_allclose(d_hand, d_wrist, atol=1e-6)
    assert set(FOLLOW) | set(LIMB_SMPL) == set(range(24))


def test_partly_hidden_frames_fade_out_and_missing_landmarks_are_skipped():
    J, lm = _body(T=4)
    lm2 = lm + (0.0, 0.0, 0.3) * (np.arange(33) % 2)[None, :, None]
    vis = np.ones((4, 24))
    vis[1, list(LIMB_SMPL)[:6]] = 0.0       # frame 1: half the limb joints hidden -> below 0.8 seen
    lm2[2] = np.nan                         # frame 2: no landmarks
    out = landmark_blend(J, lm2, vis, 0.5, whole=0.8)
    assert not np.allclose(out[0], J[0], atol=1e-3)
    np.testing.assert_allclose(out[1:3], J[1:3], atol=1e-6)


def test_bad_shapes_raise():
    J, lm = _body()
    with pytest.raises(ValueError):
        landmark_blend(J[:, :17], lm, np.ones((len(J), 24)))
    with pytest.raises(ValueError):
        landmark_blend(J, lm[:, :17], np.ones((len(J), 24)))
    with pytest.raises(ValueError):
        blazepose_limb_joints(lm[0])


def test_lift_tracks_uses_world_landmarks_by_default():
    """The default lift stage reads a track's world landmarks: with them the seen limb joints move
    towards them, without them the output is the lifter's alone."""
    from unveil.motion.stage import DEFAULT, MoPO, lift_tracks

    assert DEFAULT["landmarks"] > 0
    cam = Camera(focal=1200.0, cx=960.0, cy=540.0, width=1920, height=1080)
    rng = np.random.default_rng(0)
    T = 30
    kp = np.zeros((T, 33, 3), np.float32)
    kp[..., :2] = np.array([960, 540]) + rng.normal(0, 120, size=(1, 33, 2))
    kp[..., 2] = 0.95
    wl = rng.normal(0, 0.3, (T, 33, 3)).astype(np.float32)
    plain = lift_tracks([Track2D(id=0, frames=np.arange(T), keypoints=kp, layout="blazepose33")], cam)[0]
    with_lm = lift_tracks([Track2D(id=0, frames=np.arange(T), keypoints=kp, layout="blazepose33",
                                   world_landmarks=wl)], cam)[0]
    off = lift_tracks([Track2D(id=0, frames=np.arange(T), keypoints=kp, layout="blazepose33", world_landmarks=wl)],
                      cam, MoPO(**{**DEFAULT, "landmarks": 0.0}))[0]
    np.testing.assert_allclose(off.joints, plain.joints, atol=1e-6)
    assert np.abs(with_lm.joints - plain.joints).max() > 0.01
