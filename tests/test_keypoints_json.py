"""Keypoints JSON (the pipeline.md contract) round-trips; bad files give one-line errors; an OpenPose
per-frame folder (BODY_25, written here in OpenPose's documented layout) imports as COCO-17 tracks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unveil.errors import UnveilError
from unveil.io.keypoints_json import OPENPOSE_BODY25_TO_COCO17, dump, load, load_openpose_dir
from unveil.types import Track2D


def _tracks(layout="coco17", K=17):
    rng = np.random.default_rng(1)
    return [Track2D(id=i, frames=np.arange(3 + i, 10 + 2 * i), layout=layout,
                    keypoints=np.concatenate([rng.uniform(0, 600, (7 + i, K, 2)), rng.uniform(0, 1, (7 + i, K, 1))], -1)
                    .astype(np.float32)) for i in range(2)]


@pytest.mark.parametrize("layout,K", [("coco17", 17), ("blazepose33", 33)])
def test_round_trip(tmp_path, layout, K):
    tr = _tracks(layout, K)
    dump(tmp_path / "kp.json", tr, fps=25, width=640, height=480, focal=700.0)
    kf = load(tmp_path / "kp.json")
    assert (kf.fps, kf.width, kf.height, kf.focal, kf.layout) == (25, 640, 480, 700.0, layout)
    assert len(kf.tracks) == 2
    for a, b in zip(tr, kf.tracks):
        assert a.id == b.id and b.layout == layout
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)


def test_contract_example_and_defaults(tmp_path):
    d = {"fps": 30, "width": 1920, "height": 1080, "layout": "coco17",
         "tracks": [{"id": 0, "frames": [0, 1], "keypoints": [[[1, 2, 0.5]] * 17] * 2}]}
    (tmp_path / "a.json").write_text(json.dumps(d))
    kf = load(tmp_path / "a.json")
    assert kf.focal is None and kf.tracks[0].keypoints.shape == (2, 17, 3)


@pytest.mark.parametrize("content,msg", [
    ("not json", "not JSON"),
    ('{"width": 10, "height": 10}', "no 'tracks'"),
    ('{"people": []}', "OpenPose"),
    ('{"width": 10, "height": 10, "layout": "h36m", "tracks": []}', "layout"),
    ('{"width": 10, "height": 10, "tracks": [{"frames": [0], "keypoints": [[[1, 2, 3]]]}]}', "expected (T, 17, 3)"),
    ('{"height": 10, "tracks": []}', "'width'"),
])
def test_bad_files(tmp_path, content, msg):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(UnveilError, match=msg.replace("(", r"\(").replace(")", r"\)")) as e:
        load(p)
    assert "\n" not in str(e.value)
    with pytest.raises(UnveilError, match="not found"):
        load(tmp_path / "missing.json")


def test_openpose_folder(tmp_path):
    """Two people (BODY_25) over 6 frames, listed in swapped order on odd frames: linking by position
    must still give 2 consistent tracks; person 2 leaves after frame 3."""
    rng = np.random.default_rng(2)
    base = [rng.uniform(-40, 40, (25, 2)) + c for c in ([100, 200], [400, 220])]
    for f in range(6):
        people = []
        for k in range(2):
            if k == 1 and f > 3:
                continue
            xy = base[k] + [5 * f, 0]
            a = np.concatenate([xy, np.full((25, 1), 0.8)], 1)
            a[8] = 0  # OpenPose writes 0,0,0 for undetected points
            people.append({"person_id": [-1], "pose_keypoints_2d": a.ravel().tolist()})
        if f % 2:
            people = people[::-1]
        (tmp_path / f"clip_{f:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    kf = load(tmp_path)
    assert kf.layout == "coco17" and len(kf.tracks) == 2
    t0, t1 = kf.tracks
    assert t0.frames.tolist() == list(range(6)) and t1.frames.tolist() == [0, 1, 2, 3]
    for t, k in ((t0, 0), (t1, 1)):
        exp = base[k][list(OPENPOSE_BODY25_TO_COCO17)] + np.stack([5 * t.frames, 0 * t.frames], 1)[:, None]
        np.testing.assert_allclose(t.keypoints[..., :2], exp, atol=1e-3)
    with pytest.raises(UnveilError, match="no OpenPose"):
        load_openpose_dir(tmp_path / "nothing")


def test_dump_in_chunks_writes_the_one_json_text(tmp_path):
    """dump turns the keypoints into Python lists DUMP_CHUNK frames at a time (memory on long videos); the
    file is still exactly json.dumps of the whole contract dict (tracks longer than a chunk, and none)."""
    from unveil.io.keypoints_json import DUMP_CHUNK

    rng = np.random.default_rng(0)
    n = 2 * DUMP_CHUNK + 452
    tracks = [Track2D(id=3, frames=np.arange(n) * 2, keypoints=rng.normal(300, 100, (n, 33, 3)).astype(np.float32),
                      layout="blazepose33"),
              Track2D(id=7, frames=np.arange(5), keypoints=rng.normal(300, 100, (5, 33, 3)).astype(np.float32),
                      layout="blazepose33")]
    for tr in (tracks, []):
        p = tmp_path / "kp.json"
        dump(p, tr, 30.0, 640, 480, 500.0)
        d = {"fps": 30.0, "width": 640, "height": 480, "focal": 500.0, "layout": "blazepose33" if tr else "coco17",
             "tracks": [{"id": int(t.id), "frames": [int(f) for f in t.frames],
                         "keypoints": np.round(np.asarray(t.keypoints, np.float64), 3).tolist()} for t in tr]}
        assert p.read_text() == json.dumps(d, separators=(",", ":"))
