"""unveil demo: the packaged motion, track picking, scoring and the overlay (its parts; the full
demo takes minutes and is run by hand, see the README)."""

import numpy as np

from unveil import demo
from unveil.types import Camera


def test_packaged_motion_is_a_small_eval_walk():
    m = demo.load_motion()
    j = m["joints"]
    assert j.shape[1:] == (24, 3) and 120 <= len(j) <= 240 and j.dtype == np.float32
    assert str(m["clip"]) == demo.MOTION_CLIP and "CC BY-NC" in str(m["licence"])
    assert np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]) > 2.0        # it walks
    assert demo.MOTION_FILE.stat().st_size < 200_000


def _truth(T=20, seed=0):
    rng = np.random.default_rng(seed)
    jc = rng.normal(0, 0.3, (T, 24, 3)).astype(np.float32) + [0, 0, 4]
    kp = rng.uniform(100, 300, (T, 17, 2)).astype(np.float32)
    occ = np.zeros((T, 17), bool)
    occ[:, 13:] = True
    return {"joints_cam": jc, "joints_world": jc * [1, -1, 1], "keypoints2d_true": kp, "occluded": occ,
            "fps": np.float32(30)}


def _track(truth, noise=0.0, shift=0.0, rows=slice(None)):
    T = len(truth["joints_cam"])
    kp = np.zeros((T, 17, 3), np.float32)
    kp[..., :2] = truth["keypoints2d_true"] + shift
    kp[..., 2] = 0.9
    fr = np.arange(T)[rows]
    return {"frames": fr, "keypoints2d": kp[rows], "layout": np.array("coco17"),
            "joints_cam": (truth["joints_cam"] + noise)[rows], "id": 0, "path": "x"}


def test_pick_track_prefers_the_matching_person():
    tr = _truth()
    good, other = _track(tr), _track(tr, shift=150.0)
    other["id"] = 1
    assert demo.pick_track([other, good], tr["keypoints2d_true"])["id"] == 0


def test_score_zero_for_exact_and_positive_for_offset():
    tr = _truth()
    r = demo.score(_track(tr), tr)
    assert r["mpjpe"] < 1e-3 and r["pa_mpjpe"] < 1e-3 and r["frames_scored"] == 20
    assert r["detector_2d_err_pct_vis"] < 1e-6
    off = _track(tr, rows=slice(5, 15))
    off["joints_cam"] = off["joints_cam"].copy()
    off["joints_cam"][:, 4] += [0.0, 0.1, 0.0]                                # 10 cm on the left knee
    r = demo.score(off, tr)
    assert r["frames_scored"] == 10
    assert abs(r["mpjpe"] - 100.0 / 24) < 0.5                                # 10 cm on 1 of 24 joints
    assert r["mpjpe_occ"] > r["mpjpe_vis"]                                   # the knee is occluded
    assert "note" in demo.score(None, tr)


def test_overlay_draws_the_skeleton(tmp_path):
    from unveil.io.video import iter_frames, write_video

    tr = _truth(4)
    cam = Camera(300.0, 80, 60, 160, 120)
    tr["joints_cam"] = np.tile(np.array([[0.0, 0.0, 3.0]], np.float32), (4, 24, 1))
    tr["joints_cam"][:, 1:, 0] = np.linspace(-0.3, 0.3, 23)
    vid = write_video(tmp_path / "in.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 4, 30.0)
    trk = _track(tr)
    out = demo.write_overlay(tmp_path / "ov.mp4", vid, tr, trk, "anny", cam, 30.0, "x")
    frames = [f for _, f in iter_frames(out)]
    assert len(frames) == 4 and np.abs(frames[0].astype(int) - 90).max() > 60
