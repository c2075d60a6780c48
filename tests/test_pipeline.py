"""`unveil run --keypoints`: stand-in lift/fit stages (the real stages' declarations with another
``run``, passed to ``pipeline.run(stages=...)``; and a tiny stand-in body model the exports can skin)
write the output contract; a rerun resumes from the cache; a changed input invalidates it; a stage
that does not import is skipped with a note; bad input exits non-zero with one line. The stage
loop itself: tests/test_stages.py; the real stages end to end: tests/test_e2e.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unveil import pipeline
from unveil.io.keypoints_json import dump
from unveil.stages import substitute
from unveil.types import BodyTrack, Track2D, Track3D

from assets import need_detector
from test_gltf import standin_model  # a tiny SMPL-format body model the GLB/BVH exports can use

CALLS = {"lift": 0, "fit": 0}


def _fake_lift(tracks, camera):
    CALLS["lift"] += 1
    return [Track3D(id=t.id, frames=t.frames, joints=np.zeros((len(t.frames), 24, 3), np.float32),
                    occluded=t.keypoints[..., 2] < 0.3) for t in tracks]


def _fake_fit(tracks3d, tracks2d, camera, body_model):
    CALLS["fit"] += 1
    out = []
    for t in tracks3d:
        T = len(t.frames)
        jc = np.zeros((T, 24, 3), np.float32)
        jc[..., 2] = 4.0
        out.append(BodyTrack(id=t.id, frames=t.frames, global_orient=np.zeros((T, 3), np.float32),
                             body_pose=np.zeros((T, 23, 3), np.float32), transl=jc[:, 0].copy(),
                             shape=np.zeros(10, np.float32), joints_cam=jc, joints_world=jc.copy()))
    return out


def _lift_stage(ctx):
    ctx.tracks3d = _fake_lift([t for t in ctx.tracks2d if t.id not in ctx.no_3d], ctx.camera)


def _fit_stage(ctx):
    ctx.bodies = _fake_fit(ctx.tracks3d, ctx.tracks2d, ctx.camera, None)


@pytest.fixture
def stand_ins(monkeypatch):
    """The stage list with stand-in lift and fit (and the stand-in body model for exports / overlay)."""
    import unveil.body

    model = standin_model()
    monkeypatch.setattr(unveil.body, "load_body_model", lambda spec="anny", device="cpu": model)
    CALLS.update(lift=0, fit=0)
    return substitute(pipeline.STAGES, lift=_lift_stage, fit=_fit_stage)


def _kp_file(path, n=12, shift=0.0):
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(100, 300, (n, 17, 2)) + shift, rng.uniform(0, 1, (n, 17, 1))], -1)
    tr = [Track2D(id=0, frames=np.arange(n), keypoints=kp.astype(np.float32)),
          Track2D(id=1, frames=np.arange(4, n), keypoints=kp[4:].astype(np.float32))]
    dump(path, tr, fps=30, width=640, height=480)
    return tr


def test_run_writes_contract_and_resumes(tmp_path, stand_ins):
    kp = tmp_path / "kp.json"
    _kp_file(kp)
    out = tmp_path / "out"
    s = pipeline.run(keypoints_json=kp, out_dir=out, render=True, progress=False, overlay="2d",  # stand-in body: no mesh
                     evidence_fit=False, stages=stand_ins)
    assert s["stages_done"] == ["keypoints", "lift", "fit"]
    assert [n for n in s["notes"] if "--no-evidence-fit" not in n] == []
    assert [(t["id"], t["first_frame"], t["last_frame"]) for t in s["tracks"]] == [(0, 0, 11), (1, 4, 11)]
    assert s["frames"] == 12 and s["camera"]["focal"] > 0 and "keypoints" in s["seconds"]
    z = np.load(out / "tracks" / "1.npz")
    for f in ("frames", "joints_cam", "joints_world", "global_orient", "body_pose", "transl", "keypoints2d",
              "occluded", "focal", "principal_point", "shape"):
        assert f in z.files, f
    assert z["joints_cam"].shape == (8, 24, 3) and z["body_pose"].shape == (8, 23, 3)
    assert z["keypoints2d"].shape == (8, 17, 3) and z["occluded"].dtype == bool
    assert json.loads((out / "summary.json").read_text())["tracks"][1]["frames"] == 8
    assert (out / "overlay.mp4").stat().st_size > 0 and (out / "keypoints.json").is_file()
    # the exports ran on the stand-in body model, with no note
    assert s["exports"]["notes"] == [], s["exports"]["notes"]
    assert sorted(s["exports"]["files"]) == ["0.bvh", "0.glb", "0.trc", "1.bvh", "1.glb", "1.trc", "scene.glb",
                                             "viewer.html"]
    assert all((out / f).stat().st_size > 0 for f in s["exports"]["files"])
    # rerun: every stage comes from the cache
    s2 = pipeline.run(keypoints_json=kp, out_dir=out, render=False, progress=False, evidence_fit=False,
                      stages=stand_ins)
    assert CALLS == {"lift": 1, "fit": 1} and set(s2["stages_cached"]) == {"lift", "fit"}
    # a changed input invalidates the cache
    _kp_file(kp, shift=5.0)
    pipeline.run(keypoints_json=kp, out_dir=out, render=False, progress=False, evidence_fit=False, stages=stand_ins)
    assert CALLS == {"lift": 2, "fit": 2}
    # a changed option (focal) re-runs lift and fit too
    pipeline.run(keypoints_json=kp, out_dir=out, render=False, progress=False, focal=900.0, evidence_fit=False,
                 stages=stand_ins)
    assert CALLS == {"lift": 3, "fit": 3}


def _unimportable_lift(ctx):
    from unveil.motion import no_such_lifter  # noqa: F401  (ImportError: a lifter that is not built)


def test_missing_stage_is_skipped_with_a_note(tmp_path):
    kp = tmp_path / "kp.json"
    _kp_file(kp)
    s = pipeline.run(keypoints_json=kp, out_dir=tmp_path / "o", render=False, progress=False, evidence_fit=False,
                     stages=substitute(pipeline.STAGES, lift=_unimportable_lift))
    assert s["stages_done"] == ["keypoints"] and s["status"] == "failed"
    assert any(n.startswith("lift failed (ImportError") and "no_such_lifter" in n for n in s["notes"]), s["notes"]
    assert s["problems"][0].startswith("no 3D joints: lift failed (ImportError")
    z = np.load(tmp_path / "o" / "tracks" / "0.npz")
    assert "keypoints2d" in z.files and "joints_cam" not in z.files


@pytest.mark.parametrize("args", [[], ["--keypoints", "missing.json"], ["x.mp4", "--keypoints", "k.json"],
                                  ["--keypoints", "BAD"]])
def test_cli_bad_input(tmp_path, capsys, monkeypatch, args):
    from unveil.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAD").write_text("{")
    rc = main(["run", *args, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and err.startswith("unveil: error:") and len(err.splitlines()) == 1, err


def test_bench_speed_prints_table(tmp_path, capsys):
    need_detector()
    from unveil.bench import speed

    clip = speed._synthetic(tmp_path / "s.mp4", n=6)
    assert speed.main([str(clip), "--frames", "4"]) == 0
    out = capsys.readouterr().out
    for word in ("decode", "detect", "landmarks", "tracking", "2D front end", "peak memory"):
        assert word in out


def test_missing_models_clear_error(tmp_path, monkeypatch, capsys):
    from unveil.bench import speed
    from unveil.cli import main

    clip = speed._synthetic(tmp_path / "s.mp4", n=3)
    monkeypatch.setenv("UNVEIL_MODELS", str(tmp_path / "no-models"))
    rc = main(["run", str(clip), "-o", str(tmp_path / "out"), "--no-render"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "unveil models fetch" in err


def test_bad_input_leaves_no_output_folder(tmp_path):
    from unveil.cli import main

    (tmp_path / "notes.txt").write_text("not a video")
    bad = tmp_path / "bad.json"
    bad.write_text('{"fps": 30}')
    for argv in (["run", str(tmp_path / "missing.mp4")], ["run", str(tmp_path / "notes.txt")],
                 ["run", "--keypoints", str(bad)]):
        out = tmp_path / "out"
        assert main(argv + ["-o", str(out)]) != 0
        assert not out.exists()


def test_bench_speed_end_to_end(walker_video, capsys):
    """`unveil bench speed --end-to-end`: the whole pipeline (no render, no export) against the
    BlazePose single-person reference on the same frames; npz written, per-stage CPU listed."""
    from unveil.bench import speed

    e = speed.end_to_end(walker_video, frames=24, repeats=1, warmup_frames=4)
    assert e["files"] and all(f.endswith(".npz") for f in e["files"])
    assert e["unveil"]["frames"] == e["blazepose"]["frames"] == e["decode"]["frames"] == 24
    assert set(speed.E2E_STAGES) - {"trajectory"} <= set(e["stage_cpu_ms"])
    assert e["cpu_ratio"] > 0 and e["fps_ratio"] > 0
    assert e["cpu_ratio"] == e["blazepose"]["cpu_ms_per_frame"] / e["unveil"]["cpu_ms_per_frame"]
    assert len(e["runs"]["unveil"]) == len(e["runs"]["blazepose"]) == 1
    assert "detect_calls" in e["calls"]
    assert speed.main([str(walker_video), "--frames", "12", "--end-to-end"]) == 0
    out = capsys.readouterr().out
    for word in ("unveil end to end", "BlazePose single-person", "by process CPU time", "by elapsed",
                 "keypoints.landmarks", "evidence", "outside stages", "alternated 2x", "cold start"):
        assert word in out, word


def test_bench_speed_bad_frames(tmp_path, capsys):
    from unveil.bench import speed
    from unveil.cli import main

    clip = speed._synthetic(tmp_path / "s.mp4", n=3)
    assert main(["bench", "speed", str(clip), "--frames", "0", "--end-to-end"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--frames" in err
