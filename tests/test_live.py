"""`unveil live` (issue 17): one JSON line per frame, a fixed delay, causality (a pose never depends
on frames after its own + delay), bounded state, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unveil import cli, live


def _run(video, **kw):
    recs = []
    stats = live.run_live(str(video), recs.append, realtime=False, focal=500.0, **kw)
    return recs, stats


def test_live_lines_delay_and_causality(walker_video):
    recs, s = _run(walker_video, delay=2)
    assert s["frames"] == 24 and s["dropped"] == 0 and len(recs) == 24  # unpaced: every frame, one line each
    assert [r["source_frame"] for r in recs] == list(range(24))
    people = [(r["source_frame"], p) for r in recs for p in r["people"]]
    assert people and all(p["frame"] == i - 2 for i, p in people)  # the fixed delay of 2 frames
    assert len(people) >= 20  # the walker is tracked from the first frames (24 rendered, 22 poses possible)
    i, p = people[-1]
    assert np.shape(p["joints_cam"]) == (24, 3) and np.shape(p["body_pose"]) == (23, 3)
    assert np.shape(p["keypoints2d"]) == (17, 3) and len(p["occluded"]) == 17
    jc = np.asarray(p["joints_cam"])
    assert 1.0 < jc[:, 2].mean() < 30.0  # in front of the camera
    assert 0.3 < np.ptp(jc[:, 1]) < 2.5  # a person-sized skeleton (m)
    json.dumps(recs[-1])  # JSON-ready
    # causality: stopping the source after 12 frames changes none of the poses emitted by then
    short, _ = _run(walker_video, delay=2, max_frames=12)
    for a, b in zip(short, recs[:12]):
        assert a["people"] == b["people"]
    # the two-thread pipeline gives the same poses as one thread (the default: front end inline)
    two, _ = _run(walker_video, delay=2, max_frames=12, pipelined=True)
    assert [r["people"] for r in two] == [r["people"] for r in short]
    # --mirror: the same 2D, each lifter call averaged with its mirror image
    plain, _ = _run(walker_video, delay=2, max_frames=12, mirror=True)
    pa, pb = [p for r in plain for p in r["people"]], [p for r in short for p in r["people"]]
    assert len(pa) == len(pb) > 0 and [p["keypoints2d"] for p in pa] == [p["keypoints2d"] for p in pb]
    assert max(np.abs(np.subtract(a["joints_cam"], b["joints_cam"])).max() for a, b in zip(pa, pb)) > 1e-3


def test_live_state_is_bounded(walker_video):
    """Fed 150 frames (the clip played forward and back), the per-person state and the tracker's
    history stay within their windows, and delay 0 gives the newest frame's pose."""
    from unveil.io.video import iter_frames
    from unveil.types import Camera

    frames = [img for _, img in iter_frames(walker_video)]
    seq = (frames + frames[::-1]) * 4
    est = live.LiveEstimator(Camera(500.0, 160.0, 200.0, 320, 400), delay=0)
    try:
        for i, img in enumerate(seq[:150]):
            got = est.step(i, img)
            if i == 0:
                assert got and got[0]["frame"] == 0  # delay 0: the newest frame's pose
        assert est.people and all(len(p.kp) <= live.WINDOW and len(p.root_j) <= live.ROOT_WINDOW
                                  and len(p.shape_j) <= live.SHAPE_AT[-1] for p in est.people.values())
        assert max(len(p.kp) for p in est.people.values()) == live.WINDOW  # the window did fill
        assert all(len(t.lms) <= 64 and len(t.frames) <= 64 and t.hist.n == len(t.frames)
                   for t in est.tracker.live + est.tracker.lost)
        assert len(est.tracker.processed) <= 64
    finally:
        est.close()


def test_live_bad_source_is_one_line(tmp_path, capsys):
    assert cli.main(["live", str(tmp_path / "nope.mp4")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "video not found" in err
    (tmp_path / "bad.mp4").write_bytes(b"junk" * 100)
    assert cli.main(["live", str(tmp_path / "bad.mp4")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot open live source" in err
    with pytest.raises(SystemExit):
        cli.main(["live"])


def test_models_created_on_threads_at_once_keep_stderr():
    """The live mode creates detector interpreters on several threads at once; each creation
    redirects fd 2 for a moment (to drop TFLite's INFO line). Interleaved, that left fd 2 on a
    deleted temporary file and every later stderr line (the final summary) was lost."""
    import os
    import threading

    from unveil.detect.assets import MODELS, model_status
    from unveil.detect.blazepose import LandmarkModel, PoseDetector

    if any(model_status(n) != "ok" for n in MODELS):
        pytest.skip("detector models not fetched (`unveil models fetch`)")
    before = os.fstat(2)
    threads = [threading.Thread(target=cls, kwargs={"num_threads": 1})
               for cls in (PoseDetector, LandmarkModel) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)

