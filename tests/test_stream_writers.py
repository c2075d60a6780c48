"""The export writers write long files a piece at a time (issue 17, memory bounded on long videos):
the BVH / TRC rows and the viewer's joints FRAME_CHUNK / JSON_CHUNK frames per piece, the viewer's
embedded GLB a base64 block at a time from a file. Each file must be the bytes of the one-pass text."""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from unveil.atomic import write_parts
from unveil.io import viewer, world_motion
from unveil.io.bvh_export import bvh_text, write_bvh
from unveil.io.gltf import build_scene_glb, write_scene_glb_to
from unveil.io.trc import trc_text, write_trc

from test_gltf import make_track, standin_model

torch.set_num_threads(1)
ONE_PASS = 10 ** 6


def _track(T=40):
    model = standin_model()
    track, _ = make_track(model, T=T, seed=7, frames=np.arange(3, 3 + T))
    return model, track


def test_bvh_and_trc_in_chunks_equal_one_pass(tmp_path, monkeypatch):
    model, track = _track()
    monkeypatch.setattr(world_motion, "FRAME_CHUNK", ONE_PASS)
    bvh, trc = bvh_text(track, model, 25.0), trc_text(track.joints_world, track.frames, 25.0, 50.0, name="3.trc")
    monkeypatch.setattr(world_motion, "FRAME_CHUNK", 7)  # 6 pieces of rows, the last one short
    write_bvh(tmp_path / "3.bvh", track, model, fps=25.0)
    write_trc(tmp_path / "3.trc", track, 25.0, 50.0)
    assert (tmp_path / "3.bvh").read_text() == bvh and bvh.count("\n") > 40
    assert (tmp_path / "3.trc").read_text() == trc and len(trc.splitlines()) == 6 + 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3.bvh", "3.trc"]


def test_viewer_in_pieces_equals_one_pass(tmp_path, monkeypatch):
    model, track = _track(T=23)
    glb = build_scene_glb([track], model, fps=30.0, max_influences=4)
    rng = np.random.default_rng(3)
    j = rng.normal(0, 1, (23, 24, 3))
    j[4, 2, 1] = np.nan  # non-finite joints are written as 0
    tracks = {3: (track.frames, j, rng.uniform(size=(23, 24)) > 0.5), 1: (np.arange(2), np.zeros((2, 24, 3)))}
    kw = dict(title="t", camera=(np.eye(3), np.zeros(3)), three_js="var THREE = {};", gltf_loader="var L = 1;",
              stills={3: b"\xff\xd8jpeg", 10: b"\xff\xd8other"})
    monkeypatch.setattr(viewer, "JSON_CHUNK", ONE_PASS)
    monkeypatch.setattr(viewer, "B64_BLOCK", 3 * ONE_PASS)
    one = viewer.viewer_html(tracks, glb=glb, **kw)
    two_d = viewer.viewer_html(tracks, **{**kw, "three_js": None})
    monkeypatch.setattr(viewer, "JSON_CHUNK", 5)
    monkeypatch.setattr(viewer, "B64_BLOCK", 3 * 100)  # the GLB is a few KB: many blocks
    assert len(glb) > 10 * 300
    with tempfile.TemporaryFile(dir=tmp_path) as f:
        write_scene_glb_to(f, [track], model, fps=30.0, max_influences=4, tmp_dir=tmp_path)
        f.seek(0)
        assert f.read() == glb
        assert viewer.write_viewer(tmp_path / "v.html", tracks, glb=f, **kw) is True
    assert (tmp_path / "v.html").read_text() == one and '<script id="glb"' in one
    assert viewer.viewer_html(tracks, glb=glb, **kw) == one
    viewer.write_viewer(tmp_path / "v2.html", tracks, **{**kw, "three_js": None})
    assert (tmp_path / "v2.html").read_text() == two_d
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.html", "v2.html"]


def test_write_parts_is_atomic(tmp_path):
    def parts():
        yield "first"
        raise RuntimeError("broken")

    (tmp_path / "a.txt").write_text("old")
    try:
        write_parts(tmp_path / "a.txt", parts())
    except RuntimeError:
        pass
    assert (tmp_path / "a.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    write_parts(tmp_path / "a.txt", iter(["x", "é", "y\n"]))
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "xéy\n"


def test_keypoints_json_in_pieces_equals_json_dumps(tmp_path, monkeypatch):
    import json

    from unveil.io import keypoints_json
    from unveil.types import Track2D

    rng = np.random.default_rng(5)
    tracks = []
    for i, T in ((0, 11), (2, 4)):
        kp = rng.uniform(0, 500, (T, 17, 3)).astype(np.float32)
        kp[..., 2] = rng.uniform(0, 1, (T, 17))
        tracks.append(Track2D(id=i, frames=np.arange(10 * i, 10 * i + T), keypoints=kp, layout="coco17"))
    want = json.dumps({"fps": 25.0, "width": 640, "height": 480, "focal": 500.0, "layout": "coco17",
                       "tracks": [{"id": t.id, "frames": t.frames.tolist(),
                                   "keypoints": np.round(t.keypoints.astype(np.float64), 3).tolist()} for t in tracks]},
                      separators=(",", ":"))
    monkeypatch.setattr(keypoints_json, "DUMP_CHUNK", 3)
    keypoints_json.dump(tmp_path / "k.json", tracks, 25, 640, 480, 500.0)
    assert (tmp_path / "k.json").read_text() == want
    assert keypoints_json.load(tmp_path / "k.json").tracks[1].frames.tolist() == [20, 21, 22, 23]
