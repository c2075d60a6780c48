"""End to end: the product as a user runs it (no stand-ins, each command in its own process).

- ``unveil demo`` (renders 75 frames of the packaged walk behind a box with
  :mod:`unveil.data.synthvideo`, runs the pipeline on the mp4, scores it against the known truth);
- ``unveil run VIDEO`` cold into a fresh folder on that clip: exit 0, every file summary.json lists
  exists and loads (npz keys, GLB through pygltflib, BVH through the project's reader), no notes,
  accuracy against the truth; the same arrays as the demo's own run; a rerun into the same folder
  resumes from the cache with identical arrays and files;
- ``unveil run --keypoints KP.json`` on detector-like 2D of the same walk (:mod:`unveil.data.synth2d`).

Accuracy bounds = measured value + a stated margin; re-measure after changing a stage with
``PYTHONPATH=src .venv/bin/python tests/test_e2e.py`` (prints the numbers). Needs the BlazePose models
and the Anny body model (``scripts/setup.sh``); runs without the developers' shared data.
Run time: 104 s on the shared 2-core dev machine at load ~11 (2026-12-07; docs/testing.md), most of it
the demo's render and the cold run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from unveil import demo
from unveil.data import synth2d
from unveil.data import synthvideo as sv
from unveil.data.bvh import forward_kinematics, read_bvh
from unveil.io.keypoints_json import dump
from unveil.skeleton import SMPL24_NAMES
from unveil.types import Track2D

# ------------------------------------------------------------------------------ the clips
# video: `unveil demo` with its packaged walk (an evaluation-split clip, used only for scoring), the
# first 75 frames in the demo's 'object' scene with seed 0 (a box hides part of the body in every
# frame: 14% of keypoint-frames), 640x480, supersample 1 (4x cheaper to render than the default 2).
DEMO_ARGS = ("--frames", "75", "--kind", "object", "--seed", "0", "--workers", "1", "--supersample", "1")
VIDEO_FRAMES = 75
# keypoints: synthetic detector-like 2D (synth2d: noise, outliers, swaps, drifting hidden points) of
# the same packaged walk, frames 0..90, "mixed" occlusions (seed 1: 21% of keypoint-frames hidden).
KP_FRAMES = (0, 90)
KP_KIND, KP_SEED = "mixed", 1

# ------------------------------------------------------------------------- accuracy bounds (mm)
# video: measured 61.3 / 108.8 / 47.9 mm (MPJPE / MPJPE-occ / PA-MPJPE, joints_cam, 75/75 frames) on
# 2026-12-07 by `PYTHONPATH=src .venv/bin/python tests/test_e2e.py` with the evidence stage and its
# smooth root solve (without the stage: 65.6 / 121.5 / 42.7, root 380 mm), margin +15%
VIDEO_MPJPE = 61.3 * 1.15
VIDEO_MPJPE_OCC = 108.8 * 1.15
VIDEO_PA_MPJPE = 47.9 * 1.15
# root (pelvis) position error (monocular depth): measured 242 mm, same command and date, margin +25%
VIDEO_ROOT = 242.0 * 1.25
# keypoints: measured 48.2 / 39.6 / 30.0 mm (MPJPE / MPJPE-occ / PA-MPJPE, 90/90 frames), root 78 mm,
# on 2026-12-07 by the same command with the evidence stage (without: 52.1 / 41.2 / 33.5, 388 mm),
# margin +15% (root: +50%, it is small and set by the 2D scale)
KP_MPJPE = 48.2 * 1.15
KP_MPJPE_OCC = 39.6 * 1.15
KP_PA_MPJPE = 30.0 * 1.15
KP_ROOT = 78.0 * 1.5
# the BVH is the body model posed by the npz's rotations, in the npz's world frame: measured max
# joint difference 0.0004 mm (video) / 0.0008 mm (keypoints), same command and date; bound 0.005 mm
# (float32 and the BVH's printed decimals)
BVH_VS_NPZ_MM = 0.005

# stages every run must complete and, on a rerun, take from OUT/cache/ (a new cached stage: add it)
STAGES = ("keypoints", "lift", "fit", "evidence")
TRACK_KEYS = ("frames", "keypoints2d", "occluded", "joints_rel", "joints_cam", "joints_world", "global_orient",
              "body_pose", "transl", "shape", "focal", "principal_point")


def _unveil(*args) -> subprocess.CompletedProcess:
    """``unveil ARGS`` in a fresh interpreter (the console script's entry point; this checkout's code)."""
    env = dict(os.environ, UNVEIL_THREADS="1")
    return subprocess.run([sys.executable, "-m", "unveil", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=900)


def run_video(d: Path) -> SimpleNamespace:
    """``unveil demo`` (renders the clip, runs the pipeline in-process, scores it) into d/demo, then a
    cold ``unveil run VIDEO`` into d/out. Returns the processes, the video, its truth, and a snapshot
    of d/out."""
    p0 = _unveil("demo", "-o", d / "demo", *DEMO_ARGS)
    if p0.returncode != 0:
        return SimpleNamespace(p0=p0, p1=None)
    rep = json.loads((d / "demo" / "demo.json").read_text())
    video, truth = Path(rep["files"]["video"]), sv.load_truth(rep["files"]["truth"])
    out = d / "out"
    p1 = _unveil("run", video, "-o", out, "--focal", repr(float(truth["focal"])), "--threads", "1")
    return SimpleNamespace(p0=p0, p1=p1, demo=rep, video=video, truth=truth, out=out,
                           first=_snapshot(out) if p1.returncode == 0 else None)


def run_keypoints(d: Path) -> SimpleNamespace:
    """``unveil run --keypoints`` on synth2d keypoints of the demo walk into d/out."""
    m = demo.load_motion()
    a, b = KP_FRAMES
    clip = SimpleNamespace(joints=m["joints"][a:b], face=m["face"][a:b], name="e2e_demo_walk", fps=30.0)
    seq = synth2d.make_sequence(clip, KP_KIND, KP_SEED)
    T = len(seq.keypoints2d)
    kp = d / "kp.json"
    dump(kp, [Track2D(id=0, frames=np.arange(T), keypoints=seq.keypoints2d, layout="coco17")], seq.fps,
         seq.camera.width, seq.camera.height, seq.camera.focal)
    p = _unveil("run", "--keypoints", kp, "-o", d / "out", "--no-render", "--threads", "1")
    truth = {"joints_cam": seq.joints_cam, "joints_world": seq.joints_world, "occluded": seq.occluded,
             "keypoints2d_true": seq.keypoints2d_true, "fps": np.float32(seq.fps)}
    return SimpleNamespace(p=p, out=d / "out", truth=truth, T=T)


def score_out(out: Path, truth: dict) -> dict:
    """demo.score of the output track that matches the subject (mm)."""
    tracks = demo._track_arrays(out)
    return demo.score(demo.pick_track(tracks, truth["keypoints2d_true"]), truth)


def bvh_vs_npz_mm(out: Path, tid) -> float:
    """Largest difference (mm) between the BVH's forward kinematics and the npz's joints_world."""
    with np.load(out / "tracks" / f"{tid}.npz") as z:
        jw = z["joints_world"]
    bvh = read_bvh(out / f"{tid}.bvh")
    _, gpos = forward_kinematics(bvh)
    jb = gpos[:, [bvh.index(n) for n in SMPL24_NAMES]] / 100.0
    return float(np.abs(jb - jw).max() * 1000) if jb.shape == jw.shape else float("inf")


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def video_run(tmp_path_factory, require_detector, require_anny):
    return run_video(tmp_path_factory.mktemp("e2e_video"))


def _snapshot(out: Path) -> dict:
    """Every array of every track file, plus the export files' bytes."""
    s = json.loads((out / "summary.json").read_text())
    snap = {"summary": s}
    for t in s["tracks"]:
        with np.load(out / t["file"], allow_pickle=False) as z:
            snap[t["file"]] = {k: z[k] for k in z.files}
    for f in s["exports"]["files"]:
        snap[f] = (out / f).read_bytes()
    return snap


def _check_outputs(out: Path, s: dict, n_frames: int) -> None:
    """Every file summary.json lists exists and loads; no notes."""
    import pygltflib

    assert s["notes"] == [] and s["exports"]["notes"] == [], (s["notes"], s["exports"]["notes"])
    assert set(STAGES) <= set(s["stages_done"]) and s["frames"] == n_frames, s["stages_done"]
    assert len(s["tracks"]) >= 1
    for t in s["tracks"]:
        with np.load(out / t["file"], allow_pickle=False) as z:
            missing = [k for k in TRACK_KEYS if k not in z.files]
            assert not missing, (t["file"], missing)
            T = len(z["frames"])
            assert T == t["frames"] and z["joints_cam"].shape == (T, 24, 3) and z["body_pose"].shape == (T, 23, 3)
            assert np.isfinite(z["joints_cam"]).all() and np.isfinite(z["joints_world"]).all()
        # GLB: one skinned mesh with 24 joints, one animation whose keyframes are the track's frames
        glb = pygltflib.GLTF2().load(str(out / f"{t['id']}.glb"))
        assert len(glb.skins) == 1 and len(glb.skins[0].joints) == 24 and len(glb.meshes) == 1
        assert len(glb.animations) == 1
        times = glb.accessors[glb.animations[0].samplers[0].input]
        assert times.count == T and abs(times.max[0] - (T - 1) / s["fps"]) < 1e-3
        # BVH: SMPL-24, T frames, its forward kinematics = the npz's world joints
        bvh = read_bvh(out / f"{t['id']}.bvh")
        assert bvh.n_frames == T and abs(bvh.fps - s["fps"]) < 1e-3
        err = bvh_vs_npz_mm(out, t["id"])
        assert err < BVH_VS_NPZ_MM, err
    for f in s["exports"]["files"]:
        assert (out / f).stat().st_size > 0, f
    want = {f"{t['id']}.{e}" for t in s["tracks"] for e in ("glb", "bvh")} | {"viewer.html"}
    assert want <= set(s["exports"]["files"]), s["exports"]["files"]
    assert "<html" in (out / "viewer.html").read_text()[:2000].lower()
    kp = json.loads((out / "keypoints.json").read_text())
    assert len(kp["tracks"]) == len(s["tracks"])


# ------------------------------------------------------------------------------ video tests
def test_demo_runs_and_scores(video_run):
    p = video_run.p0
    assert p.returncode == 0, p.stderr[-3000:]
    rep = video_run.demo
    assert rep["missing"] == [] and rep["frames"] == VIDEO_FRAMES, rep["missing"]
    assert rep["accuracy_mm"]["frames_scored"] == VIDEO_FRAMES and "mpjpe" in rep["accuracy_mm"]
    from unveil.io.video import probe

    assert probe(Path(rep["files"]["overlay"])).n_frames == VIDEO_FRAMES
    assert 0.05 < video_run.truth["occluded"].mean() < 0.5  # the clip does hide keypoints


def test_video_run_writes_every_output(video_run):
    p = video_run.p1
    assert p is not None and p.returncode == 0, (video_run.p0.stderr[-3000:], p and p.stderr[-3000:])
    assert "Traceback" not in p.stderr and "note:" not in p.stdout, (p.stdout, p.stderr[-3000:])
    s = video_run.first["summary"]
    assert s["kind"] == "video" and s["stages_cached"] == []
    _check_outputs(video_run.out, s, VIDEO_FRAMES)
    from unveil.io.video import probe

    info = probe(video_run.out / "overlay.mp4")
    assert info.n_frames == VIDEO_FRAMES and (info.width, info.height) == (640, 480)


def test_video_run_accuracy(video_run):
    assert video_run.p1 is not None and video_run.p1.returncode == 0
    r = score_out(video_run.out, video_run.truth)
    msg = {k: round(v, 1) for k, v in r.items() if isinstance(v, float)}
    assert r["frames_scored"] == r["frames_total"] == VIDEO_FRAMES and r["scored"] == "joints_cam", r
    assert r["mpjpe"] < VIDEO_MPJPE, msg
    assert r["mpjpe_occ"] < VIDEO_MPJPE_OCC, msg
    assert r["pa_mpjpe"] < VIDEO_PA_MPJPE, msg
    assert r["root_err_mm"] < VIDEO_ROOT, msg


def test_video_run_evidence_fit_agrees_with_the_pixels(video_run):
    """The evidence stage pulled the body onto the detector's visible keypoints (its own diagnostics
    in OUT/cache/evidence.json) and the npz says which joints were observed."""
    info = json.loads((video_run.out / "cache" / "evidence.json").read_text())
    t = {d["id"]: d for d in info["tracks"]}
    z = np.load(video_run.out / "tracks" / "0.npz")
    # measured 2026-12-07 on this clip (pytest --basetemp, OUT/cache/evidence.json): median
    # reprojection 6.32 -> 1.43 % of the person's height, 76 % of joint-frames observed; bounds: after
    # below before and below 2.5 % (issue 11's target; ~60 % margin)
    assert t[0]["reproj_after_pct"] < min(2.5, t[0]["reproj_before_pct"]), t[0]
    assert z["observed"].shape == (VIDEO_FRAMES, 24) and z["keypoints3d_body"].shape == (VIDEO_FRAMES, 17, 3)
    assert 0.5 < z["observed"].mean() < 1.0     # a box hides part of the body: some joints inferred


def test_video_run_observed_flags_agree_with_the_render(video_run):
    """``observed`` of the 12 limb keypoints' joints against the render's truth visibility (scene and
    self-occlusion, ``occluded_any``): the self-occlusion test (unveil.fit.self_occlusion) reports the
    far limbs of this side-on walk as inferred, which BlazePose's visibility does not."""
    from unveil.skeleton import COCO17_TO_SMPL24

    z = np.load(video_run.out / "tracks" / "0.npz")
    fr = z["frames"]
    seen_true = ~np.asarray(video_run.truth["occluded_any"])[fr][:, 5:]
    seen = z["observed"][:, [COCO17_TO_SMPL24[k] for k in range(5, 17)]]
    agree = float((seen_true == seen).mean())
    # measured 2026-12-07 on this clip (pytest -s, printed): 0.824 of joint-frames agree; without the
    # self-occlusion test (EvidenceConfig.self_occlusion=None, a scratch copy of src/) 0.721; bound:
    # the measured value - 0.03 (above the old value)
    assert agree > 0.79, agree


def test_video_runs_are_deterministic(video_run):
    """The demo's in-process run and the cold `unveil run` (two independent full runs) give the same
    arrays; a rerun into the same folder resumes from the cache and gives identical arrays and files."""
    assert video_run.p1 is not None and video_run.p1.returncode == 0
    first = video_run.first
    for t in first["summary"]["tracks"]:
        with np.load(video_run.out.parent / "demo" / t["file"]) as z:
            for k, a in first[t["file"]].items():
                assert np.array_equal(z[k], a), f"{t['file']}:{k}: the demo's run and `unveil run` differ"
    p = _unveil("run", video_run.video, "-o", video_run.out, "--focal", repr(float(video_run.truth["focal"])),
                "--threads", "1", "--no-render")
    assert p.returncode == 0, p.stderr[-3000:]
    second = _snapshot(video_run.out)
    s = second["summary"]
    assert set(STAGES) <= set(s["stages_cached"]), s["stages_cached"]
    assert s["notes"] == [] and s["exports"]["notes"] == []
    assert set(second) == set(first)
    for name, v in first.items():
        if name == "summary":
            continue
        if isinstance(v, bytes):
            assert second[name] == v, f"{name} differs on the rerun"
        else:
            assert set(second[name]) == set(v), name
            for k, a in v.items():
                assert np.array_equal(second[name][k], a), f"{name}:{k} differs on the rerun"


# ------------------------------------------------------------------------------ keypoints test
def test_keypoints_run_end_to_end(tmp_path, require_anny):
    r = run_keypoints(tmp_path)
    assert r.p.returncode == 0, r.p.stderr[-3000:]
    assert "Traceback" not in r.p.stderr and "note:" not in r.p.stdout, (r.p.stdout, r.p.stderr[-3000:])
    s = json.loads((r.out / "summary.json").read_text())
    assert s["kind"] == "keypoints"
    _check_outputs(r.out, s, r.T)
    sc = score_out(r.out, r.truth)
    msg = {k: round(v, 1) for k, v in sc.items() if isinstance(v, float)}
    assert sc["frames_scored"] == r.T and r.truth["occluded"].mean() > 0.05, (sc, r.truth["occluded"].mean())
    assert sc["mpjpe"] < KP_MPJPE, msg
    assert sc["mpjpe_occ"] < KP_MPJPE_OCC, msg
    assert sc["pa_mpjpe"] < KP_PA_MPJPE, msg
    assert sc["root_err_mm"] < KP_ROOT, msg


if __name__ == "__main__":  # re-measure the bounds above: python tests/test_e2e.py
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        v = run_video(Path(tmp) / "video")
        assert v.p0.returncode == 0 and v.p1.returncode == 0, (v.p0.stderr[-2000:], v.p1 and v.p1.stderr[-2000:])
        r = score_out(v.out, v.truth)
        print(f"video ({time.time() - t0:.0f} s): MPJPE {r['mpjpe']:.1f} | MPJPE-occ {r['mpjpe_occ']:.1f} | "
              f"PA-MPJPE {r['pa_mpjpe']:.1f} | root {r['root_err_mm']:.0f} mm; BVH vs npz "
              f"{bvh_vs_npz_mm(v.out, 0):.4f} mm; occluded {v.truth['occluded'].mean() * 100:.1f}%; "
              f"demo.json MPJPE {v.demo['accuracy_mm']['mpjpe']:.1f}")
        t0 = time.time()
        k = run_keypoints(Path(tmp) / "kp")
        assert k.p.returncode == 0, k.p.stderr[-2000:]
        r = score_out(k.out, k.truth)
        print(f"keypoints ({time.time() - t0:.0f} s): MPJPE {r['mpjpe']:.1f} | MPJPE-occ {r['mpjpe_occ']:.1f} | "
              f"PA-MPJPE {r['pa_mpjpe']:.1f} | root {r['root_err_mm']:.0f} mm; BVH vs npz "
              f"{bvh_vs_npz_mm(k.out, 0):.4f} mm; occluded {k.truth['occluded'].mean() * 100:.1f}%")
