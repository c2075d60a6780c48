"""viewer.html: self-contained (no external resources), data inlined and exact to 1 mm, valid JS;
the 3D page (three.js inlined as a classic script) and the 2D-canvas fallback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from assets import absent

from unveil.io.viewer import (FALLBACK_NOTE, THREE_VERSION, load_three_js, three_classic_script, viewer_html,
                              write_viewer)
from unveil.skeleton import SMPL24_PARENTS

# a stand-in for three.js (the data checks do not need the real library)
FAKE_THREE = three_classic_script("/** @license MIT */\nconst a=1;export{a as REVISION};")
MODES = {"2d": None, "3d": FAKE_THREE}


def _tracks():
    rng = np.random.default_rng(0)
    return {1: (np.arange(5, 9), rng.normal(0, 1, (4, 24, 3))), 0: (np.array([0, 1, 2]), rng.normal(0, 1, (3, 24, 3)))}


def _data(text: str) -> dict:
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1))


def _scripts(text: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", text, re.S)


def need_three() -> str:
    """The cached three.js; absent: a failure on CI where setup could fetch it (npm found), else a skip."""
    three = load_three_js()
    if three is None:
        reason = "three.js not cached (run scripts/fetch_viewer_assets.sh)"
        if shutil.which("npm"):
            absent(reason)
        pytest.skip(reason + "; no npm")
    return three


def test_long_track_joints_are_inlined_exactly():
    """The joints' JSON is written JSON_CHUNK frames at a time (memory on long videos): a track longer
    than two chunks, and 11 tracks (markers __JOINTS_1__ / __JOINTS_10__), still read back exactly."""
    from unveil.io.viewer import JSON_CHUNK

    rng = np.random.default_rng(3)
    n = 2 * JSON_CHUNK + 37
    tr = {k: (np.arange(n if k == 1 else 4), rng.normal(0, 1, (n if k == 1 else 4, 24, 3))) for k in range(11)}
    d = _data(viewer_html(tr, three_js=None))
    assert [t["id"] for t in d["tracks"]] == list(range(11))
    for t in d["tracks"]:
        assert t["joints"] == np.round(tr[t["id"]][1], 3).reshape(-1).tolist()


@pytest.mark.parametrize("mode", MODES)
def test_viewer_inlines_tracks(tmp_path, mode):
    tr = _tracks()
    p = tmp_path / "viewer.html"
    assert write_viewer(p, tr, fps=25.0, links=["0.glb", "0.bvh"], three_js=MODES[mode]) is (mode == "3d")
    text = p.read_text()
    d = _data(text)
    assert d["fps"] == 25.0 and d["parents"] == list(SMPL24_PARENTS)
    assert [t["id"] for t in d["tracks"]] == [0, 1]
    for t in d["tracks"]:
        frames, joints = tr[t["id"]]
        assert t["frames"] == frames.tolist()
        assert np.abs(np.array(t["joints"]).reshape(-1, 24, 3) - joints).max() <= 0.0005 + 1e-9
    assert 'href="0.glb"' in text
    # self-contained: nothing fetched from anywhere
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text)
    assert "import " not in text and "fetch(" not in text
    assert (FALLBACK_NOTE in text) is (mode == "2d")


def test_viewer_withneed_three_is_self_contained():
    three = need_three()
    text = viewer_html(_tracks(), camera=(np.eye(3), np.zeros(3)), three_js=three)
    assert "@license" in text and "SPDX-License-Identifier: MIT" in text
    assert not re.search(r"<(script|img|link|iframe)[^>]*\s(src|href)\s*=", text)
    assert "import(" not in text and "import " not in text
    # three.js's FileLoader mentions fetch(; the page's own code does not
    assert text.count("fetch(") == three.count("fetch(") and "fetch(" not in _scripts(text)[-1]
    assert _data(text)["camera"]["R"] == np.eye(3).reshape(-1).tolist()


@pytest.mark.parametrize("mode", MODES)
def test_viewer_escapes_script_end(mode):
    text = viewer_html(_tracks(), title="</script><b>x", three_js=MODES[mode])
    # the error hook, the data block, [three.js,] the code block: nothing injected
    assert text.count("</script>") == (4 if mode == "3d" else 3)
    assert "<b>x" not in text


def test_three_classic_script(tmp_path):
    lib = "/**\n * @license\n * SPDX-License-Identifier: MIT\n */\nconst t=\"170\",e=(a)=>a+1;export{t as REVISION,e};"
    out = three_classic_script(lib)
    assert out.startswith("/**\n * @license") and "export" not in out
    with pytest.raises(ValueError):
        three_classic_script("const a='</script>';export{a};")
    with pytest.raises(ValueError):
        three_classic_script("import{x}from'./three.core.js';export{x};")
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    f = tmp_path / "t.js"
    f.write_text(out + "\nconsole.log(JSON.stringify([THREE.REVISION, THREE.e(1)]));")
    r = subprocess.run(["node", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout) == ["170", 2], r.stderr


def testneed_three_defines_the_api(tmp_path):
    three = need_three()
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    f = tmp_path / "t.js"
    f.write_text(three + "\nconsole.log(JSON.stringify([THREE.REVISION, typeof THREE.WebGLRenderer, "
                         "typeof THREE.LineSegments]));")
    r = subprocess.run(["node", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [THREE_VERSION.split(".")[1], "function", "function"]


def test_viewer_falls_back_without_cached_three(tmp_path, monkeypatch):
    monkeypatch.setenv("UNVEIL_CACHE", str(tmp_path / "empty"))
    assert load_three_js() is None
    assert write_viewer(tmp_path / "v.html", _tracks()) is False
    assert FALLBACK_NOTE in (tmp_path / "v.html").read_text()


@pytest.mark.parametrize("mode", MODES)
def test_viewer_javascript_parses(tmp_path, mode):
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    three = need_three() if mode == "3d" else None
    code = _scripts(viewer_html(_tracks(), camera=(np.eye(3), np.zeros(3)), three_js=three))
    assert len(code) == (3 if mode == "3d" else 2)
    for i, c in enumerate(code):
        f = tmp_path / f"v{i}.js"
        f.write_text(c)
        r = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr


_DOM_STUB = """
let calls = 0;
const CTX = new Proxy({}, {get: (o, k) => k in o ? o[k] : (...a) => { calls++; }, set: (o, k, v) => { o[k] = v; return true; }});
const els = {};
const mk = id => ({id, textContent: id === "data" ? DATA : "", getContext: () => CTX, value: 0});
globalThis.document = {getElementById: id => els[id] || (els[id] = mk(id))};
globalThis.innerWidth = 800; globalThis.innerHeight = 600;
let ticks = 0; globalThis.performance = {now: () => ticks * 40};
globalThis.requestAnimationFrame = f => { if (ticks++ < 10) f(ticks * 40); };
"""


def test_viewer_runs_with_stub_dom(tmp_path):
    """Executes the 2D page's code in node against a stub DOM/canvas: it plays through the frames
    (the 3D page runs in a real browser: tests/test_viewer_browser.py)."""
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    text = viewer_html({0: (np.arange(3), np.random.default_rng(1).normal(0, 1, (3, 24, 3)))}, three_js=None)
    data = _data(text)
    code = _scripts(text)[-1].replace('"use strict";', "")
    f = tmp_path / "run.js"
    f.write_text("const DATA = " + json.dumps(json.dumps(data)) + ";" + _DOM_STUB + code
                 + '\nconsole.log(JSON.stringify({calls, label: els["lbl"].textContent}));')
    r = subprocess.run(["node", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["calls"] > 100 and out["label"].startswith("frame ")


@pytest.mark.parametrize("mode", MODES)
def test_viewer_marks_observed_and_inferred_joints(mode):
    obs = np.ones((2, 24), bool)
    obs[1, 20] = False
    page = viewer_html({0: (np.arange(2), np.zeros((2, 24, 3)), obs), 1: (np.arange(2), np.zeros((2, 24, 3)))},
                       three_js=MODES[mode])
    data = _data(page)
    assert data["tracks"][0]["observed"][24 + 20] == 0 and sum(data["tracks"][0]["observed"]) == 47
    assert "observed" not in data["tracks"][1]


def test_exports_pass_the_camera_to_the_viewer(tmp_path):
    """write_exports draws the frustum from the track's camera->world map (Kabsch of joints_cam onto
    joints_world, the same map the npz's cam_to_world_R/t hold)."""
    from scipy.spatial.transform import Rotation

    from unveil.io.exports import write_exports
    from unveil.types import BodyTrack

    rng = np.random.default_rng(3)
    R, t = Rotation.from_rotvec([0.3, -1.2, 0.2]).as_matrix(), np.array([0.5, 1.4, -3.0])
    jc = rng.normal(0, 0.5, (6, 24, 3)) + [0, 0, 4]
    b = BodyTrack(id=4, frames=np.arange(6), global_orient=np.zeros((6, 3)), body_pose=np.zeros((6, 23, 3)),
                  transl=jc[:, 0], shape=np.zeros(10), joints_cam=jc, joints_world=jc @ R.T + t)
    res = write_exports(tmp_path, [b], None, fps=30.0, glb=False, bvh=False, trc=False, scene=False)
    assert res == {"files": ["viewer.html"], "notes": []}
    d = _data((tmp_path / "viewer.html").read_text())
    assert np.abs(np.array(d["camera"]["R"]).reshape(3, 3) - R).max() < 1e-6
    assert np.abs(np.array(d["camera"]["t"]) - t).max() < 1e-4
    assert np.abs(np.array(d["tracks"][0]["joints"]).reshape(6, 24, 3) - b.joints_world).max() <= 0.0005 + 1e-9


@pytest.mark.parametrize("mode", MODES)
def test_frames_and_observed_are_the_json_of_the_lists(mode, monkeypatch):
    """Issue 17: each track's frame indices and observed flags are written as JSON text JSON_CHUNK frames
    at a time (no Python int per value on a long video): the page holds exactly the text that
    ``json.dumps`` of the track's lists gave before (the track dict with every list in it), with chunks
    of 2 frames (several pieces, the last one short) and in one piece; 11 tracks (markers _1_ / _10_),
    one without flags, one empty."""
    import unveil.io.viewer as V

    rng = np.random.default_rng(5)
    tr = {}
    for k in range(11):
        n = 0 if k == 4 else 5 + k
        obs = None if k == 2 else rng.uniform(size=(n, 24)) < 0.5
        tr[k] = (np.arange(n) * 2 + k, rng.normal(0, 1, (n, 24, 3)), obs)
    pages = []
    for chunk in (2, 10 ** 6):
        monkeypatch.setattr(V, "JSON_CHUNK", chunk)
        pages.append(viewer_html(tr, three_js=MODES[mode]))
    assert pages[0] == pages[1]
    for k, (frames, joints, obs) in tr.items():
        t = {"id": k, "frames": [int(f) for f in frames], "joints": "J"}
        if obs is not None:
            t["observed"] = np.asarray(obs, bool).reshape(len(frames) * 24).astype(int).tolist()
        joints_text = json.dumps(np.round(joints, 3).reshape(-1).tolist(), separators=(",", ":"))
        assert json.dumps(t, separators=(",", ":")).replace('"J"', joints_text) in pages[0]
    d = _data(pages[0])
    assert d["tracks"][4]["frames"] == [] and "observed" not in d["tracks"][2]
