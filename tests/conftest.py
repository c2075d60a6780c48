"""Shared fixtures. Tests that need the developers' ../shared folder use ``shared_dir`` and skip
with a clear reason where UNVEIL_SHARED is unset (a user's machine). Tests that need setup-built
assets (body model, detector models) use ``require_anny`` / ``require_detector`` (tests/assets.py:
absent -> skip, or fail under UNVEIL_REQUIRE_ASSETS=1 as on CI; present but broken -> fail)."""

from __future__ import annotations

import os

import pytest

from assets import need_anny, need_detector

os.environ.setdefault("UNVEIL_THREADS", "2")


@pytest.fixture(scope="session")
def shared_dir():
    from unveil.paths import shared_dir as _shared

    d = _shared()
    if d is None:
        pytest.skip("needs the developers' shared data: set UNVEIL_SHARED=path/to/shared (.ci/run does)")
    return d


@pytest.fixture(scope="session")
def mocap_dir(shared_dir):
    p = shared_dir / "data" / "mocap"
    if not p.is_dir():
        pytest.skip(f"no mocap data under {p}")
    return p


def _two_walkers_keypoints(path, T: int = 60, late: int = 20):
    """Write a keypoints JSON (COCO-17, 1280x720, focal 1000, 30 fps) of the packaged demo walk
    (:func:`unveil.demo.load_motion`) seen by a static camera: person 0 on frames 0..T-1, person 1 (the
    same walk 1.5 m to the side) on frames ``late``..T-1. Returns the path."""
    import numpy as np

    from unveil.data.demo_motion import demo_coco17_camera
    from unveil.demo import load_motion
    from unveil.io.keypoints_json import dump
    from unveil.skeleton import project
    from unveil.types import Track2D

    m = load_motion()
    j, face = np.asarray(m["joints"], np.float64)[:T], np.asarray(m["face"], np.float64)[:T]
    coco, R, cam_c = demo_coco17_camera(j, face)  # (T, 17, 3) world, Y up; world -> OpenCV camera
    tracks = []
    for tid, (shift, frames) in enumerate((([0, 0, 0], np.arange(T)), ([1.5, 0, 0], np.arange(late, T)))):
        uv = project((coco[frames] + shift - cam_c) @ R.T, 1000.0, (640.0, 360.0))
        kp = np.concatenate([uv, np.full((*uv.shape[:2], 1), 0.95)], -1).astype(np.float32)
        tracks.append(Track2D(id=tid, frames=frames, keypoints=kp, layout="coco17"))
    dump(path, tracks, fps=30.0, width=1280, height=720, focal=1000.0)
    return path


@pytest.fixture(scope="session")
def walkers_run(tmp_path_factory):
    """A full `unveil run --keypoints` (real lift, fit, trajectory, exports; no overlay) on
    :func:`_two_walkers_keypoints`, with ``save_vertices``; skips where the body model is not built."""
    from unveil import pipeline

    need_anny()
    d = tmp_path_factory.mktemp("walkers")
    kp = _two_walkers_keypoints(d / "kp.json")
    out = d / "out"
    summary = pipeline.run(keypoints_json=kp, out_dir=out, render=False, progress=False, save_vertices=True)
    return {"out": out, "summary": summary, "keypoints": kp}


@pytest.fixture(scope="session")
def walker_video(tmp_path_factory):
    """A short rendered video (24 frames, 320x400, 30 fps) of the packaged demo walk, through
    :func:`unveil.data.synthvideo.render_sequence`; skips without the body model or the detector models
    (a video run needs them)."""
    from unveil.data import synthvideo as sv
    from unveil.demo import load_motion

    need_detector()
    body = need_anny()
    j = load_motion()["joints"][:24]
    d = tmp_path_factory.mktemp("walker_video")
    r = sv.render_sequence(j, "api_probe", "none", 0, d, 320, 400, body_model=body, workers=1)
    return r["video"]


@pytest.fixture(scope="session")
def require_anny():
    """The "anny" body model (see tests/assets.py)."""
    return need_anny()


@pytest.fixture(scope="session")
def require_detector():
    """The BlazePose detector models are present (see tests/assets.py)."""
    need_detector()
