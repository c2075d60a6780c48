"""synth2d: deterministic, protocol numbers respected, training windows never see eval clips."""

import numpy as np
import pytest

from unveil.data import synth2d as S
from unveil.skeleton import project


@pytest.fixture(scope="module")
def clip():
    return S.standin_clip(150, seed=3)


@pytest.mark.parametrize("kind", S.KINDS)
def test_deterministic_per_seed(clip, kind):
    a = S.make_sequence(clip, kind, seed=5)
    b = S.make_sequence(clip, kind, seed=5)
    c = S.make_sequence(clip, kind, seed=6)
    assert np.array_equal(a.keypoints2d, b.keypoints2d) and np.array_equal(a.occluded, b.occluded)
    assert not np.array_equal(a.keypoints2d, c.keypoints2d)
    assert a.keypoints2d.shape == (150, 17, 3) and a.occluded.shape == (150, 17)
    assert a.joints_cam.shape == a.joints_world.shape == (150, 24, 3)


def test_camera_protocol_and_projection(clip):
    for seed in range(8):
        s = S.make_sequence(clip, "none", seed)
        fov = np.rad2deg(2 * np.arctan(s.camera.height / 2 / s.camera.focal))
        assert 40 - 1e-6 <= fov <= 70 + 1e-6
        assert (s.camera.width, s.camera.height) == (1920, 1080)
        assert np.allclose(s.R @ s.R.T, np.eye(3), atol=1e-5)
        # joints_cam is the world joints seen by (R, t); camera is in front; keypoints in the image
        assert np.allclose(s.joints_world @ s.R.T + s.t, s.joints_cam, atol=1e-4)
        assert (s.joints_cam[..., 2] > 1.0).all()
        # camera height 0.5-2 m: camera centre C = -R^T t
        C = -s.R.T @ s.t
        assert 0.5 - 1e-4 <= C[1] <= 2.0 + 1e-4
        # the subject is upright in the image: head above ankles (y down)
        assert (s.keypoints2d_true[:, 0, 1] < s.keypoints2d_true[:, 15, 1]).mean() > 0.95
        # wrists (COCO 9/10) project from SMPL L/R wrist
        uv = project(s.joints_cam[:, [20, 21]], s.camera.focal, s.camera.principal_point)
        assert np.allclose(uv, s.keypoints2d_true[:, [9, 10]], atol=0.05)


def test_noise_and_confidence_ranges(clip):
    s = S.make_sequence(clip, "object", 1)
    conf = s.keypoints2d[..., 2]
    vis = ~s.occluded
    # the confusable / placed cases stay within [0, 0.7]; generic hidden within [0, 0.5]
    assert conf[vis].min() >= 0.6 - 1e-6 and conf[vis].max() <= 1.0 + 1e-6
    assert conf[~vis].max() <= 0.5 + 1e-6
    box_h = np.ptp(s.keypoints2d_true[..., 1], axis=1)
    err = np.abs(s.keypoints2d[..., :2] - s.keypoints2d_true)[vis] / np.repeat(box_h[:, None], 17, 1)[vis][:, None]
    med = np.median(err)
    assert 0.005 < med < 0.02  # median |N(0, 0.015 h)| = 0.0101 h (outliers/swaps move it little)


def test_training_windows_shapes_and_determinism(clip):
    clips = [clip, S.standin_clip(90, seed=4, name="other")]
    a = S.training_windows("train", window=24, n=6, seed=2, clips=clips)
    b = S.training_windows("train", window=24, n=6, seed=2, clips=clips)
    assert a["keypoints2d"].shape == (6, 24, 17, 3) and a["joints_rel"].shape == (6, 24, 24, 3)
    assert np.allclose(a["joints_rel"][:, :, 0], 0)
    assert np.array_equal(a["keypoints2d"], b["keypoints2d"]) and a["name"] == b["name"]
    with pytest.raises(Exception):
        S.training_windows("eval", window=24, n=2, clips=clips)


def test_no_eval_clip_reaches_training_windows(mocap_dir):
    from unveil.data.corpus import read_eval_names

    ev = set(read_eval_names(mocap_dir))
    assert len(ev) == 42
    assert S.eval_names() >= ev  # + the CMU subset's subject 2 (tests/test_cmu_subset.py)
    for split in ("train", "val"):
        pool = S._load_split(split)
        assert pool and not ({c.name for c in pool} & ev)
        w = S.training_windows(split, window=32, n=20, seed=0)
        assert not ({n.split("@")[0] for n in w["name"]} & ev)


def test_real_camera_profile_ranges(clip):
    """The "real" profile (issue 12) stays within its stated ranges; "standard" is untouched by it."""
    fmts = set()
    elev, rolls = [], []
    for seed in range(40):
        s = S.make_sequence(clip, "none", seed, cameras="real")
        W, H = s.camera.width, s.camera.height
        fmts.add((W, H))
        fov = np.rad2deg(2 * np.arctan(H / 2 / s.camera.focal))
        assert 35 - 1e-6 <= fov <= 90 + 1e-6
        assert np.allclose(s.R @ s.R.T, np.eye(3), atol=1e-5)
        assert np.allclose(s.joints_world @ s.R.T + s.t, s.joints_cam, atol=1e-4)
        C = -s.R.T @ s.t
        assert 0.2 - 1e-4 <= C[1] <= 15.0 + 1e-4
        # the camera aims at the mean pelvis, off-centre by at most 35 % of the half field of view
        # (+ roll, which turns the offset but does not lengthen it)
        c = s.joints_world[:, 0].mean(0) @ s.R.T + s.t
        assert c[2] > 1.0
        off = np.hypot(c[0] / c[2], c[1] / c[2]) * s.camera.focal
        assert off <= 0.36 * np.hypot(W, H) / 2
        # keypoints outside the image are hidden (frame edge)
        kt = s.keypoints2d_true
        outside = (kt[..., 0] < -0.05 * W) | (kt[..., 0] > 1.05 * W) | (kt[..., 1] < -0.05 * H) | (kt[..., 1] > 1.05 * H)
        assert s.occluded[outside].all()
        elev.append(s.info["camera"]["elevation_deg"]); rolls.append(s.info["camera"]["roll_deg"])
        assert abs(s.info["camera"]["roll_deg"]) <= 15 and -20 <= s.info["camera"]["elevation_deg"] <= 60
        if abs(s.info["camera"]["elevation_deg"]) < 10:   # near-level camera: the horizon tilts by ~the roll
            assert abs(np.rad2deg(np.arcsin(np.clip(s.R[0, 1], -1, 1)))) <= 17
    assert fmts == {(1080, 1920), (1920, 1080), (640, 480)}
    assert min(elev) < 0 < 40 < max(elev) and min(rolls) < -5 and max(rolls) > 5
    # "standard" draws the same cameras as before the profiles existed (the benchmark protocol)
    a = S.make_sequence(clip, "object", 7)
    b = S.make_sequence(clip, "object", 7, cameras="standard")
    assert np.array_equal(a.keypoints2d, b.keypoints2d)
    m = [S.make_sequence(clip, "none", sd, cameras="mixed").camera.width for sd in range(20)]
    assert len(set(m)) > 1
    with pytest.raises(Exception, match="camera profile"):
        S.make_sequence(clip, "none", 0, cameras="fisheye")
