"""viewer.html: self-contained (no external resources), data inlined and exact to 1 mm, valid JS."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from unveil.io.viewer import viewer_html, write_viewer
from unveil.skeleton import SMPL24_PARENTS


def _tracks():
    rng = np.random.default_rng(0)
    return {1: (np.arange(5, 9), rng.normal(0, 1, (4, 24, 3))), 0: (np.array([0, 1, 2]), rng.normal(0, 1, (3, 24, 3)))}


def _data(text: str) -> dict:
    m = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_viewer_inlines_tracks(tmp_path):
    tr = _tracks()
    p = tmp_path / "viewer.html"
    write_viewer(p, tr, fps=25.0, links=["0.glb", "0.bvh"])
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


def test_viewer_escapes_script_end():
    text = viewer_html(_tracks(), title="</script><b>x")
    assert text.count("</script>") == 2  # the data block and the code block, nothing injected
    assert "<b>x" not in text


def test_viewer_javascript_parses(tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    text = viewer_html(_tracks())
    code = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(code) == 1
    f = tmp_path / "v.js"
    f.write_text(code[0])
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
    """Executes the page's code in node against a stub DOM/canvas: it plays through the frames."""
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    text = viewer_html({0: (np.arange(3), np.random.default_rng(1).normal(0, 1, (3, 24, 3)))})
    data = _data(text)
    code = re.findall(r"<script>(.*?)</script>", text, re.S)[0].replace('"use strict";', "")
    f = tmp_path / "run.js"
    f.write_text("const DATA = " + json.dumps(json.dumps(data)) + ";" + _DOM_STUB + code
                 + '\nconsole.log(JSON.stringify({calls, label: els["lbl"].textContent}));')
    r = subprocess.run(["node", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["calls"] > 100 and out["label"].startswith("frame ")


def test_viewer_marks_observed_and_inferred_joints():
    import json
    import re

    import numpy as np

    from unveil.io.viewer import viewer_html

    obs = np.ones((2, 24), bool)
    obs[1, 20] = False
    page = viewer_html({0: (np.arange(2), np.zeros((2, 24, 3)), obs), 1: (np.arange(2), np.zeros((2, 24, 3)))})
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert data["tracks"][0]["observed"][24 + 20] == 0 and sum(data["tracks"][0]["observed"]) == 47
    assert "observed" not in data["tracks"][1]
