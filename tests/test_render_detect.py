"""A rendered body round-trips through the real 2D detector (skips without the body-model cache
or the detector models)."""

import numpy as np

from assets import need_anny, need_detector


def test_rendered_person_is_detected_near_the_truth(tmp_path):
    need_detector()
    body = need_anny()
    from unveil.data import synthvideo as sv

    # three frames of a person standing still (rest joints with the arms lowered by the IK target)
    rest = body.rest_joints().numpy().astype(np.float32)
    j = np.repeat(rest[None], 8, 0)   # the tracker drops tracks shorter than 5 frames
    for s, (sh, el, wr, ha) in {"L": (16, 18, 20, 22), "R": (17, 19, 21, 23)}.items():
        for k, d in ((el, 0.28), (wr, 0.53), (ha, 0.61)):
            j[:, k] = j[:, sh] + np.array([0.05 if s == "L" else -0.05, -d, 0.02])
    j[..., 1] += 1.0
    r = sv.render_sequence(j, "detect_probe", "none", 1, tmp_path, 256, 320, body_model=body, workers=1)
    truth = sv.load_truth(r["truth"])
    kp, info = sv.run_detector(r["video"], truth)
    assert info["detected_frames"] >= 6
    h = np.ptp(truth["keypoints2d_true"][..., 1], axis=1)[:, None]
    err = np.linalg.norm(kp[..., :2] - truth["keypoints2d_true"], axis=-1) / h
    body_kp = list(range(5, 17))
    det = kp[..., 2].max(-1) > 0
    assert np.median(err[det][:, body_kp]) < 0.08        # limb keypoints within 8% of the height
    assert (kp[det][:, body_kp, 2] > 0.5).mean() > 0.8   # and confidently visible


def test_cached_detections_are_recomputed_when_the_front_end_changes(tmp_path, monkeypatch):
    """The render benchmark's ``.det.npz`` carries the front end's key (code of detect/ and
    io/video.py, the detector models): a cache written by another front end is not reused."""
    from unveil.data import synthvideo as sv

    calls = []

    def fake_track_video(path):
        calls.append(path)
        return []

    monkeypatch.setattr("unveil.detect.people.track_video", fake_track_video)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")                                   # never opened: track_video is the stand-in
    truth = {"keypoints2d_true": np.zeros((4, 17, 2), np.float32)}
    monkeypatch.setattr(sv, "frontend_key", lambda: "A")
    sv.run_detector(video, truth)
    sv.run_detector(video, truth)
    assert len(calls) == 1                                   # the same front end: cached
    assert str(sv.load_truth(video.with_suffix(".det.npz"))["frontend"]) == "A"
    monkeypatch.setattr(sv, "frontend_key", lambda: "B")
    sv.run_detector(video, truth)
    assert len(calls) == 2                                   # another front end: recomputed
    assert str(sv.load_truth(video.with_suffix(".det.npz"))["frontend"]) == "B"
