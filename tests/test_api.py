"""The Python API (`from unveil import run, load`): typed results read back from an output folder,
and the README's one-liner on a short rendered video."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unveil
from unveil import CameraInfo, Person, Result, load, run
from unveil.errors import UnveilError


def test_load_gives_typed_people_and_camera(walkers_run):
    r = load(walkers_run["out"])
    assert isinstance(r, Result) and isinstance(r.camera, CameraInfo) and r.fps == 30.0
    assert [p.id for p in r.people] == [0, 1] and all(isinstance(p, Person) for p in r.people)
    p0, p1 = r.people
    assert p0.joints_world.shape == (60, 24, 3) and p1.joints_cam.shape == (40, 24, 3)
    assert p1.first_frame == 20 and p1.times[0] == pytest.approx(20 / 30.0)
    assert p0.body_pose.shape == (60, 23, 3) and p0.vertices.shape[0] == 60 and p0.faces.shape[1] == 3
    assert r.camera.focal == 1000.0 and r.camera.K[0, 2] == 640.0
    R, t = r.camera.cam_to_world_R, r.camera.cam_to_world_t
    assert np.abs(p0.joints_cam @ R.T + t - p0.joints_world).max() < 1e-5
    assert r.summary["tracks"][1]["first_frame"] == 20 and r.person(1) is p1
    assert all("cache" not in f.relative_to(r.out_dir).parts for f in r.files)
    with pytest.raises(KeyError):
        r.person(7)


def test_run_keypoints_json_resumes_from_the_cache(walkers_run):
    r = run(walkers_run["keypoints"], out_dir=walkers_run["out"], render=False, save_vertices=True,
            progress=False)
    assert set(r.summary["stages_cached"]) >= {"lift", "fit"}  # same input and options: resumed
    assert [p.joints_world.shape for p in r.people] == [(60, 24, 3), (40, 24, 3)]


def test_bad_arguments(tmp_path):
    with pytest.raises(UnveilError, match="summary.json"):
        load(tmp_path)
    with pytest.raises(TypeError):
        run(tmp_path / "x.mp4", video="y.mp4")
    with pytest.raises(AttributeError):
        unveil.no_such_name  # noqa: B018


def test_py_typed_marker_ships():
    assert (Path(unveil.__file__).parent / "py.typed").is_file()


def test_readme_one_liner_on_a_rendered_video(walker_video, tmp_path):
    """`python -c "from unveil import run; r = run('demo.mp4'); print(r.people[0].joints_world.shape)"`"""
    os.symlink(walker_video, tmp_path / "demo.mp4")
    code = "from unveil import run; r = run('demo.mp4'); print(r.people[0].joints_world.shape)"
    env = {**os.environ, "PYTHONPATH": str(Path(unveil.__file__).parents[1])}
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "(24, 24, 3)", p.stdout  # 24 rendered frames, all tracked
    assert (tmp_path / "unveil_out" / "demo" / "tracks" / "0.npz").is_file()
